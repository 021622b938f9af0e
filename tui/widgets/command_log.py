"""The command log: every action's kubectl equivalent, newest last and in view, wrapped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import getters
from textual.widgets import RichLog

if TYPE_CHECKING:
    from tui.app import IrisApp


class CommandLog(RichLog):
    """Shows the app's ``commands`` list; follows the ``command_count`` reactive.

    Each screen has its own CommandLog but they all show the one history the app keeps, so a
    command run from the deploy screen is still there on the dashboard. A screen shown for
    the first time catches up with every command so far and scrolls to the newest; long
    commands wrap rather than run off the right edge.
    """

    DEFAULT_CSS = """
    CommandLog { height: 5; border-top: solid $primary-darken-2; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=500, wrap=True, auto_scroll=True, **kwargs)  # type: ignore[arg-type]
        self._shown = 0
        self.border_title = "kubectl equivalents (c copies the last one)"

    if TYPE_CHECKING:
        app = getters.app(IrisApp)  # the type checker's view of the running app

    def on_mount(self) -> None:
        self.watch(self.app, "command_count", self._catch_up, init=True)

    def on_show(self) -> None:
        self.scroll_end(animate=False, immediate=True)

    def _catch_up(self, count: int) -> None:
        for line in self.app.commands[self._shown : count]:
            self.write(Text(line), scroll_end=True)
        self._shown = count
        # The write scrolls to the end it knows; a line wrapped while the log is laid out
        # (a screen just shown) grows it after, so scroll again once that is done.
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
