"""The command log: every action's kubectl equivalent, newest last, selectable and copyable."""

from __future__ import annotations

from textual.widgets import Log


class CommandLog(Log):
    """Shows the app's ``commands`` list; follows the ``command_count`` reactive.

    Each screen has its own CommandLog but they all show the one history the app keeps, so a
    command run from the deploy screen is still there on the dashboard.
    """

    DEFAULT_CSS = """
    CommandLog { height: 5; border-top: solid $primary-darken-2; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=500, auto_scroll=True, **kwargs)  # type: ignore[arg-type]
        self._shown = 0
        self.border_title = "kubectl equivalents (c copies the last one)"

    def on_mount(self) -> None:
        self.watch(self.app, "command_count", self._catch_up, init=True)

    def _catch_up(self, count: int) -> None:
        commands: list[str] = getattr(self.app, "commands", [])
        for line in commands[self._shown : count]:
            self.write_line(line)
        self._shown = count
