"""The header line: context, namespace, overlay, connection state and the served model."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.status import ClusterStatus, LinkState

_STATE_STYLE = {
    LinkState.CONNECTING: "bold yellow",
    LinkState.CONNECTED: "bold green",
    LinkState.RECONNECTING: "bold yellow",
    LinkState.FAILED: "bold red",
}


def render_status(status: ClusterStatus) -> Text:
    """One line, most important first, since a narrow terminal cuts the end off."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" iris-tui ", style="bold reverse")
    style = _STATE_STYLE[status.state]
    text.append(" ● ", style=style)
    text.append(status.state.value, style=style)
    if status.detail:
        text.append(f" ({status.detail})", style="dim")

    def field(label: str, value: str) -> None:
        text.append(" │ ", style="dim")
        text.append(f"{label} ", style="dim")
        text.append(value or "-", style="bold")

    field("context", status.context)
    field("ns", status.namespace)
    field("overlay", status.overlay)
    field("model", status.model_version)
    if status.server_version:
        field("server", status.server_version)
    return text


class StatusBar(Static):
    """Follows the app's ``status`` reactive."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._show, init=True)

    def _show(self, status: ClusterStatus) -> None:
        self.update(render_status(status))
