"""Pilot tests of the predict form against the real iris-serve (issue 10): the form is the
served model's (Iris, a regression, a model with categories), the CSV batch goes by column
name, bad input is refused with its reason, and the form follows a change of signature."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable, Input, Select, Static

from service.example_data import write_customers, write_wine
from service.model_store import ModelStore
from tests.service.api_fixtures import BIN, ServeProcess, serve_process
from tests.tui.fakes import FakeSession, frozen_clock
from tests.tui.waiting import notes_of
from tui.app import IrisApp
from tui.cluster.predict import ModelForm, PredictClient, Value
from tui.screens.predict import PredictScreen
from tui.session import Asked, ClusterSession
from tui.widgets.probability_bars import ProbabilityBars

pytestmark = pytest.mark.slow

SIZE = (120, 40)


def iris_train(model_dir: Path, *args: str) -> str:
    """Train with the real iris-train into ``model_dir``; the published version."""
    done = subprocess.run(
        [str(BIN / "iris-train"), "--model-dir", str(model_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return ModelStore(model_dir).load().version


@dataclass
class ServedSession(FakeSession):
    """The fake cluster, but predictions go to a real iris-serve at ``url``."""

    url: str = ""

    def predict_client(self) -> PredictClient:
        if self._predict_client is None:
            self._predict_client = PredictClient(self.url, f"--api-url {self.url}")
        return self._predict_client

    def model_version(self) -> str | None:
        return ClusterSession.model_version(self)

    def wait_for_model_version(self, old: str, timeout: float = 30) -> str:
        return ClusterSession.wait_for_model_version(self, old, timeout)

    def model_form(self) -> ModelForm | None:
        return ClusterSession.model_form(self)

    def predict(self, features: dict[str, Value], target: str) -> Asked:
        return ClusterSession.predict(self, features, target)

    def predict_csv(self, path: Path, form: ModelForm) -> Asked:
        return ClusterSession.predict_csv(self, path, form)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    """The model dir and a function that starts iris-serve on it (once trained)."""
    models = tmp_path / "models"
    servers: list[Any] = []

    def start() -> ServeProcess:
        context = serve_process(models, tmp_path)
        servers.append(context)
        return context.__enter__()

    yield models, start
    for context in servers:
        context.__exit__(None, None, None)


def app_for(server: ServeProcess) -> IrisApp:
    return IrisApp(ServedSession(url=server.url), clock=frozen_clock, refresh_ages=False)


async def open_form(app: IrisApp, pilot: Any) -> PredictScreen:
    await pilot.pause()
    await pilot.press("p")
    await app.workers.wait_for_complete()
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, PredictScreen)
    return screen


async def predict(app: IrisApp, pilot: Any) -> None:
    await pilot.press("ctrl+s")
    await app.workers.wait_for_complete()
    await pilot.pause()


def answer_of(screen: PredictScreen) -> str:
    return str(screen.query_one("#answer", Static).render())


def served_answer(server: ServeProcess, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(server.url + "/predict", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_the_iris_form_is_the_courses_and_its_csv_goes_by_name(
    serving: tuple[Path, Any], tmp_path: Path
) -> None:
    models, start = serving
    iris_train(models)
    server = start()
    app = app_for(server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot)
        boxes = list(screen.query("#predict-fields Input").results(Input))
        assert [(b.id, b.value) for b in boxes] == [
            ("sepal_length", "5.1"),
            ("sepal_width", "3.5"),
            ("petal_length", "1.4"),
            ("petal_width", "0.2"),
        ]
        assert screen.form.version == ModelStore(models).load().version
        await predict(app, pilot)
        assert answer_of(screen).startswith("setosa  (class 0)")
        expected = served_answer(server, screen.form.values(screen.texts()))
        assert screen.query_one(ProbabilityBars).probabilities == expected["probabilities"]

        # Columns in another order and an id column: the id is not sent (the API refuses it).
        csv = tmp_path / "flowers.csv"
        csv.write_text(
            "id,petal_width,petal_length,sepal_width,sepal_length\n"
            "a,0.2,1.4,3.5,5.1\nb,2.5,6.0,3.3,6.3\n"
        )
        screen.query_one("#csv-path", Input).value = str(csv)
        await pilot.press("ctrl+b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert answer_of(screen) == "2 rows: 1 setosa, 1 virginica"
        assert screen.query_one("#history", DataTable).row_count == 3


async def test_a_regression_model_answers_its_value_with_the_target_name(
    serving: tuple[Path, Any], tmp_path: Path
) -> None:
    models, start = serving
    wine = write_wine(tmp_path / "wine.csv")
    iris_train(models, "--train-data", str(wine), "--label-column", "alcohol")
    server = start()
    app = app_for(server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot)
        header = wine.read_text().splitlines()[0].split(",")
        assert screen.form.task == "regression"
        assert screen.form.names == tuple(n for n in header if n != "alcohol")
        assert len(screen.query("#predict-fields Input")) == len(header) - 1
        await predict(app, pilot)
        value = served_answer(server, screen.form.values(screen.texts()))["alcohol"]
        assert answer_of(screen) == f"alcohol: {value:.4g}  (predicted value)"
        assert screen.query_one(ProbabilityBars).probabilities == {}

        # The training CSV itself: its alcohol column is not a feature and is left out.
        screen.query_one("#csv-path", Input).value = str(wine)
        await pilot.press("ctrl+b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        rows = len(wine.read_text().splitlines()) - 1
        assert answer_of(screen).startswith(f"{rows} rows: alcohol from ")
        assert screen.query_one("#history", DataTable).row_count == rows + 1


async def test_categories_are_choices_and_a_nullable_field_may_stay_empty(
    serving: tuple[Path, Any], tmp_path: Path
) -> None:
    models, start = serving
    customers = write_customers(tmp_path / "customers.csv")
    iris_train(models, "--train-data", str(customers), "--label-column", "churned")
    server = start()
    app = app_for(server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot)
        plan = screen.query_one("#plan", Select)
        assert isinstance(screen.query_one("#tenure_months"), Input)
        assert plan.value == "basic" and not plan.is_blank()
        plan.value = "premium"
        # tenure_months and region were missing in training: they may be left empty.
        screen.query_one("#tenure_months", Input).value = ""
        screen.query_one("#region", Select).clear()
        await pilot.pause()
        body = screen.form.values(screen.texts())
        assert body == {"monthly_charges": 67.62, "plan": "premium", "support_calls": 3.0}
        await predict(app, pilot)
        expected = served_answer(server, body)
        assert answer_of(screen).startswith(f"{expected['churned_name']}  (class ")
        assert screen.query_one(ProbabilityBars).probabilities == expected["probabilities"]

        screen.query_one("#csv-path", Input).value = str(customers)
        await pilot.press("ctrl+b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        rows = len(customers.read_text().splitlines()) - 1
        assert answer_of(screen).startswith(f"{rows} rows: ")
        assert " no, " in answer_of(screen) and answer_of(screen).endswith(" yes")


async def test_bad_input_is_refused_with_its_reason_and_nothing_is_sent(
    serving: tuple[Path, Any], tmp_path: Path
) -> None:
    models, start = serving
    customers = write_customers(tmp_path / "customers.csv")
    iris_train(models, "--train-data", str(customers), "--label-column", "churned")
    server = start()
    app = app_for(server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot)
        seen = notes_of(app)
        box = screen.query_one("#support_calls", Input)
        box.focus()
        box.value = ""
        await pilot.press("a", "b", "c")
        assert box.value == "abc" and not box.is_valid
        await predict(app, pilot)
        assert seen[-1] == "support_calls: 'abc' is not a number"
        assert app.focused is box
        box.value = ""
        await predict(app, pilot)
        assert seen[-1] == "support_calls: required"
        assert screen.query_one("#history", DataTable).row_count == 0

        bad = tmp_path / "bad.csv"
        bad.write_text("plan,monthly_charges,support_calls\ngold,20,1\n")
        screen.query_one("#csv-path", Input).value = str(bad)
        await pilot.press("ctrl+b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert answer_of(screen) == (
            "bad.csv line 2: plan: 'gold' is not one of basic, premium, standard"
        )


async def test_the_form_rebuilds_when_the_served_signature_changes(
    serving: tuple[Path, Any], tmp_path: Path
) -> None:
    models, start = serving
    customers = write_customers(tmp_path / "customers.csv")
    train = ("--train-data", str(customers), "--label-column", "churned")
    subset = ("--features", "tenure_months,plan", "--min-accuracy", "0.5")
    first = iris_train(models, *train, *subset)
    server = start()
    app = app_for(server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot)
        assert screen.form.names == ("tenure_months", "plan")
        screen.query_one("#tenure_months", Input).value = "33"
        screen.query_one("#plan", Select).value = "standard"
        kept_box = screen.query_one("#tenure_months", Input)

        # A new version with the same signature keeps the very same widgets.
        same = iris_train(models, *train, *subset)
        app.await_new_model(first)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert (app.status.model_version, screen.form.version) == (same, same)
        assert screen.query_one("#tenure_months", Input) is kept_box

        # Another signature: the form becomes its fields, keeping what was typed.
        other = iris_train(models, *train)
        app.await_new_model(same)
        await app.workers.wait_for_complete()
        await pilot.pause()
        for _ in range(100):
            if screen.form.version == other:
                break
            await pilot.pause(0.05)
        assert screen.form.names == (
            "tenure_months",
            "monthly_charges",
            "plan",
            "region",
            "support_calls",
        )
        assert screen.query_one("#tenure_months", Input).value == "33"
        assert screen.query_one("#plan", Select).value == "standard"
        assert isinstance(screen.query_one("#region"), Select)
        assert str(screen.query_one("#batch-hint").render()) == (
            "batch: a CSV with the five columns"
        )
        await predict(app, pilot)
        body = screen.form.values(screen.texts())
        expected = served_answer(server, body)
        assert expected["model_version"] == other
        assert answer_of(screen).startswith(f"{expected['churned_name']}  (class ")

        # The API moves on before the app hears of it: the refused request brings the new form.
        iris = iris_train(models)
        for _ in range(100):
            if httpx.get(server.url + "/model").json()["version"] == iris:
                break
            await pilot.pause(0.05)
        await predict(app, pilot)
        assert answer_of(screen).startswith("invalid input: ")
        await app.workers.wait_for_complete()
        for _ in range(100):
            if screen.form.version == iris:
                break
            await pilot.pause(0.05)
        assert screen.form.names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
        assert screen.query_one("#sepal_length", Input).value == "5.1"
