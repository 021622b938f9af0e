"""The YAML of one object, as `kubectl get -o yaml` shows it (managedFields left out)."""

from __future__ import annotations

from rich.markup import escape
from rich.syntax import Syntax
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.screens.base import IrisScreen
from tui.widgets.command_log import CommandLog
from tui.widgets.key_footer import KeyFooter
from tui.widgets.status_bar import StatusBar


class DescribeScreen(IrisScreen):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", tooltip="back to the dashboard"),
        Binding("Y", "copy_yaml", "Copy YAML", tooltip="copy the YAML to the clipboard"),
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

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _load(self) -> None:
        result = self.session.describe_yaml(self.kind, self.name_)
        self.app.call_from_thread(self._show, result.kubectl, result.output)

    def _show(self, command: str, text: str) -> None:
        self.yaml = text
        self.app.log_command(command)
        self.query_one("#describe-yaml", Static).update(
            Syntax(text, "yaml", theme="monokai", word_wrap=False, background_color="default")
        )

    def worker_failed(self, worker: str, message: str) -> None:
        self.query_one("#describe-yaml", Static).update(f"[b red]{escape(message)}[/]")

    def action_copy_yaml(self) -> None:
        if self.yaml:
            self.app.copy_to_clipboard(self.yaml)
            self.notify(f"copied the YAML of {self.kind}/{self.name_}")
