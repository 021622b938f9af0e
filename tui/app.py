"""The iris-tui application: connects, watches the namespace, and hosts the screens.

Modes: ``watch`` (the dashboard, where logs and describe screens stack on top), ``deploy``
(kustomize overlays) and ``predict``. The app owns what all screens share: the cluster
session, the header status, and the log of kubectl-equivalent commands.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui.bridge import BatchQueue
from tui.cluster.connection import ClusterError
from tui.cluster.names import TRAINING_PREFIX
from tui.cluster.predict import PredictError
from tui.cluster.rows import job_status
from tui.cluster.watch import ConnectionState, WatchEvent
from tui.screens.dashboard import DashboardScreen
from tui.screens.deploy import DeployScreen
from tui.screens.help import HelpScreen
from tui.screens.predict import PredictScreen
from tui.session import ClusterSession, Options, Stoppable
from tui.status import ClusterStatus, LinkState

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def failure_message(error: BaseException | None) -> str:
    """One line for the user: the cluster layer's own message, else the error's type too (a
    kubeconfig can break the client in surprising ways; it is still no traceback)."""
    if isinstance(error, ClusterError | PredictError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class WatchBatch(Message):
    """Watch events are waiting in the app's queue."""


class Connected(Message):
    """The session reached the server (from the connect worker's thread)."""

    def __init__(self, server_version: str) -> None:
        super().__init__()
        self.server_version = server_version


class WatchState(Message):
    def __init__(self, kind: str, state: ConnectionState, detail: str) -> None:
        super().__init__()
        self.kind = kind
        self.state = state
        self.detail = detail


