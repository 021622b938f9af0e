"""Follow a pod's log: pick the container, the previous crash's log, tail, wrap, search, pause.

The stream runs in a thread worker and hands lines over in batches. The screen keeps its own
bounded buffer of lines (the same bound as the RichLog), so a search or a wrap change can
redraw what is on screen, and hours of logs do not grow memory. When the stream ends or the
pod goes away a line says so; the cluster layer reattaches when the pod is back.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.validation import Integer
from textual.widgets import Input, Label, RichLog, Select, Static

from tui.bridge import BatchQueue
from tui.cluster.logs import LogEnd, LogNotice
from tui.widgets.command_log import CommandLog
from tui.widgets.key_footer import KeyFooter
from tui.widgets.status_bar import StatusBar

MAX_LINES = 5000
DEFAULT_TAIL = 200


@dataclass(frozen=True)
class Shown:
    """One buffered line; markers are the screen's own notes (stream ended, reattached)."""

    text: str
    marker: bool = False


class LogBatch(Message):
    """Log items are waiting in the screen's queue."""


class LogsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("p", "pause", "Pause"),
        Binding("w", "wrap", "Wrap"),
        Binding("v", "previous", "Previous log"),
        Binding("o", "next_container", "Container"),
        Binding("T", "edit_tail", "Tail N"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "next_match(1)", "Next match"),
        Binding("N", "next_match(-1)", "Prev match", show=False),
        Binding("G", "end", "Follow end", show=False),
        Binding("f", "follow_replacement", "Follow replacement"),
    ]

    def __init__(self, pod: str | None = None, *, job: str | None = None) -> None:
        super().__init__()
        self.pod = pod
        self.job = job
        self.containers: list[str] = []
        self.container: str | None = None
        self.previous = False
        self.paused = False
        self.wrap = False
        self.tail = DEFAULT_TAIL
        self.term = ""
        self.buffer: deque[Shown] = deque(maxlen=MAX_LINES)
        self._unseen = 0
        self._match_at = -1
        self.stream: Any = None
        self._owner_uid: str | None = None
        self._queue: BatchQueue[Any] = BatchQueue(lambda: self.post_message(LogBatch()))

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="log-bar"):
            yield Label("container", classes="bar-label")
            yield Select[str]([], prompt="container", allow_blank=True, id="log-container")
            yield Label("tail", classes="bar-label")
            yield Input(
                str(DEFAULT_TAIL),
                id="log-tail",
                type="integer",
                validators=[Integer(minimum=0, maximum=MAX_LINES)],
            )
            yield Input(placeholder="search (Enter: next match)", id="log-search")
        yield Static("", id="log-state", markup=False)
        yield RichLog(max_lines=MAX_LINES, wrap=False, id="log-view")
        yield CommandLog()
        yield KeyFooter()

    @property
    def view(self) -> RichLog:
        return self.query_one("#log-view", RichLog)

    def on_mount(self) -> None:
        self._owner_uid = self._controller_uid()
        self.view.focus()
        self._show_state()
        self._resolve()

    def on_unmount(self) -> None:
        self._stop_stream()

    # -- which pod and container --------------------------------------------------------------

    @work(thread=True, exclusive=True, group="resolve")
    def _resolve(self) -> None:
        app: Any = self.app
        try:
            if self.pod is None and self.job is not None:
                pods = app.session.pods_of_job(self.job)
                if not pods:
                    app.call_from_thread(self._note, f"job/{self.job} has no pods yet")
                    return
                self.pod = pods[0]
            assert self.pod is not None
            containers = app.session.pod_containers(self.pod)
        except Exception as exc:
            app.call_from_thread(self._note, str(exc))
            return
        app.call_from_thread(self._resolved, containers)

    def _resolved(self, containers: list[str]) -> None:
        self._owner_uid = self._owner_uid or self._controller_uid()
        self.containers = containers
        self.container = containers[0] if containers else None
        select = self.query_one("#log-container", Select)
        with self.prevent(Select.Changed):
            select.set_options((c, c) for c in containers)
            if self.container is not None:
                select.value = self.container
        self._restart()

    # -- the stream ---------------------------------------------------------------------------

    def _restart(self) -> None:
        """Stop the current stream (if any) and start one with the current choices."""
        if self.pod is None:
            return
        self._stop_stream()
        self._queue.drain()
        self.buffer.clear()
        self.view.clear()
        self._unseen = 0
        session: Any = self.app.session  # type: ignore[attr-defined]
        try:
            stream = session.stream_logs(
                self.pod,
                container=self.container,
                tail_lines=None if self.previous else self.tail,
                previous=self.previous,
                follow=not self.previous,
            )
        except Exception as exc:
            self._note(str(exc))
            return
        self.stream = stream
        self.app.log_command(stream.kubectl)  # type: ignore[attr-defined]
        self._show_state()
        self._follow(stream)

    def _stop_stream(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            stream.stop()

    @work(thread=True, group="stream")
    def _follow(self, stream: Any) -> None:
        queue = self._queue
        try:
            for item in stream:
                if stream.stopped:
                    return
                queue.put(item)
        except Exception as exc:
            if not stream.stopped:
                queue.put(Shown(f"── log stream failed: {exc} ──", marker=True))
            return
        if not stream.stopped:
            queue.put(Shown("── end of log ──", marker=True))

    def on_log_batch(self, _: LogBatch) -> None:
        for item in self._queue.drain():
            if isinstance(item, Shown):
                self._append(item)
            elif isinstance(item, LogEnd):
                self._append(Shown(f"── {item.reason} ──", marker=True))
                if not self.previous:
                    hint = " (or f: follow the pod that replaces it)" if self._owner_uid else ""
                    self._append(Shown(f"── waiting for the container to run again{hint} ──", True))
            elif isinstance(item, LogNotice):
                self._append(Shown(f"── {item.reason} ──", marker=True))
            else:
                self._append(Shown(item.text))
        self._show_state()

    def _append(self, line: Shown) -> None:
        self.buffer.append(line)
        if self.paused:
            self._unseen += 1
        else:
            self.view.write(self._styled(line))

    def _note(self, message: str) -> None:
        self._append(Shown(f"── {message} ──", marker=True))

    # -- drawing ------------------------------------------------------------------------------

    def _pattern(self) -> re.Pattern[str] | None:
        return re.compile(re.escape(self.term), re.IGNORECASE) if self.term else None

    def _styled(self, line: Shown, pattern: re.Pattern[str] | None = None) -> Text:
        if line.marker:
            return Text(line.text, style="bold magenta")
        text = Text(line.text)
        pattern = pattern or self._pattern()
        if pattern is not None:
            text.highlight_regex(pattern, style="bold black on yellow")
        return text

    def _redraw(self) -> None:
        view = self.view
        view.clear()
        view.wrap = self.wrap
        pattern = self._pattern()
        for line in self.buffer:
            view.write(self._styled(line, pattern))
        self._unseen = 0

    def _matches(self) -> list[int]:
        pattern = self._pattern()
        if pattern is None:
            return []
        return [i for i, line in enumerate(self.buffer) if pattern.search(line.text)]

    def _show_state(self) -> None:
        parts = [f"pod {self.pod or '?'}"]
        if self.job:
            parts.insert(0, f"job {self.job}")
        if self.container:
            parts.append(f"container {self.container}")
        parts.append("previous (crashed) container" if self.previous else f"tail {self.tail}")
        if self.paused:
            parts.append(f"PAUSED ({self._unseen} new lines, p resumes)")
        else:
            parts.append("following" if not self.previous else "not following")
        parts.append(f"wrap {'on' if self.wrap else 'off'}")
        if self.term:
            parts.append(f"{len(self._matches())} lines match {self.term!r}")
        parts.append(f"{len(self.buffer)}/{MAX_LINES} lines kept")
        self.query_one("#log-state", Static).update(" · ".join(parts))

    # -- keys ---------------------------------------------------------------------------------

    def action_back(self) -> None:
        if self.focused is not None and self.focused.id in ("log-search", "log-tail"):
            self.view.focus()
            return
        self._stop_stream()
        self.app.pop_screen()

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self._redraw()
            self.view.scroll_end(animate=False)
        self._show_state()

    def action_wrap(self) -> None:
        self.wrap = not self.wrap
        self._redraw()
        self._show_state()

    def action_previous(self) -> None:
        self.previous = not self.previous
        self._restart()

    def action_next_container(self) -> None:
        if len(self.containers) < 2:
            self.notify("this pod has one container")
            return
        index = self.containers.index(self.container) if self.container in self.containers else 0
        self.query_one("#log-container", Select).value = self.containers[
            (index + 1) % len(self.containers)
        ]

    def action_edit_tail(self) -> None:
        self.query_one("#log-tail", Input).focus()

    def action_search(self) -> None:
        self.query_one("#log-search", Input).focus()

    def action_end(self) -> None:
        self.view.auto_scroll = True
        self.view.scroll_end(animate=False)

    def action_next_match(self, step: int) -> None:
        matches = self._matches()
        if not matches:
            self.notify("no line matches" if self.term else "press / to search", timeout=2)
            return
        later = [i for i in matches if (i - self._match_at) * step > 0]
        self._match_at = (
            (min(later) if step > 0 else max(later)) if later else matches[0 if step > 0 else -1]
        )
        # One buffered line is one screen line unless wrapping; then the jump is approximate.
        self.view.auto_scroll = False
        self.view.scroll_to(y=self._match_at, animate=False)
        self.notify(f"match {matches.index(self._match_at) + 1} of {len(matches)}", timeout=2)

    # -- a replaced pod -------------------------------------------------------------------------

    def _pods(self) -> list[dict[str, Any]]:
        dashboard = getattr(self.app, "dashboard", None)
        return dashboard.objects("pods") if dashboard is not None else []

    def _controller_uid(self) -> str | None:
        """The uid of the ReplicaSet or Job that owns the pod, if any."""
        for pod in self._pods():
            if pod.get("metadata", {}).get("name") == self.pod:
                for ref in pod["metadata"].get("ownerReferences") or []:
                    return str(ref.get("uid"))
        return None

    def replacement(self) -> str | None:
        """The newest other pod with the same owner (a Deployment's new pod, a Job's retry)."""
        siblings = [
            pod["metadata"]
            for pod in self._pods()
            if pod["metadata"].get("name") != self.pod
            and not pod["metadata"].get("deletionTimestamp")
            and any(
                ref.get("uid") == self._owner_uid
                for ref in pod["metadata"].get("ownerReferences") or []
            )
        ]
        siblings.sort(key=lambda meta: str(meta.get("creationTimestamp", "")), reverse=True)
        return str(siblings[0]["name"]) if siblings else None

    def action_follow_replacement(self) -> None:
        other = self.replacement() if self._owner_uid else None
        if other is None:
            self.notify("no other pod of the same owner to follow", severity="warning")
            return
        self._stop_stream()
        self.pod = other
        self.notify(f"now following {other}")
        self._resolve()

    @on(Select.Changed, "#log-container")
    def _container_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.container:
            self.container = event.value
            self._restart()

    @on(Input.Submitted, "#log-tail")
    def _tail_chosen(self, event: Input.Submitted) -> None:
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.notify(f"tail must be a whole number from 0 to {MAX_LINES}", severity="error")
            return
        self.tail = int(event.value or DEFAULT_TAIL)
        self.view.focus()
        self._restart()

    @on(Input.Changed, "#log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.term = event.value
        self._match_at = -1
        self._redraw()
        self._show_state()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, _: Input.Submitted) -> None:
        self.action_next_match(1)
