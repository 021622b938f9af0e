"""The YAML of one object, as `kubectl get -o yaml` shows it (managedFields left out)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.syntax import Syntax
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from tui.widgets.command_log import CommandLog
from tui.widgets.key_footer import KeyFooter
from tui.widgets.status_bar import StatusBar


class DescribeScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("Y", "copy_yaml", "Copy YAML"),
    ]

    def __init__(self, kind: str, name: str) -> None:
        super().__init__()
        self.kind = kind
        self.name_ = name
        self.yaml = ""

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with VerticalScroll(id="describe-body") as body:
            body.border_title = f"{self.kind}/{self.name_}"
            yield Static("loading…", id="describe-yaml")
        yield CommandLog()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#describe-body").focus()
        self._load()

    @work(thread=True, exclusive=True)
    def _load(self) -> None:
        app: Any = self.app
        try:
            result = app.session.describe_yaml(self.kind, self.name_)
        except Exception as exc:
            app.call_from_thread(self._show_error, str(exc))
            return
        app.call_from_thread(self._show, result.kubectl, result.output)

    def _show(self, command: str, text: str) -> None:
        self.yaml = text
        self.app.log_command(command)  # type: ignore[attr-defined]
        self.query_one("#describe-yaml", Static).update(
            Syntax(text, "yaml", theme="monokai", word_wrap=False, background_color="default")
        )

    def _show_error(self, message: str) -> None:
        self.query_one("#describe-yaml", Static).update(f"[b red]{escape(message)}[/]")

    def action_copy_yaml(self) -> None:
        if self.yaml:
            self.app.copy_to_clipboard(self.yaml)
            self.notify(f"copied the YAML of {self.kind}/{self.name_}")
