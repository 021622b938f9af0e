"""Your own model in the real image: the churn CSV on the volume, the README's three keys set
in a copy of base/, the workloads run as that rendering of overlays/minikube says.

The training Job publishes the churn model, the API serves its signature and predicts with
the Secret's key, and the batch Job copies the id through.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import pytest

from service.example_data import write_customers
from tests.adapting import copy_kit, set_keys
from tests.image.conftest import OVERLAY, Image
from tests.image.test_image_runs import BATCH, TRAIN, Stack, http, start_api
from tests.manifests.rendering import render

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("image"), pytest.mark.timeout(1200)]

CHURNER = {
    "tenure_months": 3,
    "monthly_charges": 99.5,
    "plan": "basic",
    "region": "north",
    "support_calls": 4,
}


@pytest.fixture(scope="module")
def own_stack(
    image: Image, network: str, api_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    kit = copy_kit(tmp_path_factory.mktemp("own-model") / "kit")
    set_keys(
        kit,
        TRAIN_DATA="/models/data/customers.csv",
        LABEL_COLUMN="churned",
        MODEL="logistic_regression",
    )
    rendering = render(str(kit / OVERLAY))
    stack = Stack(rendering, image, network, tmp_path_factory.mktemp("own-volume"), api_key)
    yield stack
    for container in stack.containers:
        container.remove()


def test_own_model_trains_serves_and_scores_in_the_image(own_stack: Stack) -> None:
    stack = own_stack
    models = stack.on_host(TRAIN, "MODEL_DIR")
    (models / "data").mkdir(parents=True)
    customers = write_customers(models / "data" / "customers.csv")
    with customers.open(newline="") as handle:
        rows = list(csv.DictReader(handle))

    status, logs, _ = stack.run_to_completion(stack.pod(TRAIN))
    assert status == 0, logs
    assert "/models/data/customers.csv" in logs and "published model" in logs, logs
    version = (models / "current").read_text().strip()

    api = start_api(stack)
    status, model = http(api.base + "/model", 5, key=stack.api_key)
    assert status == 200, model
    assert (model["version"], model["target"]) == (version, "churned")
    assert [feature["name"] for feature in model["features"]] == list(CHURNER)
    status, answer = http(api.base + "/predict", 5, CHURNER, stack.api_key)
    assert status == 200, answer
    assert (answer["churned_name"], answer["model_version"]) == ("yes", version)
    status, refused = http(api.base + "/predict", 5, {**CHURNER, "plan": "gold"}, stack.api_key)
    assert status == 422 and refused["errors"][0]["field"] == "plan", refused

    inputs, outputs = stack.on_host(BATCH, "INPUT_DIR"), stack.on_host(BATCH, "OUTPUT_DIR")
    inputs.mkdir(parents=True, exist_ok=True)
    columns = ["support_calls", "customer_id", *(n for n in CHURNER if n != "support_calls")]
    with (inputs / "churn.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows[:30])
    status, logs, _ = stack.run_to_completion(stack.pod(BATCH))
    assert status == 0, logs
    with (outputs / "churn.csv.predictions.csv").open(newline="") as handle:
        scored = list(csv.DictReader(handle))
    assert [row["customer_id"] for row in scored] == [row["customer_id"] for row in rows[:30]]
    assert {row["model_version"] for row in scored} == {version}
    # The same rows as objects, missing cells null: the API's answers are the batch's.
    objects = [
        {name: (float(row[name]) if row[name] else None) if name not in ("plan", "region")
         else (row[name] or None) for name in CHURNER}
        for row in rows[:30]
    ]  # fmt: skip
    status, batch = http(api.base + "/predict/batch", 5, {"instances": objects}, stack.api_key)
    assert status == 200, batch
    assert [row["class_name"] for row in scored] == batch["churned_names"]
