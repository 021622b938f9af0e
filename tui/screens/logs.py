"""Follow a pod's log: pick the container, the previous crash's log, tail, wrap, search, pause.

The stream runs in a thread worker and hands items over in batches; the ``LogView`` widget
keeps the lines, the search and the pause. When the stream ends or the pod goes away a line
says so; the cluster layer reattaches when the pod is back.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.validation import Integer
from textual.widgets import Input, Label, Select, Static

from tui.bridge import BatchQueue
from tui.cluster.connection import ClusterError
from tui.cluster.logs import LogEnd, LogItem, LogNotice, LogStream
from tui.screens.base import IrisScreen
from tui.widgets.command_log import CommandLog
from tui.widgets.key_footer import KeyFooter
from tui.widgets.log_view import MAX_LINES, LogView, Shown
from tui.widgets.status_bar import StatusBar

DEFAULT_TAIL = 200
Pod = dict[str, Any]


class LogBatch(Message):
    """Log items are waiting in the screen's queue."""


class LogsScreen(IrisScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="back to the dashboard"),
        Binding("p", "pause", "Pause", tooltip="stop drawing new lines (they are kept)"),
        Binding("w", "wrap", "Wrap", tooltip="wrap long lines"),
        Binding("v", "previous", "Previous log", tooltip="the log of the crashed container"),
        Binding("o", "next_container", "Container", tooltip="the pod's next container"),
        Binding("T", "edit_tail", "Tail N", tooltip="how many lines to start with"),
        Binding("slash", "search", "Search", key_display="/", tooltip="highlight a text"),
        Binding("n", "next_match(1)", "Next match", tooltip="scroll to the next match"),
        Binding("N", "next_match(-1)", "Prev match", show=False, tooltip="the previous match"),
        Binding("G", "end", "Follow end", show=False, tooltip="scroll to the end and follow"),
        Binding(
            "f",
            "follow_replacement",
            "Follow replacement",
            tooltip="follow the pod that replaced this one",
        ),
    ]

    def __init__(self, pod: str | None = None, *, job: str | None = None) -> None:
        super().__init__()
        self.pod = pod
        self.job = job
        self.containers: list[str] = []
        self.container: str | None = None
        self.previous = False
        self.tail = DEFAULT_TAIL
        self.stream: LogStream | None = None
        self.ended = False  # the stream said the container ended (or the pod went)
        self._owner: dict[str, Any] | None = None
        self._queue: BatchQueue[LogItem | str] = BatchQueue(lambda: self.post_message(LogBatch()))

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
        yield LogView(id="log-view")
        yield CommandLog()
        yield KeyFooter()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    @property
    def buffer(self) -> deque[Shown]:
        return self.view.buffer

    @property
    def paused(self) -> bool:
        return self.view.paused

    def on_mount(self) -> None:
        self._owner = self._owner_of(self.pod)
        self.view.focus()
        self._show_state()
        self._resolve()

    def on_unmount(self) -> None:
        self._stop_stream()

    def worker_failed(self, worker: str, message: str) -> None:
        self.view.note(message)

    # -- which pod and container --------------------------------------------------------------

    @work(thread=True, exclusive=True, group="resolve", exit_on_error=False)
    def _resolve(self) -> None:
        if self.pod is None and self.job is not None:
            pods = self.session.pods_of_job(self.job)
            if not pods:
                self.app.call_from_thread(self.view.note, f"job/{self.job} has no pods yet")
                return
            self.pod = pods[0]
        assert self.pod is not None
        containers = self.session.pod_containers(self.pod)
        self.app.call_from_thread(self._resolved, containers)

    def _resolved(self, containers: list[str]) -> None:
        self._owner = self._owner or self._owner_of(self.pod)
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
        self.view.reset()
        self.ended = False
        try:
            stream = self.session.stream_logs(
                self.pod,
                container=self.container,
                tail_lines=None if self.previous else self.tail,
                previous=self.previous,
                follow=not self.previous,
            )
        except ClusterError as error:  # not connected (yet)
            self.view.note(str(error))
            return
        self.stream = stream
        self.app.log_command(stream.kubectl)
        self._show_state()
        self._follow(stream)

    def _stop_stream(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            stream.stop()

    @work(thread=True, group="stream", exit_on_error=False)
    def _follow(self, stream: LogStream) -> None:
        # The stream turns its own failures into LogEnd items; anything else is a bug that
        # the screen's one failure path reports.
        queue = self._queue
        for item in stream:
            if stream.stopped:
                return
            queue.put(item)
        if not stream.stopped:
            queue.put("end of log")

    def on_log_batch(self, _: LogBatch) -> None:
        view = self.view
        for item in self._queue.drain():
            if isinstance(item, str):
                view.note(item)
            elif isinstance(item, LogEnd):
                self.ended = True
                view.note(item.reason)
                if not self.previous:
                    view.note(self._after_end(item.reason))
            elif isinstance(item, LogNotice):
                if item.reason.startswith("attached to "):
                    self.ended = False
                view.note(item.reason)
            else:
                view.add(item.text)
        self._show_state()

    def _after_end(self, reason: str) -> str:
        """What happens next, which depends on what owns the pod."""
        kind = (self._owner or {}).get("kind")
        if kind == "Job":
            if "Completed" in reason:
                return "the Job's pod finished: it does not run again"
            return "a Job's pod does not run again; f follows the pod the Job retries with"
        hint = " (or f: follow the pod that replaces it)" if self._owner else ""
        return f"waiting for the container to run again{hint}"

    def _show_state(self) -> None:
        view = self.view
        parts = [f"pod {self.pod or '?'}"]
        if self.job:
            parts.insert(0, f"job {self.job}")
        if self.container:
            parts.append(f"container {self.container}")
        parts.append("previous (crashed) container" if self.previous else f"tail {self.tail}")
        if view.paused:
            parts.append(f"PAUSED ({view.unseen} new lines, p resumes)")
        else:
            parts.append("following" if not self.previous else "not following")
        parts.append(f"wrap {'on' if view.wrap else 'off'}")
        if view.term:
            parts.append(f"{len(view.matches())} lines match {view.term!r}")
        parts.append(f"{len(view.buffer)}/{MAX_LINES} lines kept")
        self.query_one("#log-state", Static).update(" · ".join(parts))

    # -- keys ---------------------------------------------------------------------------------

    def action_back(self) -> None:
        if self.focused is not None and self.focused.id in ("log-search", "log-tail"):
            self.view.focus()
            return
        self._stop_stream()
        self.app.pop_screen()

    def action_pause(self) -> None:
        self.view.toggle_pause()
        self._show_state()

    def action_wrap(self) -> None:
        self.view.toggle_wrap()
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
        self.view.follow_end()

    def action_next_match(self, step: int) -> None:
        found = self.view.next_match(step)
        if found is None:
            self.notify("no line matches" if self.view.term else "press / to search", timeout=2)
            return
        number, count = found
        self.notify(f"match {number} of {count}", timeout=2)

    # -- a replaced pod -------------------------------------------------------------------------

    def _pods(self) -> list[Pod]:
        return self.app.dashboard.objects("pods")

    def _find(self, name: str | None) -> Pod | None:
        return next((p for p in self._pods() if p["metadata"].get("name") == name), None)

    def _owner_of(self, name: str | None) -> dict[str, Any] | None:
        """The owner reference of the pod (its ReplicaSet or Job), if any."""
        pod = self._find(name)
        refs = (pod or {}).get("metadata", {}).get("ownerReferences") or []
        return dict(refs[0]) if refs else None

    def _healthy(self) -> bool:
        """The pod followed runs, ready, and its stream has not ended: nothing to replace."""
        pod = self._find(self.pod)
        if self.ended or pod is None or pod["metadata"].get("deletionTimestamp"):
            return False
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return bool(statuses) and all(s.get("ready") for s in statuses)

    def replacement(self) -> str | None:
        """The newest other pod with the same owner (a Deployment's new pod, a Job's retry)."""
        uid = (self._owner or {}).get("uid")
        siblings = [
            pod["metadata"]
            for pod in self._pods()
            if pod["metadata"].get("name") != self.pod
            and not pod["metadata"].get("deletionTimestamp")
            and any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences") or [])
        ]
        siblings.sort(key=lambda meta: str(meta.get("creationTimestamp", "")), reverse=True)
        return str(siblings[0]["name"]) if siblings else None

    def action_follow_replacement(self) -> None:
        if self._healthy():
            self.notify(
                f"{self.pod} is running: f follows its replacement once it ends or is deleted",
                severity="warning",
            )
            return
        other = self.replacement() if self._owner else None
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
        self.view.search(event.value)
        self._show_state()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, _: Input.Submitted) -> None:
        self.action_next_match(1)
