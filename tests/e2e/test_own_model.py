"""Your own model on a sandbox, done as the README's "Adapting" section tells a user.

On a copy of the kit (so its base/ can be edited as the README says): `make apply` (Iris), put
the wine CSV on the model volume, set TRAIN_DATA, LABEL_COLUMN and MODEL in the ConfigMap,
`make apply` again; the API serves the wine signature (GET /model, /openapi.json, /predict
through the Service proxy). Then the churn table with categorical columns, missing values and
an id, while predictions keep coming: none may fail, and the batch job copies the id through.
"""

from __future__ import annotations

import csv
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.kubelet import containerview, podspec
from sandbox.testing import SandboxProcess
from service.example_data import write_customers, write_wine
from tests.adapting import copy_kit, make_apply, set_keys

pytestmark = pytest.mark.slow

NS = "ml-course"
# A customer the generator's rule calls a churner: new, expensive plan, many support calls.
CHURNER = {
    "tenure_months": 3,
    "monthly_charges": 99.5,
    "plan": "basic",
    "region": "north",
    "support_calls": 4,
}
# The batch input's columns, in another order than the training CSV's, the id among them.
BATCH_COLUMNS = (
    "region",
    "customer_id",
    "support_calls",
    "plan",
    "tenure_months",
    "monthly_charges",
)
BATCH_ROWS = 25
STREAM_PAUSE = 0.01
NEW_VERSION_STREAK = 10
# Seconds from the first replica on the new signature to the last: a reload interval (2 s)
# and the load itself, with room for a machine busy with the retrain.
SWITCH_WINDOW = 20.0


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def wait_trained(sandbox: SandboxProcess) -> str:
    sandbox.kubectl(
        "-n", NS, "wait", "--for=condition=complete", "job/iris-train-job", "--timeout=150s",
        timeout=160,
    )  # fmt: skip
    return sandbox.kubectl("-n", NS, "logs", "job/iris-train-job").stdout


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def served_version(api: httpx.Client, old: str) -> dict[str, Any]:
    """GET /model once every replica behind the proxy has left ``old`` (a few answers in a row)."""

    def moved_on() -> dict[str, Any] | None:
        # a replica between models, or none ready behind the proxy, answers without a version
        answers = [api.get("/model") for _ in range(4)]
        if any(a.status_code != 200 for a in answers):
            return None
        models = [a.json() for a in answers]
        return models[0] if all(m["version"] != old for m in models) else None

    return wait_until(moved_on, 60, f"GET /model to report a version after {old}")


@dataclass
class Stream:
    """Predictions one after another, each in the schema the client last saw.

    A switch of signature shows at once: a request in the old schema that reaches a replica
    already on the new model is a 422 naming the fields, and the client sends the other body
    from then on. Every other answer is a failure: a 5xx, a dropped connection, a 422 not about
    the two signatures, or a 200 that is not the model of the body sent.
    """

    api: httpx.Client
    bodies: dict[str, dict[str, Any]]
    expected: dict[str, tuple[str, str]]
    current: str
    fields: set[str]
    answered: list[tuple[str, str]] = field(default_factory=list)
    switches: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            name = self.current
            try:
                response = self.api.post("/predict", json=self.bodies[name])
            except httpx.HTTPError as error:
                self.failures.append(f"{name}: {error!r}")
            else:
                self.check(name, response)
            self.stop.wait(STREAM_PAUSE)

    def check(self, name: str, response: httpx.Response) -> None:
        if response.status_code == 422:
            named = {error["field"] for error in response.json().get("errors", [])}
            if named and named <= self.fields:
                self.switches.append(time.monotonic())
                self.current = next(other for other in self.bodies if other != name)
                return
        if response.status_code != 200:
            self.failures.append(f"{name}: {response.status_code} {response.text}")
            return
        answer = response.json()
        key, value = self.expected[name]
        if answer.get(key) != value:
            self.failures.append(f"{name}: answered {answer}, expected {key}={value}")
            return
        self.answered.append((name, answer["model_version"]))

    def streak_of(self, name: str) -> bool:
        tail = self.answered[-NEW_VERSION_STREAK:]
        return len(tail) == NEW_VERSION_STREAK and {n for n, _ in tail} == {name}


