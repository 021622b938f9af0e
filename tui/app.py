"""The iris-tui application: connects, watches the namespace, and hosts the screens.

Modes: ``watch`` (the dashboard, where logs and describe screens stack on top), ``deploy``
(kustomize overlays) and ``predict``. The app owns what all screens share: the cluster
session, the header status, and the log of kubectl-equivalent commands.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from tui.bridge import BatchQueue
from tui.cluster.connection import ClusterError
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


class WatchBatch(Message):
    """Watch events are waiting in the app's queue."""


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
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("w", "switch_mode('watch')", "Watch"),
        Binding("a", "switch_mode('deploy')", "Deploy"),
        Binding("p", "switch_mode('predict')", "Predict"),
        Binding("c", "copy_last_command", "Copy cmd"),
        Binding("R", "reconnect", "Reconnect"),
        Binding("q", "quit", "Quit"),
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
        self.status = ClusterStatus(
            context=self.session.context,
            namespace=self.session.namespace,
            overlay=self.session.options.overlay,
        )

    def on_mount(self) -> None:
        self.add_mode("watch", lambda: self.dashboard)
        self.add_mode("deploy", DeployScreen)
        self.add_mode("predict", PredictScreen)
        self.switch_mode("watch")
        self.action_reconnect()

    def on_unmount(self) -> None:
        # Leaving: stop the watch threads now (interrupting their reads is quick) rather than
        # in a worker that would be cancelled with the app.
        if self._watch is not None:
            self._watch.stop()
            self._watch = None

    # -- connection ---------------------------------------------------------------------------

    def action_reconnect(self) -> None:
        self._stop_watch()
        self.status = self.status.with_(state=LinkState.CONNECTING, detail="")
        self._connect()

    @work(thread=True, exclusive=True, group="connect")
    def _connect(self) -> None:
        try:
            version = self.session.connect()
        except ClusterError as exc:
            self.call_from_thread(self._connect_failed, str(exc))
            return
        except Exception as exc:  # a kubeconfig can break the client in surprising ways
            self.call_from_thread(self._connect_failed, f"{type(exc).__name__}: {exc}")
            return
        self.call_from_thread(self._connected, version)

    def _connect_failed(self, message: str) -> None:
        self.status = self.status.with_(state=LinkState.FAILED, detail="press R to retry")
        self.dashboard.show_problem(message)

    def _connected(self, version: str) -> None:
        self.status = self.status.with_(
            context=self.session.context, state=LinkState.CONNECTING, server_version=version
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

    @work(thread=True, group="stop")
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
            if kind in ("jobs", "deployments") and self._finished_or_rolled(events):
                self.refresh_model_version()

    @staticmethod
    def _finished_or_rolled(events: Iterable[WatchEvent]) -> bool:
        """A training Job completed or a Deployment changed: the served model may be new."""
        for event in events:
            obj = event.obj or {}
            if event.type != "MODIFIED":
                continue
            if obj.get("kind") == "Deployment" or (obj.get("status") or {}).get("succeeded"):
                return True
        return False

    # -- model version ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="model-version")
    def refresh_model_version(self) -> None:
        version = self.session.model_version()
        if version:
            self.call_from_thread(self.set_model_version, version)

    def set_model_version(self, version: str) -> None:
        if version != self.status.model_version:
            self.status = self.status.with_(model_version=version)

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
        kind = self.dashboard.current_kind() if self.current_mode == "watch" else None
        self.push_screen(HelpScreen(self.screen, kind))

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
                binding.tooltip or f"the {binding.action} action",
                self._binding_runner(active.node, binding.action),
            )

    def _binding_runner(self, node: Any, action: str) -> Callable[[], Any]:
        async def run() -> None:
            await self.run_action(action, node)

        return run
