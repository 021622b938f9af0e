"""Ask the served model: four measurements in, class, probabilities, version and latency out.

Requests go through ``PredictClient`` (the service's route is chosen by the cluster layer:
--api-url, a LoadBalancer, a NodePort, or the API server's service proxy).
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.validation import Number
from textual.widgets import Button, DataTable, Input, Label, Static

from tui.cluster.predict import Prediction
from tui.screens.base import IrisScreen
from tui.widgets.command_log import CommandLog
from tui.widgets.key_footer import KeyFooter
from tui.widgets.probability_bars import ProbabilityBars
from tui.widgets.status_bar import StatusBar

# (field, label, example, smallest and largest value seen in the Iris data, in cm)
FEATURES = (
    ("sepal_length", "sepal length (cm)", "5.1", 4.3, 7.9),
    ("sepal_width", "sepal width (cm)", "3.5", 2.0, 4.4),
    ("petal_length", "petal length (cm)", "1.4", 1.0, 6.9),
    ("petal_width", "petal width (cm)", "0.2", 0.1, 2.5),
)
LARGEST = 100.0
HISTORY_COLUMNS = ("TIME", "INPUT", "CLASS", "P", "MODEL", "MS")


class PredictScreen(IrisScreen):
    BINDINGS = [
        Binding("escape", "app.switch_mode('watch')", "Back to watch", tooltip="the dashboard"),
        Binding("ctrl+s", "predict", "Predict", tooltip="send the four measurements"),
        Binding("ctrl+b", "batch", "Send CSV", tooltip="predict every row of the CSV file"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="predict-top"):
            with Vertical(id="predict-form"):
                for field, label, example, low, high in FEATURES:
                    yield Label(f"{label}  [dim]Iris data: {low} to {high}[/]")
                    # Any text may be typed (a number-only Input swallows other keys without a
                    # word); the validator marks the field and Predict says what is wrong.
                    yield Input(
                        example,
                        id=field,
                        validators=[Number(minimum=0, maximum=LARGEST)],
                        valid_empty=False,
                    )
                yield Button("Predict (ctrl+s)", id="predict-send", variant="primary")
            with Vertical(id="predict-result"):
                yield Static("Fill in the four measurements and press Predict.", id="answer")
                yield ProbabilityBars(id="bars")
                yield Static("", id="answer-meta", markup=False)
                yield Label("batch: a CSV with the four columns")
                with Horizontal(id="batch-row"):
                    yield Input(placeholder="path/to/file.csv", id="csv-path")
                    yield Button("Send CSV (ctrl+b)", id="batch-send")
        history: DataTable[str] = DataTable(id="history", cursor_type="row", zebra_stripes=True)
        history.border_title = "requests"
        for column in HISTORY_COLUMNS:
            history.add_column(column, key=column)
        yield history
        yield CommandLog()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.error: str | None = None
        self.query_one(f"#{FEATURES[0][0]}", Input).focus()

    # -- single prediction --------------------------------------------------------------------

    def features(self) -> dict[str, float] | None:
        """The form's numbers, or None after telling the user which field is wrong."""
        values: dict[str, float] = {}
        for field, label, _, low, high in FEATURES:
            box = self.query_one(f"#{field}", Input)
            result = box.validate(box.value)
            if result is not None and not result.is_valid:
                box.focus()
                typed = box.value.strip()
                what = f"{typed!r} is not a number" if not _is_number(typed) else "out of range"
                self.notify(
                    f"{label}: {what}; type a number from 0 to {LARGEST:g}", severity="error"
                )
                return None
            values[field] = float(box.value)
            if not low / 2 <= values[field] <= high * 2:
                self.notify(
                    f"{label} {values[field]:g} is far outside the Iris data ({low} to {high}): "
                    "the model will still answer, but it is guessing",
                    severity="warning",
                )
        return values

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        if event.input.id == "csv-path":
            self.action_batch()
        else:
            self.action_predict()

    @on(Button.Pressed, "#predict-send")
    def action_predict(self) -> None:
        features = self.features()
        if features is not None:
            self.query_one("#answer", Static).update("asking the model…")
            self._predict(features)

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False)
    def _predict(self, features: dict[str, float]) -> None:
        app = self.app
        asked = self.session.predict(features)
        app.call_from_thread(app.log_command, asked.command)
        app.call_from_thread(self._answered, features, asked.predictions[0], asked.route)

    def _answered(self, features: dict[str, float], prediction: Prediction, route: str) -> None:
        self.error = None
        self.query_one("#answer", Static).update(
            f"[b]{escape(prediction.species_name)}[/]  (class {prediction.species_index})"
        )
        self.query_one(ProbabilityBars).show(prediction.probabilities)
        self.query_one("#answer-meta", Static).update(
            f"model {prediction.model_version} · {prediction.latency_ms:.1f} ms · via {route}"
        )
        self.app.set_model_version(prediction.model_version)
        self._remember(", ".join(f"{v:g}" for v in features.values()), prediction)

    def worker_failed(self, worker: str, message: str) -> None:
        self.error = message
        self.query_one("#answer", Static).update(f"[b red]{escape(message)}[/]")

    def _remember(self, shown_input: str, prediction: Prediction) -> None:
        history = self.query_one("#history", DataTable)
        now = self.app.clock().strftime("%H:%M:%S")
        best = max(prediction.probabilities.values(), default=0.0)
        history.add_row(
            now,
            shown_input,
            prediction.species_name,
            f"{best:.2f}",
            prediction.model_version,
            f"{prediction.latency_ms:.1f}",
        )
        history.move_cursor(row=history.row_count - 1)

    # -- batch --------------------------------------------------------------------------------

    @on(Button.Pressed, "#batch-send")
    def action_batch(self) -> None:
        path = self.query_one("#csv-path", Input).value.strip()
        if not path:
            self.notify("type the path of a CSV file first", severity="error")
            self.query_one("#csv-path", Input).focus()
            return
        self._batch(path)

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False)
    def _batch(self, path: str) -> None:
        app = self.app
        asked = self.session.predict_csv(Path(path).expanduser())
        app.call_from_thread(app.log_command, asked.command)
        app.call_from_thread(self._batch_answered, path, asked.predictions)

    def _batch_answered(self, path: str, predictions: list[Prediction]) -> None:
        counts: dict[str, int] = {}
        for i, prediction in enumerate(predictions, start=1):
            counts[prediction.species_name] = counts.get(prediction.species_name, 0) + 1
            self._remember(f"{path} row {i}", prediction)
        summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
        self.query_one("#answer", Static).update(
            f"[b]{len(predictions)} rows[/]: {escape(summary)}"
        )
        # The bars show the batch now (each class's share of the rows), not the last
        # single prediction.
        classes = predictions[0].probabilities if predictions else counts
        total = max(len(predictions), 1)
        self.query_one(ProbabilityBars).show({c: counts.get(c, 0) / total for c in classes})
        versions = sorted({p.model_version for p in predictions})
        self.query_one("#answer-meta", Static).update(
            f"share of the {len(predictions)} rows by class · model {', '.join(versions)}"
        )
        self.notify(f"{path}: {len(predictions)} predictions ({summary})")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