@contextmanager
def streaming(stream: Stream) -> Iterator[Stream]:
    thread = threading.Thread(target=stream.run, name="prediction-stream", daemon=True)
    thread.start()
    try:
        yield stream
    finally:
        stream.stop.set()
        thread.join(timeout=30)
        stream.api.close()


@contextmanager
def port_forward(sandbox: SandboxProcess) -> Iterator[str]:
    """`kubectl port-forward svc/iris-api-svc :80`: the local URL it listens on."""
    process = subprocess.Popen(
        ["kubectl", "-n", NS, "port-forward", "svc/iris-api-svc", ":80", "--address", "127.0.0.1"],
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"127\.0\.0\.1:(\d+) -> 8000", line)
        assert found, (line, process.stderr and process.stderr.read())
        yield f"http://127.0.0.1:{found[1]}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def features_of(model: dict[str, Any]) -> list[str]:
    return [feature["name"] for feature in model["features"]]


def as_the_job_names(volume: Path, path: str) -> str:
    """A path under /models as the training Job logs it: as the manifest says in the container's
    own view, the claim's folder where containers see the host's paths."""
    rewritten = [] if containerview.available() else [podspec.Mount("/models", volume)]
    return podspec.local_path(path, rewritten)


def test_own_model_from_a_csv(sandbox: SandboxProcess, tmp_path: Path) -> None:
    kit = copy_kit(tmp_path / "kit")

    # The kit as it comes: Iris.
    make_apply(sandbox, kit)
    wait_trained(sandbox)
    sandbox.kubectl("-n", NS, "rollout", "status", "deploy/iris-api", "--timeout=120s", timeout=130)
    volume = sandbox.claim_dir(NS, "ml-model-pvc")
    iris_version = (volume / "current").read_text().strip()
    proxy = f"{sandbox.url}/api/v1/namespaces/{NS}/services/iris-api-svc:http/proxy"
    api = httpx.Client(base_url=proxy, timeout=20)

    # Step 1: the CSVs on the volume, where the Job sees them under /models.
    data = volume / "data"
    data.mkdir()
    wine = read_rows(write_wine(data / "wine.csv"))
    customers = read_rows(write_customers(data / "customers.csv"))

    # Steps 2 and 3: the keys, then `make apply`, which retrains.
    set_keys(kit, TRAIN_DATA="/models/data/wine.csv", LABEL_COLUMN="target", MODEL="random_forest")
    assert 'job.batch "iris-train-job" deleted' in make_apply(sandbox, kit)
    logs = wait_trained(sandbox)
    assert "RandomForestClassifier" in logs, logs
    assert as_the_job_names(volume, "/models/data/wine.csv") in logs, logs
    try:
        model = served_version(api, iris_version)
        wine_version = model["version"]
        assert wine_version == (volume / "current").read_text().strip()
        wine_features = [name for name in wine[0] if name != "target"]
        assert model["task"] == "classification" and model["target"] == "target"
        assert features_of(model) == wine_features
        for feature in model["features"]:
            column = [float(row[feature["name"]]) for row in wine]
            assert feature["type"] == "numeric"
            assert (feature["min"], feature["max"]) == (min(column), max(column)), feature
        schema = api.get("/openapi.json").json()["components"]["schemas"]
        assert sorted(schema["Features"]["required"]) == sorted(wine_features)
        assert {"target_index", "target_name"} <= set(schema["Prediction"]["properties"])
        first_wine = {name: float(value) for name, value in wine[0].items() if name != "target"}
        answer = api.post("/predict", json=first_wine).json()
        assert (answer["target_name"], answer["model_version"]) == (wine[0]["target"], wine_version)
        refused = api.post("/predict", json=CHURNER)
        assert refused.status_code == 422, refused.text

        # Another signature while predictions keep coming.
        set_keys(kit, TRAIN_DATA="/models/data/customers.csv", LABEL_COLUMN="churned")
        set_keys(kit, MODEL="logistic_regression")
        stream = Stream(
            httpx.Client(base_url=proxy, timeout=20),
            bodies={"wine": first_wine, "customers": CHURNER},
            expected={
                "wine": ("target_name", wine[0]["target"]),
                "customers": ("churned_name", "yes"),
            },
            current="wine",
            fields={*wine_features, *CHURNER},
        )  # fmt: skip
        with streaming(stream):
            wait_until(lambda: len(stream.answered) >= 5 or stream.failures, 30, "the stream")
            make_apply(sandbox, kit)
            logs = wait_trained(sandbox)
            assert as_the_job_names(volume, "/models/data/customers.csv") in logs, logs
            wait_until(
                lambda: stream.streak_of("customers") or stream.failures,
                60,
                f"{NEW_VERSION_STREAK} churn predictions in a row",
            )
        assert stream.failures == [], stream.failures
        customers_version = (volume / "current").read_text().strip()
        versions = {name: {v for n, v in stream.answered if n == name} for name in stream.bodies}
        assert versions == {"wine": {wine_version}, "customers": {customers_version}}
        # Each replica reloads within RELOAD_INTERVAL (2 s) of the publish: until both have,
        # the round-robin proxy bounces the stream between the two schemas, and only then.
        assert stream.switches and stream.switches[-1] - stream.switches[0] < SWITCH_WINDOW

        model = api.get("/model").json()
        assert model["version"] == customers_version and model["target"] == "churned"
        assert features_of(model) == list(CHURNER)
        kinds = {feature["name"]: feature for feature in model["features"]}
        assert kinds["plan"]["type"] == "categorical"
        assert kinds["plan"]["categories"] == sorted({row["plan"] for row in customers})
        assert kinds["tenure_months"]["nullable"] is True  # the CSV has cells missing there
        schema = api.get("/openapi.json").json()["components"]["schemas"]
        assert schema["Features"]["properties"]["plan"]["enum"] == kinds["plan"]["categories"]
        assert {"churned_index", "churned_name"} <= set(schema["Prediction"]["properties"])
        with port_forward(sandbox) as url:
            forwarded = httpx.post(f"{url}/predict", json=CHURNER, timeout=20).json()
        assert (forwarded["churned_name"], forwarded["model_version"]) == ("yes", customers_version)

        # Batch: columns by name in another order, the id copied through, first.
        rows = customers[:BATCH_ROWS]
        inbox = volume / "batch" / "input"
        inbox.mkdir(parents=True, exist_ok=True)
        with (inbox / ".churn.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, BATCH_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        (inbox / ".churn.csv").rename(inbox / "churn.csv")
        sandbox.kubectl("-n", NS, "create", "job", "own-batch", "--from=cronjob/iris-batch-predict")
        sandbox.kubectl(
            "-n", NS, "wait", "--for=condition=complete", "job/own-batch", "--timeout=120s",
            timeout=130,
        )  # fmt: skip
        output = volume / "batch" / "output" / "churn.csv.predictions.csv"
        with output.open(newline="") as handle:
            header = next(csv.reader(handle))
        assert header[0] == "customer_id", header
        scored = read_rows(output)
        assert [row["customer_id"] for row in scored] == [row["customer_id"] for row in rows]
        assert {row["model_version"] for row in scored} == {customers_version}
        objects = [
            {name: (row[name] or None) if name in ("plan", "region") else
             (float(row[name]) if row[name] else None) for name in CHURNER}
            for row in rows
        ]  # fmt: skip
        batch = api.post("/predict/batch", json={"instances": objects})
        assert batch.status_code == 200, batch.text[:600]
        assert [row["class_name"] for row in scored] == batch.json()["churned_names"]
    finally:
        api.close()
