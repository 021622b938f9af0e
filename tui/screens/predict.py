"""Ask the served model: its form (from GET /model) in; the class with its probabilities, or
the predicted value, with the version and latency out.

The form is built from the served version's signature: an Input per numeric feature, a Select
per categorical one. When the app learns of another served version whose signature differs,
the form is rebuilt, keeping what was typed in fields that still exist. Requests go through
the session's ``PredictClient`` (the cluster layer chooses the route).
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from tui.cluster.predict import IRIS_FEATURES, IRIS_FORM, FormField, ModelForm, Prediction
from tui.screens.base import IrisScreen
from tui.status import ClusterStatus
from tui.widgets.command_log import CommandLog
from tui.widgets.key_footer import KeyFooter
from tui.widgets.probability_bars import ProbabilityBars
from tui.widgets.status_bar import StatusBar

# The course's Iris form: its labels and the flower it pre-fills (a setosa).
IRIS_LABELS = {
    "sepal_length": "sepal length (cm)",
    "sepal_width": "sepal width (cm)",
    "petal_length": "petal length (cm)",
    "petal_width": "petal width (cm)",
}
COURSE_EXAMPLE = {
    "sepal_length": "5.1",
    "sepal_width": "3.5",
    "petal_length": "1.4",
    "petal_width": "0.2",
}
HISTORY_COLUMNS = ("TIME", "INPUT", "CLASS", "P", "MODEL", "MS")
COUNTS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
WIDGET_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# The screen's own widgets: a feature of the same name gets a field-<i> id instead.
OWN_IDS = frozenset(
    [
        "predict-top",
        "predict-form",
        "predict-fields",
        "predict-send",
        "predict-result",
        "answer",
        "bars",
        "answer-meta",
        "batch-hint",
        "batch-row",
        "csv-path",
        "batch-send",
        "history",
    ]
)


class FieldCheck(Validator):
    """Marks a field whose text the API would refuse, with the reason."""

    def __init__(self, field: FormField) -> None:
        super().__init__()
        self.field = field

    def validate(self, value: str) -> ValidationResult:
        problem = self.field.problem(value)
        return self.failure(problem) if problem else self.success()


def _is_iris(form: ModelForm) -> bool:
    return form.target == "species" and form.names == IRIS_FEATURES


def _label(form: ModelForm, field: FormField) -> str:
    name = escape(IRIS_LABELS[field.name] if _is_iris(form) else field.name)
    if field.kind == "categorical":
        hint = f"one of {len(field.categories)}"
    elif field.minimum is not None and field.maximum is not None:
        seen = "Iris data" if _is_iris(form) else "training"
        hint = f"{seen}: {field.minimum} to {field.maximum}"
    else:
        hint = "a number"
    # That a field may stay empty is the placeholder's or the Select's "(empty)".
    return f"{name}  [dim]{hint}[/]"


def _prefill(form: ModelForm, field: FormField) -> str:
    """What a new field holds: the course's flower for Iris, else the middle of the values
    training saw (so Predict answers at once); a field that may be empty starts empty."""
    if _is_iris(form):
        return COURSE_EXAMPLE[field.name]
    if field.nullable or field.minimum is None or field.maximum is None:
        return ""
    return f"{round((field.minimum + field.maximum) / 2, 2):g}"


def _far_outside(field: FormField, value: float) -> bool:
    """Well beyond what training saw (by more than the whole range seen) but still accepted."""
    if field.minimum is None or field.maximum is None:
        return False
    span = max(field.maximum - field.minimum, abs(field.maximum) / 2, 1e-9)
    return not field.minimum - span <= value <= field.maximum + span


class PredictScreen(IrisScreen):
    BINDINGS = [
        Binding("escape", "app.switch_mode('watch')", "Back to watch", tooltip="the dashboard"),
        Binding("ctrl+s", "predict", "Predict", tooltip="send the form's values"),
        Binding("ctrl+b", "batch", "Send CSV", tooltip="predict every row of the CSV file"),
    ]

    form: ModelForm = IRIS_FORM

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="predict-top"):
            with VerticalScroll(id="predict-form"):
                with Vertical(id="predict-fields"):
                    yield from self._field_widgets(self.form, {})
                yield Button("Predict (ctrl+s)", id="predict-send", variant="primary")
            with Vertical(id="predict-result"):
                yield Static("Fill in the form and press Predict.", id="answer")
                yield ProbabilityBars(id="bars")
                yield Static("", id="answer-meta", markup=False)
                yield Label(self._batch_hint(self.form), id="batch-hint")
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
        self._focus_first()
        self.watch(self.app, "status", self._status_changed, init=False)
        self._load_form()

    # -- the form -----------------------------------------------------------------------------

    def _widget_id(self, form: ModelForm, field: FormField) -> str:
        # Any column name may be a feature; only some are valid widget ids.
        name = field.name
        if WIDGET_ID.fullmatch(name) and name not in OWN_IDS and not name.startswith("field-"):
            return name
        return f"field-{form.names.index(field.name)}"

    def _field_widgets(self, form: ModelForm, kept: dict[str, str]) -> list[Widget]:
        widgets: list[Widget] = []
        for field in form.fields:
            widgets.append(Label(_label(form, field)))
            text = kept.get(field.name, _prefill(form, field))
            if field.kind == "categorical":
                choices = [(c, c) for c in field.categories]
                if text not in field.categories:
                    text = "" if field.nullable else field.categories[0]
                widgets.append(
                    Select(
                        choices,
                        value=text or Select.NULL,
                        allow_blank=field.nullable,
                        prompt="(empty)",
                        id=self._widget_id(form, field),
                    )
                )
                continue
            hint = (
                "a number"
                if field.bounds is None
                else f"{field.bounds[0]:g} to {field.bounds[1]:g}"
            )
            # Any text may be typed (a number-only Input swallows other keys without a word);
            # the validator marks the field and Predict says what is wrong.
            widgets.append(
                Input(
                    text,
                    placeholder=f"{hint} (empty: imputed)" if field.nullable else hint,
                    id=self._widget_id(form, field),
                    validators=[FieldCheck(field)],
                    valid_empty=False,
                )
            )
        return widgets

    def _batch_hint(self, form: ModelForm) -> str:
        count = len(form.fields)
        return f"batch: a CSV with the {COUNTS.get(count, str(count))} columns"

    def _focus_first(self) -> None:
        first = self.form.fields[0]
        self.query_one(f"#{self._widget_id(self.form, first)}").focus()

    def texts(self) -> dict[str, str]:
        """What each field of the form holds, as text ("" when empty)."""
        texts = {}
        for field in self.form.fields:
            widget = self.query_one(f"#{self._widget_id(self.form, field)}")
            if isinstance(widget, Select):
                texts[field.name] = "" if widget.is_blank() else str(widget.value)
            elif isinstance(widget, Input):
                texts[field.name] = widget.value
        return texts

    def _status_changed(self, status: ClusterStatus) -> None:
        if status.model_version and status.model_version != self.form.version:
            self._load_form()

    @work(thread=True, exclusive=True, group="form", exit_on_error=False)
    def _load_form(self) -> None:
        form = self.session.model_form()
        if form is not None:
            self.app.call_from_thread(self.call_later, self.show_form, form)

    async def show_form(self, form: ModelForm) -> None:
        """Serve ``form`` from now on; rebuild the fields if its signature differs."""
        if form.signature == self.form.signature:
            self.form = form
            return
        kept = self.texts()
        had_focus = self.focused is not None and self.focused.id != "csv-path"
        fields = self.query_one("#predict-fields", Vertical)
        await fields.remove_children()
        self.form = form
        await fields.mount_all(self._field_widgets(form, kept))
        self.query_one("#batch-hint", Label).update(self._batch_hint(form))
        if had_focus:
            self._focus_first()
        self.notify(f"model {form.version} takes other inputs: the form now has its fields")

    def features(self) -> dict[str, float | str | None] | None:
        """The form's request body, or None after telling the user which field is wrong."""
        form, texts = self.form, self.texts()
        for field in form.fields:
            problem = field.problem(texts[field.name])
            label = IRIS_LABELS[field.name] if _is_iris(form) else field.name
            if problem is not None:
                self.query_one(f"#{self._widget_id(form, field)}").focus()
                if field.kind == "numeric" and problem != "required":
                    low, high = field.bounds or (None, None)
                    problem += (
                        f"; type a number from {low:g} to {high:g}" if low is not None else ""
                    )
                self.notify(f"{label}: {problem}", severity="error")
                return None
            value = field.value(texts[field.name])
            if isinstance(value, float) and _far_outside(field, value):
                seen = "Iris data" if _is_iris(form) else "training data"
                self.notify(
                    f"{label} {value:g} is far outside the {seen} "
                    f"({field.minimum} to {field.maximum}): "
                    "the model will still answer, but it is guessing",
                    severity="warning",
                )
        return form.values(texts)

    # -- single prediction --------------------------------------------------------------------

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
            self._predict(features, self.form)

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False)
    def _predict(self, features: dict[str, float | str | None], form: ModelForm) -> None:
        app = self.app
        asked = self.session.predict(features, form.target)
        app.call_from_thread(app.log_command, asked.command)
        app.call_from_thread(self._answered, features, asked.predictions[0], asked.route, form)

    def _answered(
        self,
        features: dict[str, float | str | None],
        prediction: Prediction,
        route: str,
        form: ModelForm,
    ) -> None:
        self.error = None
        bars = self.query_one(ProbabilityBars)
        if prediction.value is not None:
            self.query_one("#answer", Static).update(
                f"[b]{escape(form.target)}: {prediction.value:.4g}[/]  (predicted value)"
            )
            bars.show({})
        else:
            self.query_one("#answer", Static).update(
                f"[b]{escape(str(prediction.class_name))}[/]  (class {prediction.class_index})"
            )
            bars.show(prediction.probabilities)
        self.query_one("#answer-meta", Static).update(
            f"model {prediction.model_version} · {prediction.latency_ms:.1f} ms · via {route}"
        )
        self.app.set_model_version(prediction.model_version)
        shown = ", ".join(v if isinstance(v, str) else f"{v:g}" for v in features.values())
        self._remember(shown, prediction, form)

    def worker_failed(self, worker: str, message: str) -> None:
        if worker == "_load_form":
            return
        self.error = message
        self.query_one("#answer", Static).update(f"[b red]{escape(message)}[/]")
        if message.startswith("invalid input"):
            # The model may have changed under the form: look again.
            self._load_form()

    def _remember(self, shown_input: str, prediction: Prediction, form: ModelForm) -> None:
        history = self.query_one("#history", DataTable)
        now = self.app.clock().strftime("%H:%M:%S")
        if prediction.value is not None:
            answer, p = f"{form.target}={prediction.value:.4g}", ""
        else:
            best = max(prediction.probabilities.values(), default=0.0)
            answer, p = str(prediction.class_name), f"{best:.2f}"
        history.add_row(
            now,
            shown_input,
            answer,
            p,
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
        self._batch(path, self.form)

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False)
    def _batch(self, path: str, form: ModelForm) -> None:
        app = self.app
        asked = self.session.predict_csv(Path(path).expanduser(), form)
        app.call_from_thread(app.log_command, asked.command)
        app.call_from_thread(self._batch_answered, path, asked.predictions, form)

    def _batch_answered(self, path: str, predictions: list[Prediction], form: ModelForm) -> None:
        for i, prediction in enumerate(predictions, start=1):
            self._remember(f"{path} row {i}", prediction, form)
        versions = ", ".join(sorted({p.model_version for p in predictions}))
        if form.task == "regression":
            values = [p.value for p in predictions if p.value is not None]
            summary = (
                f"{form.target} from {min(values):.4g} to {max(values):.4g}, "
                f"mean {sum(values) / len(values):.4g}"
            )
            self.query_one(ProbabilityBars).show({})
            meta = f"{len(predictions)} rows · model {versions}"
        else:
            counts: dict[str, int] = {}
            for prediction in predictions:
                name = str(prediction.class_name)
                counts[name] = counts.get(name, 0) + 1
            summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
            # The bars show the batch now (each class's share of the rows), not the last
            # single prediction.
            classes = predictions[0].probabilities if predictions else counts
            total = max(len(predictions), 1)
            self.query_one(ProbabilityBars).show({c: counts.get(c, 0) / total for c in classes})
            meta = f"share of the {len(predictions)} rows by class · model {versions}"
        self.query_one("#answer", Static).update(
            f"[b]{len(predictions)} rows[/]: {escape(summary)}"
        )
        self.query_one("#answer-meta", Static).update(meta)
        self.notify(f"{path}: {len(predictions)} predictions ({summary})")