class IrisApp(App[None]):
    """Deploy, watch and drive the Iris kit on a Kubernetes cluster."""

    TITLE = "iris-tui"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?", tooltip="keys and kinds"),
        Binding("w", "watch", "Watch", tooltip="back to the dashboard"),
        Binding("a", "switch_mode('deploy')", "Deploy", tooltip="diff and apply an overlay"),
        Binding("p", "switch_mode('predict')", "Predict", tooltip="ask the served model"),
        Binding("c", "copy_last_command", "Copy cmd", tooltip="copy the last kubectl command"),
        Binding("R", "reconnect", "Reconnect", tooltip="connect to the cluster again"),
        Binding("q", "quit", "Quit", tooltip="leave iris-tui"),
    ]

    status: reactive[ClusterStatus] = reactive(ClusterStatus, always_update=True)
    command_count: reactive[int] = reactive(0)

    def __init__(
        self,
        session: ClusterSession | None = None,
        *,
        clock: Clock = utc_now,
        refresh_ages: bool = True,
    ) -> None:
        super().__init__()
        self.session = session or ClusterSession(Options())
        self.clock = clock
        self.refresh_ages = refresh_ages
        self.commands: list[str] = []
        self.dashboard = DashboardScreen()
        self._watch: Stoppable | None = None
        self._events: BatchQueue[WatchEvent] = BatchQueue(lambda: self.post_message(WatchBatch()))
        self._states: dict[str, ConnectionState] = {}
        self._frozen = False
        self._trained: set[str] = set()
        self._jobs_listed = False
        self.status = ClusterStatus(
            context=self.session.context,
            namespace=self.session.namespace,
            overlay=self.session.options.overlay,
        )

    async def on_mount(self) -> None:
        self.add_mode("watch", lambda: self.dashboard)
        self.add_mode("deploy", DeployScreen)
        self.add_mode("predict", PredictScreen)
        # Reading the kubeconfig and reaching the server take as long as composing the
        # dashboard: both at once. The watches start only once the dashboard's tables exist,
        # since the worker's outcome comes as a message (Connected, or the worker's
        # StateChanged), which the app handles after this handler.
        self.action_reconnect()
        await self.switch_mode("watch")
        # The modules and the screens live as long as the app: frozen, they are not walked
        # again by the collections that parsing and showing the first lists set off (adding
        # a thousand rows took four times as long with them in the heap).
        gc.freeze()

    def on_unmount(self) -> None:
        # Leaving: stop the watch threads now (interrupting their reads is quick) rather than
        # in a worker that would be cancelled with the app.
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        # What mount froze is collectable again (one process may run many apps: the tests).
        gc.unfreeze()

    def action_watch(self) -> None:
        """The dashboard, from any screen (a logs or YAML screen stacked on it, or a mode)."""
        if self.current_mode != "watch":
            self.switch_mode("watch")
        while self.screen is not self.dashboard and len(self.screen_stack) > 1:
            self.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # On the dashboard itself "Watch" would do nothing: not offered there.
        return not (action == "watch" and self._front() is self.dashboard)

    def _front(self) -> Screen[Any]:
        """The screen in front, not counting a modal (help, a question) over it."""
        return next((s for s in reversed(self.screen_stack) if not s.is_modal), self.screen)

    # -- connection ---------------------------------------------------------------------------

    def action_reconnect(self) -> None:
        self._stop_watch()
        self.status = self.status.with_(state=LinkState.CONNECTING, detail="")
        self._connect()

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def _connect(self) -> None:
        self.post_message(Connected(self.session.connect()))

    def _connect_failed(self, message: str) -> None:
        self.status = self.status.with_(state=LinkState.FAILED, detail="press R to retry")
        self.dashboard.show_problem(message)

    def on_connected(self, message: Connected) -> None:
        self.status = self.status.with_(
            context=self.session.context,
            state=LinkState.CONNECTING,
            server_version=message.server_version,
        )
        self.dashboard.show_problem(None)
        if not self.session.kubectl_available():
            self.notify(
                "kubectl is not on PATH: watching works, deploy/diff/apply need kubectl",
                severity="warning",
                timeout=10,
            )
        self._states = {}
        self._watch = self.session.watch(self._events.put, self._report_watch_state)
        self.refresh_model_version()

    def _report_watch_state(self, kind: str, state: ConnectionState, detail: str) -> None:
        self.post_message(WatchState(kind, state, detail))

    def _stop_watch(self) -> None:
        if self._watch is not None:
            watch, self._watch = self._watch, None
            self._stop_in_background(watch)

    @work(thread=True, group="stop", exit_on_error=False)
    def _stop_in_background(self, watch: Stoppable) -> None:
        watch.stop()

    def on_watch_state(self, message: WatchState) -> None:
        if self._watch is None:
            return
        self._states[message.kind] = message.state
        states = set(self._states.values())
        if ConnectionState.RECONNECTING in states:
            state, detail = LinkState.RECONNECTING, message.detail
            if message.state is not ConnectionState.RECONNECTING:
                detail = self.status.detail
        elif ConnectionState.CONNECTING in states:
            state, detail = LinkState.CONNECTING, ""
        else:
            state, detail = LinkState.CONNECTED, ""
        was = self.status.state
        self.status = self.status.with_(state=state, detail=detail)
        if state is LinkState.CONNECTED and not self._frozen:
            # What exists now (modules, widgets, the listed objects) lives as long as the app.
            # Left to the collector, each full collection walks it all again (over 100 ms
            # with a thousand pods, felt as a stalled key); frozen, it is skipped.
            self._frozen = True
            gc.freeze()
        if was is LinkState.RECONNECTING and state is LinkState.CONNECTED:
            self.notify("reconnected to the cluster")
            self.refresh_model_version()

    def on_watch_batch(self, _: WatchBatch) -> None:
        by_kind: dict[str, list[WatchEvent]] = defaultdict(list)
        for event in self._events.drain():
            by_kind[event.kind].append(event)
        for kind, events in by_kind.items():
            self.dashboard.apply(kind, events)
            if kind == "jobs" and self._training_finished(events):
                self.await_new_model(self.status.model_version)
            elif kind == "deployments" and any(e.type == "MODIFIED" for e in events):
                self.refresh_model_version()

    def _training_finished(self, events: Iterable[WatchEvent]) -> bool:
        """A training Job completed since the last look, whoever started it."""
        finished = False
        for event in events:
            for job in (event.items or []) if event.type == "RESYNC" else [event.obj]:
                meta = (job or {}).get("metadata") or {}
                name = str(meta.get("name", ""))
                if not name.startswith(TRAINING_PREFIX) or job_status(job or {}) != "Complete":
                    continue
                key = f"{name}/{meta.get('uid', '')}"
                if key not in self._trained:
                    self._trained.add(key)
                    # The first list only records what had finished before the TUI started.
                    finished |= event.type != "RESYNC" or self._jobs_listed
            if event.type == "RESYNC":
                self._jobs_listed = True
        return finished

    # -- model version ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="model-version", exit_on_error=False)
    def refresh_model_version(self) -> None:
        version = self.session.model_version()
        if version:
            self.call_from_thread(self.set_model_version, version)

    @work(thread=True, exclusive=True, group="new-model", exit_on_error=False)
    def await_new_model(self, old: str) -> None:
        """A training Job finished: the API loads its model within its reload interval."""
        version = self.session.wait_for_model_version(old)
        self.call_from_thread(self.set_model_version, version)
        self.call_from_thread(self.notify, f"now serving model {version} (was {old or 'none'})")

    def set_model_version(self, version: str) -> None:
        if version != self.status.model_version:
            self.status = self.status.with_(model_version=version)

    # -- failures -----------------------------------------------------------------------------

    def report_failure(self, error: BaseException | None) -> str:
        """Tell the user what failed (a worker's error); the message shown."""
        message = failure_message(error)
        self.notify(message, severity="error", timeout=10)
        return message

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The app's own workers: a failed connection shows on the dashboard."""
        if event.state is not WorkerState.ERROR:
            return
        if event.worker.name == "_connect":
            self._connect_failed(failure_message(event.worker.error))
        else:
            self.report_failure(event.worker.error)

    # -- commands -----------------------------------------------------------------------------

    def log_command(self, command: str, note: str = "") -> None:
        """Record a kubectl equivalent in the command log every screen shows."""
        self.commands.append(f"$ {command}" + (f"    # {note}" if note else ""))
        self.command_count = len(self.commands)

    def last_command(self) -> str | None:
        for line in reversed(self.commands):
            return line.removeprefix("$ ").split("    # ", 1)[0]
        return None

    def action_copy_last_command(self) -> None:
        command = self.last_command()
        if command is None:
            self.notify("no command yet: actions add their kubectl equivalent to the log")
            return
        self.copy_to_clipboard(command)
        self.notify(f"copied: {command}")

    # -- help and palette ---------------------------------------------------------------------

    def action_help(self) -> None:
        kind = self.dashboard.current_kind() if self.screen is self.dashboard else None
        self.push_screen(HelpScreen(self.screen, kind, self.session.namespace))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        # Every binding of the screen in front, so each action can be found by name.
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.description or binding.description in seen:
                continue
            seen.add(binding.description)
            shown = binding.key_display or key
            yield SystemCommand(
                f"{binding.description} ({shown})",
                binding.tooltip or binding.description,
                self._binding_runner(active.node, binding.action),
            )

    def _binding_runner(self, node: DOMNode, action: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self.run_action(action, node)

        return run
