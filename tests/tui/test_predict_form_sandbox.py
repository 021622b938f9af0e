"""The predict form end to end with your own model (issue 10): the kit on a sandbox, switched
to the churn CSV as the README's "Adapting" section says, then in the TUI: the form is the
churn model's (a Select per category, number fields with the training ranges), a prediction
answers the churn label, and a bad value is refused naming its field, before anything is sent.

One training: the claim is created first, so the CSV is on the volume before the kit's first
`make apply`, which then trains the churn model instead of Iris.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from textual.widgets import DataTable, Input, Label, OptionList, Select, Static

from sandbox.testing import SandboxProcess
from service.example_data import write_customers
from tests.adapting import copy_kit, make_apply, set_keys
from tests.polling import eventually
from tests.tui.waiting import notes_of, wait_until
from tui.app import IrisApp
from tui.screens.predict import PredictScreen
from tui.session import ClusterSession, Options
from tui.status import LinkState

pytestmark = pytest.mark.slow

NS = "ml-course"
SIZE = (120, 40)
FEATURES = ("tenure_months", "monthly_charges", "plan", "region", "support_calls")
# A customer the generator's rule calls a churner: new, expensive plan, many support calls.
CHURNER: dict[str, float | str] = {
    "tenure_months": 3.0,
    "monthly_charges": 99.5,
    "plan": "basic",
    "region": "north",
    "support_calls": 4.0,
}
# Training on a busy machine: conditions are waited on, these only bound the wait.
TRAINED_WITHIN = "300s"
ANSWER_WITHIN = 60.0


def create_claim(sandbox: SandboxProcess, kit: Path) -> Path:
    """The overlay's Namespace and model claim alone, applied as `make apply` applies them
    (server-side, kubectl's field manager): the bound volume's folder."""
    rendered = sandbox.kubectl("kustomize", str(kit / "overlays/minikube")).stdout
    wanted = [
        document
        for document in yaml.safe_load_all(rendered)
        if document and document["kind"] in ("Namespace", "PersistentVolumeClaim")
    ]
    assert len(wanted) == 2, [document["kind"] for document in wanted]
    sandbox.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(wanted))
    eventually(
        lambda: sandbox.kubectl(
            "-n", NS, "get", "pvc", "ml-model-pvc", "-o", "jsonpath={.status.phase}"
        ).stdout == "Bound",
        "the model claim to bind",
    )  # fmt: skip
    return sandbox.claim_dir(NS, "ml-model-pvc")


def column_range(rows: list[dict[str, str]], name: str) -> tuple[float, float]:
    """What training saw of a numeric column, its missing cells left out."""
    values = [float(row[name]) for row in rows if row[name]]
    return min(values), max(values)


def label_of(screen: PredictScreen, field: str) -> str:
    """The label shown above ``field``'s widget, as rendered (markup gone)."""
    widget = screen.query_one(f"#{field}")
    labels = list(screen.query("#predict-fields > *"))
    before = labels[labels.index(widget) - 1]
    assert isinstance(before, Label)
    return str(before.render())


def choices_of(select: Select[str]) -> list[str]:
    """The options the Select's drop-down lists (blank excluded)."""
    options = select.query_one(OptionList)
    prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
    return [prompt for prompt in prompts if prompt != "(empty)"]


def answer_of(screen: PredictScreen) -> str:
    return str(screen.query_one("#answer", Static).render())


def served_answer(sandbox: SandboxProcess, body: dict[str, Any]) -> dict[str, Any]:
    """The API's own answer to ``body``, through the Service proxy as kubectl would reach it."""
    proxy = f"{sandbox.url}/api/v1/namespaces/{NS}/services/iris-api-svc:http/proxy"
    answer = httpx.post(f"{proxy}/predict", json=body, timeout=20)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_the_tui_predicts_with_a_model_trained_from_your_csv(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    kit = copy_kit(tmp_path / "kit")
    volume = create_claim(sandbox, kit)
    (volume / "data").mkdir(parents=True)
    with write_customers(volume / "data/customers.csv").open(newline="") as handle:
        customers = list(csv.DictReader(handle))
    set_keys(kit, TRAIN_DATA="/models/data/customers.csv", LABEL_COLUMN="churned")
    make_apply(sandbox, kit)
    sandbox.kubectl(
        "-n", NS, "wait", "--for=condition=complete", "job/iris-train-job",
        f"--timeout={TRAINED_WITHIN}", timeout=310,
    )  # fmt: skip
    sandbox.kubectl(
        "-n", NS, "rollout", "status", "deploy/iris-api", f"--timeout={TRAINED_WITHIN}",
        timeout=310,
    )  # fmt: skip
    version = (volume / "current").read_text().strip()

    app = IrisApp(ClusterSession(Options(kubeconfig=str(sandbox.kubeconfig))))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.status.state is LinkState.CONNECTED)
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PredictScreen))
        screen = app.screen
        assert isinstance(screen, PredictScreen)
        await wait_until(pilot, lambda: screen.form.version == version, timeout=ANSWER_WITHIN)

        # The churn model's form: its features in the CSV's order, the id and label left out.
        assert screen.form.names == FEATURES
        plan = screen.query_one("#plan", Select)
        assert choices_of(plan) == sorted({row["plan"] for row in customers})
        assert plan.value == "basic" and not plan.is_blank()
        assert isinstance(screen.query_one("#region"), Select)
        for name in ("tenure_months", "monthly_charges", "support_calls"):
            box = screen.query_one(f"#{name}", Input)
            low, high = column_range(customers, name)
            assert label_of(screen, name) == f"{name}  training: {low} to {high}"
            # Only tenure_months has cells missing in the CSV: only it may stay empty.
            nullable = any(not row[name] for row in customers)
            assert box.placeholder == ("a number (empty: imputed)" if nullable else "a number")
            assert nullable is (name == "tenure_months")

        # A churner, typed in: the TUI answers what the API answers, the churn label.
        for name, value in CHURNER.items():
            widget = screen.query_one(f"#{name}")
            assert isinstance(widget, Select | Input)
            widget.value = value if isinstance(value, str) else f"{value:g}"
        await pilot.press("ctrl+s")
        history = screen.query_one("#history", DataTable)
        await wait_until(pilot, lambda: history.row_count or screen.error, timeout=ANSWER_WITHIN)
        assert screen.error is None
        assert screen.form.values(screen.texts()) == CHURNER
        expected = served_answer(sandbox, CHURNER)
        assert (expected["churned_name"], expected["model_version"]) == ("yes", version)
        assert answer_of(screen) == f"yes  (class {expected['churned_index']})"
        assert f"model {version}" in str(screen.query_one("#answer-meta", Static).render())

        # A bad value: the notification names the field, its widget gets the focus, and
        # nothing is sent.
        seen = notes_of(app)
        box = screen.query_one("#support_calls", Input)
        box.focus()
        box.value = ""
        await pilot.press("a", "b", "c")
        assert box.value == "abc" and not box.is_valid
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: seen)
        assert seen == ["support_calls: 'abc' is not a number"]
        assert app.focused is box
        assert history.row_count == 1
