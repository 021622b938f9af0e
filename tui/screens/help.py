"""Help: every key of the screen behind it, and what the selected kind is, with its commands."""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.help_text import KIND_HELP, commands_for
from tui.screens.base import IrisScreen
from tui.widgets.resource_table import ResourceTable


def key_table(screen: Screen[Any]) -> Table:
    """The keys of ``screen``, its tables and the app, in two columns of key and meaning.

    Cursor and scrolling keys of the widgets themselves are left out: they do what they do
    everywhere.
    """
    extra = list(screen.HELP_KEYS) if isinstance(screen, IrisScreen) else []
    # By description: one action bound twice (Textual's ctrl+q and the app's q) is listed
    # under the key the footer shows.
    chosen: dict[str, tuple[str, bool]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        generic = not isinstance(active.node, Screen | App | ResourceTable)
        if generic or binding.system or not binding.description:
            continue
        shown = binding.key_display or screen.app.get_key_display(binding) or key
        earlier = chosen.get(binding.description)
        if earlier is None or (binding.show and not earlier[1]):
            chosen[binding.description] = (shown, binding.show)
    entries = extra + [(shown, description) for description, (shown, _) in chosen.items()]
    table = Table.grid(padding=(0, 2))
    for _ in range(2):
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
    half = (len(entries) + 1) // 2
    for left, right in zip_longest(entries[:half], entries[half:], fillvalue=("", "")):
        table.add_row(*left, *right)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, behind: Screen[Any], kind: str | None, namespace: str) -> None:
        super().__init__()
        self.behind = behind
        self.kind = kind
        self.namespace = namespace

    def compose(self) -> ComposeResult:
        ns = self.namespace
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Help (Esc closes)"
            entry = KIND_HELP.get(self.kind or "")
            if entry is not None:
                yield Static(Text(f"What is a {entry.title}?", style="bold underline"))
                yield Static(entry.what, id="help-what")
                yield Static(Text("\nSee it with kubectl", style="bold underline"))
                commands = "\n".join(f"$ {c}" for c in commands_for(self.kind or "", ns))
                yield Static(commands, id="help-commands", markup=False)
            yield Static(Text("\nKeys", style="bold underline"))
            yield Static(key_table(self.behind), id="help-keys")
            yield Static(
                "\nEvery action also writes its kubectl equivalent in the command log at the "
                "bottom: select it with the mouse, or press c to copy the last one.",
                classes="help-hint",
            )
