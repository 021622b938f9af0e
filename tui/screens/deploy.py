"""Deploy with kustomize: pick an overlay, read what it renders, diff, apply or delete it.

kubectl's own output is streamed into the Output tab line by line, with the command first and
its exit status last, so the user sees exactly what ran.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.markup import escape
from rich.syntax import Syntax
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import (
    Input,
    Log,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.option_list import Option

from tui.bridge import BatchQueue
from tui.cluster.kustomize import known_fix
from tui.screens.base import IrisScreen
from tui.screens.confirm import ConfirmScreen
from tui.session import ClusterSession, Rendered
from tui.widgets.command_log import CommandLog
from tui.widgets.key_footer import KeyFooter
from tui.widgets.status_bar import StatusBar

ALL = "__all__"
DIFF_HINT = "Press f to diff the overlay against the cluster."


class OutputBatch(Message):
    """kubectl output lines are waiting in the screen's queue."""


class DeployScreen(IrisScreen):
    BINDINGS = [
        Binding("escape", "app.switch_mode('watch')", "Back to watch", tooltip="the dashboard"),
        Binding("f", "diff", "Diff", tooltip="what applying the overlay would change"),
        Binding("A", "apply", "Apply", tooltip="apply the overlay (asks)"),
        Binding("X", "delete", "Delete all", tooltip="delete the overlay's resources (asks)"),
        Binding(
            "left_square_bracket",
            "step(-1)",
            "Prev doc",
            key_display="[",
            tooltip="the previous rendered resource",
        ),
        Binding(
            "right_square_bracket",
            "step(1)",
            "Next doc",
            key_display="]",
            tooltip="the next rendered resource",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.overlay: Path | None = None
        self.documents: list[tuple[str, str]] = []
        self.rendered = ""
        self.diff_text = ""
        self._output: BatchQueue[str] = BatchQueue(lambda: self.post_message(OutputBatch()))
        self._busy = False

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="deploy-main"):
            with Vertical(id="overlay-pane"):
                yield OptionList(id="overlays")
                yield Input(placeholder="or a kustomization path", id="overlay-path")
            with TabbedContent(id="deploy-tabs"):
                with TabPane("Rendered YAML", id="tab-yaml"):
                    yield Select[str]([], prompt="resource", id="doc-select")
                    with VerticalScroll(id="yaml-scroll"):
                        yield Static("", id="yaml-view")
                with TabPane("Diff", id="tab-diff"), VerticalScroll():
                    yield Static(DIFF_HINT, id="diff-view")
                with TabPane("Output", id="tab-output"):
                    yield Log(max_lines=5000, id="output")
        yield CommandLog()
        yield KeyFooter()

    def on_mount(self) -> None:
        options = self.query_one("#overlays", OptionList)
        options.border_title = "overlays"
        self._list_overlays()

    @work(thread=True, exclusive=True, group="overlays", exit_on_error=False)
    def _list_overlays(self) -> None:
        overlays = self.session.overlays()
        self.app.call_from_thread(self._show_overlays, overlays)

    def _show_overlays(self, overlays: list[Path]) -> None:
        options = self.query_one("#overlays", OptionList)
        options.clear_options()
        options.add_options(Option(path.name, id=str(path)) for path in overlays)
        wanted = self.session.options.overlay
        matches = [i for i, path in enumerate(overlays) if wanted in (path.name, str(path))]
        if overlays:
            options.highlighted = matches[-1] if matches else 0
        options.focus()

    # -- choosing and rendering ---------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#overlays")
    def _overlay_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self._choose(Path(event.option.id))

    @on(Input.Submitted, "#overlay-path")
    def _path_given(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        if (
            not (path / "kustomization.yaml").is_file()
            and not (path / "kustomization.yml").is_file()
        ):
            self.notify(f"{path} has no kustomization.yaml", severity="error")
            return
        self._choose(path)

    def _choose(self, overlay: Path) -> None:
        if overlay != self.overlay:
            # A diff is of one overlay: the previous one's would now be read as this one's.
            self.diff_text = ""
            self.query_one("#diff-view", Static).update(DIFF_HINT)
        self.overlay = overlay
        self.query_one("#yaml-view", Static).update(f"rendering {escape(overlay.name)}…")
        self._render_overlay(overlay)

    @work(thread=True, exclusive=True, group="render", exit_on_error=False)
    def _render_overlay(self, overlay: Path) -> None:
        rendered = self.session.render(overlay)
        self.app.call_from_thread(self._rendered, overlay, rendered)

    def worker_failed(self, worker: str, message: str) -> None:
        if worker == "_render_overlay":
            self.documents = []
            self.query_one("#yaml-view", Static).update(f"[b red]{escape(message)}[/]")
        elif worker == "_diff":
            self._diff_done(f"[b red]{escape(message)}[/]", None)
        elif worker == "_kubectl_run":
            self._output.put(f"failed: {message}")
            self._busy = False
            self.on_output_batch(OutputBatch())

    def _rendered(self, overlay: Path, rendered: Rendered) -> None:
        if overlay != self.overlay:
            return
        self.rendered = rendered.text
        self.documents = list(rendered.documents)
        self.app.log_command(rendered.kubectl)
        select = self.query_one("#doc-select", Select)
        choices = [(f"all ({len(self.documents)} resources)", ALL)]
        choices += [(title, str(i)) for i, (title, _) in enumerate(self.documents)]
        with self.prevent(Select.Changed):
            select.set_options(choices)
            select.value = ALL
        self._show_document(ALL)

    @on(Select.Changed, "#doc-select")
    def _document_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self._show_document(event.value)

    def _show_document(self, choice: str) -> None:
        text = self.rendered if choice == ALL else self.documents[int(choice)][1]
        self.query_one("#yaml-view", Static).update(
            Syntax(text, "yaml", theme="monokai", background_color="default")
        )

    def action_step(self, step: int) -> None:
        if not self.documents:
            return
        select = self.query_one("#doc-select", Select)
        self.query_one(TabbedContent).active = "tab-yaml"
        current = -1 if select.value in (ALL, Select.BLANK) else int(str(select.value))
        select.value = str((current + step) % len(self.documents))

    # -- diff, apply, delete ------------------------------------------------------------------

    def _require_overlay(self) -> Path | None:
        if self.overlay is None:
            self.notify("choose an overlay first", severity="warning")
        elif self.session.conn is None:
            self.notify("not connected to a cluster: press R to retry", severity="error")
        elif self._busy:
            self.notify("kubectl is still running", severity="warning")
        else:
            return self.overlay
        return None

    def action_diff(self) -> None:
        overlay = self._require_overlay()
        if overlay is not None:
            self.query_one("#diff-view", Static).update(f"diffing {escape(overlay.name)}…")
            self.query_one(TabbedContent).active = "tab-diff"
            self._diff(overlay)

    @work(thread=True, exclusive=True, group="kubectl", exit_on_error=False)
    def _diff(self, overlay: Path) -> None:
        app = self.app
        run = self.session.diff(overlay)
        app.call_from_thread(app.log_command, run.command)
        text = "\n".join(line for line in run if not line.startswith("$ "))
        app.call_from_thread(self._diff_done, text, run.returncode, overlay)

    def _diff_done(self, text: str, returncode: int | None, overlay: Path | None = None) -> None:
        if overlay is not None and overlay != self.overlay:
            return  # another overlay was picked while kubectl ran
        self.diff_text = text
        view = self.query_one("#diff-view", Static)
        if returncode is None:
            view.update(text)
        elif returncode == 0:
            view.update("No differences: the cluster already matches this overlay.")
        elif returncode == 1:
            view.update(Syntax(text, "diff", theme="monokai", background_color="default"))
        else:
            fix = known_fix(text)
            hint = f"\n\n[b]What to do:[/] {escape(fix)}" if fix else ""
            view.update(
                f"[b red]kubectl diff failed (exit status {returncode})[/]\n{escape(text)}{hint}"
            )

    def action_apply(self) -> None:
        self._confirm_run(
            "apply",
            lambda overlay, session: (
                f"Apply overlay {overlay.name} to namespace {session.namespace}? "
                "This deletes and re-creates the training Job, so the model is retrained.",
                session.apply_command(overlay),
            ),
        )

    def action_delete(self) -> None:
        self._confirm_run(
            "delete",
            lambda overlay, session: (
                f"Delete every resource of overlay {overlay.name}, including the model volume?",
                session.delete_command(overlay),
            ),
        )

    def _confirm_run(
        self, what: str, question: Callable[[Path, ClusterSession], tuple[str, str]]
    ) -> None:
        """Ask with the exact command shown, then run `what` on the chosen overlay."""
        overlay = self._require_overlay()
        if overlay is None:
            return
        text, command = question(overlay, self.session)

        def answered(yes: bool | None) -> None:
            if yes and self.overlay is not None:
                self._start_run(what, self.overlay)

        self.app.push_screen(ConfirmScreen(text, command), answered)

    def _start_run(self, what: str, overlay: Path) -> None:
        self._busy = True
        self.query_one(TabbedContent).active = "tab-output"
        self._kubectl_run(what, overlay)

    @work(thread=True, exclusive=True, group="kubectl", exit_on_error=False)
    def _kubectl_run(self, what: str, overlay: Path) -> None:
        app = self.app
        session = self.session
        run = session.apply(overlay) if what == "apply" else session.delete_overlay(overlay)
        app.call_from_thread(app.log_command, run.command)
        lines: list[str] = []
        for line in run:
            lines.append(line)
            self._output.put(line)
        self._output.put(f"exit status {run.returncode}")
        fix = known_fix("\n".join(lines))
        app.call_from_thread(self._run_done, what, overlay, run.returncode, fix)

    def on_output_batch(self, _: OutputBatch) -> None:
        self.query_one("#output", Log).write_lines(self._output.drain())

    def _run_done(
        self, what: str, overlay: Path, returncode: int | None, fix: str | None = None
    ) -> None:
        self._busy = False
        self.on_output_batch(OutputBatch())
        if returncode == 0:
            self.notify(f"{what} of {overlay.name}: done")
            if what == "apply":
                self.app.status = self.app.status.with_(overlay=overlay.name)
        else:
            self.notify(
                f"{what} of {overlay.name} failed (exit status {returncode}); the Output tab "
                "has kubectl's message" + (f". {fix}" if fix else ""),
                severity="error",
                timeout=10,
            )
