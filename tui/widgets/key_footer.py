"""The footer of key bindings, rebuilt only when the keys it shows change.

Textual's Footer recomposes (a few dozen widgets, each styled afresh) whenever the screen's
bindings are refreshed, which happens on every focus change: switching dashboard tabs moves
the focus from one table to another with the very same keys, and the rebuild cost more than
the switch itself.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """A Footer that skips the rebuild when the shown keys are what it already shows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[tuple[Any, ...], ...] | None = None

    @staticmethod
    def _shown_keys(screen: Screen[Any]) -> tuple[tuple[Any, ...], ...]:
        """Everything compose reads from the bindings: each active one with its state."""
        return tuple(
            (key, active.binding, active.enabled, active.tooltip)
            for key, active in screen.active_bindings.items()
        )

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = self._shown_keys(screen)
            if shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)
