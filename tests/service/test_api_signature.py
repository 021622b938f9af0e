"""The API of a model trained from a CSV: its schema, answers and errors come from its signature."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api import create_app, with_fast_path
from service.api.model_holder import serve_model
from service.example_data import write_customers, write_wine
from service.model_store import ModelStore
from service.settings import TrainSettings
from service.train import train
from tests.service.api_fixtures import FLOWER, client_for, wait_for
from tests.service.api_fixtures import settings as serve_settings
from tests.service.core_fixtures import publish_model

CUSTOMER = {
    "tenure_months": 3,
    "monthly_charges": 99.5,
    "plan": "basic",
    "region": "north",
    "support_calls": 4,
}


def train_csv(model_dir: Path, data: Path, **values: Any) -> str:
    return train(TrainSettings(model_dir=model_dir, train_data=data, **values))


@pytest.fixture(scope="module")
def churn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("churn")
    train_csv(root / "models", write_customers(root / "customers.csv"), label_column="churned")
    return root / "models"


@pytest.fixture(scope="module")
def regression_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wine")
    train_csv(root / "models", write_wine(root / "wine.csv"), label_column="alcohol")
    return root / "models"


@pytest.fixture(scope="module")
def churn(churn_dir: Path) -> Iterator[TestClient]:
    with client_for(churn_dir, max_batch=20) as client:
        yield client


def test_predict_takes_named_typed_fields_and_answers_after_the_label(churn, churn_dir):
    loaded = ModelStore(churn_dir).load()
    answer = churn.post("/predict", json=CUSTOMER).json()
    assert set(answer) == {"churned_index", "churned_name", "probabilities", "model_version"}
    assert answer["model_version"] == loaded.version
    assert answer["churned_name"] == ("no", "yes")[answer["churned_index"]]
    row = [[3, 99.5, 0, 1, 4]]  # plan basic is category 0, region north 1
    expected = loaded.estimator.predict_proba(np.array(row, dtype=float))[0]
    np.testing.assert_allclose(
        [answer["probabilities"]["no"], answer["probabilities"]["yes"]], expected, rtol=1e-9
    )


def test_a_feature_seen_missing_may_be_null_or_left_out(churn):
    absent = {k: v for k, v in CUSTOMER.items() if k != "region"}
    left_out = churn.post("/predict", json=absent)
    null = churn.post("/predict", json={**CUSTOMER, "region": None})
    assert left_out.status_code == null.status_code == 200
    assert left_out.json() == null.json()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**CUSTOMER, "plan": "gold"}, "plan", "Input should be 'basic', 'premium' or 'standard'"),
        ({k: v for k, v in CUSTOMER.items() if k != "plan"}, "plan", "Field required"),
        ({**CUSTOMER, "plan": None}, "plan", "Input should be 'basic'"),  # never seen missing
        ({**CUSTOMER, "monthly_charges": "9"}, "monthly_charges", "valid number"),
        ({**CUSTOMER, "churned": "no"}, "churned", "Extra inputs are not permitted"),
    ],
)
def test_bad_fields_are_422_naming_them(churn, body, field, message):
    response = churn.post("/predict", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert message in response.json()["errors"][0]["message"]


def test_batch_and_v1_take_rows_in_signature_order_or_objects(churn):
    single = churn.post("/predict", json=CUSTOMER).json()
    positional = list(CUSTOMER.values())
    body = {"instances": [positional, CUSTOMER, [1, 20.0, "premium", None, 0]]}
    batch = churn.post("/predict/batch", json=body).json()
    assert batch["predictions"][:2] == [single["churned_index"]] * 2
    assert batch["churned_names"][0] == single["churned_name"]
    assert batch["class_names"] == ["no", "yes"]
    v1 = churn.post("/v1/models/iris:predict", json=body).json()
    assert v1 == {"predictions": batch["predictions"]}
    bad = churn.post("/predict/batch", json={"instances": [positional, [1, 2.0, "gold", None, 0]]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "instances.1.2"


def test_model_and_openapi_describe_the_signature(churn, churn_dir):
    info = churn.get("/model").json()
    assert info["task"] == "classification" and info["target"] == "churned"
    plan = next(f for f in info["features"] if f["name"] == "plan")
    assert plan["type"] == "categorical"
    assert plan["categories"] == ["basic", "premium", "standard"]
    tenure = next(f for f in info["features"] if f["name"] == "tenure_months")
    assert tenure["nullable"] is True and tenure["min"] >= 1
    schema = churn.get("/openapi.json").json()
    features = schema["components"]["schemas"]["Features"]
    assert features["properties"]["plan"]["enum"] == ["basic", "premium", "standard"]
    assert set(features["required"]) == {"monthly_charges", "plan", "support_calls"}
    assert features["additionalProperties"] is False
    prediction = schema["components"]["schemas"]["Prediction"]
    assert {"churned_index", "churned_name"} <= set(prediction["properties"])


def test_v2_takes_one_tensor_per_feature(churn):
    metadata = churn.get("/v2/models/iris").json()
    assert [(i["name"], i["datatype"]) for i in metadata["inputs"]] == [
        ("tenure_months", "FP64"),
        ("monthly_charges", "FP64"),
        ("plan", "BYTES"),
        ("region", "BYTES"),
        ("support_calls", "FP64"),
    ]
    inputs = [
        {"name": name, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64",
         "data": [v]}
        for name, v in CUSTOMER.items()
    ]  # fmt: skip
    answer = churn.post("/v2/models/iris/infer", json={"inputs": inputs}).json()
    single = churn.post("/predict", json=CUSTOMER).json()
    assert answer["outputs"][0]["data"] == [single["churned_index"]]
    inputs[2] = {**inputs[2], "data": ["gold"]}
    refused = churn.post("/v2/models/iris/infer", json={"inputs": inputs})
    assert refused.status_code == 400
    assert "not valid for the model's features" in refused.json()["error"]


def test_a_regression_answers_its_value(regression_dir):
    loaded = ModelStore(regression_dir).load()
    names = loaded.feature_names
    row = dict.fromkeys(names, 1.0)
    with client_for(regression_dir) as client:
        answer = client.post("/predict", json=row).json()
        batch = client.post("/predict/batch", json={"instances": [list(row.values())]}).json()
        v2 = client.post(
            "/v2/models/iris/infer",
            json={"inputs": [{"name": "features", "shape": [1, 13], "datatype": "FP64",
                              "data": [1.0] * 13}]},
        ).json()  # fmt: skip
    expected = float(loaded.estimator.predict(np.ones((1, 13)))[0])
    assert set(answer) == {"alcohol", "model_version"}
    assert answer["alcohol"] == pytest.approx(expected, rel=1e-12)
    assert batch["predictions"] == [pytest.approx(expected, rel=1e-12)]
    assert v2["outputs"] == [
        {"name": "value", "shape": [1], "datatype": "FP64", "data": [pytest.approx(expected)]}
    ]


def test_a_reload_to_another_signature_switches_schema_at_once_and_drops_nothing(tmp_path):
    store = ModelStore(tmp_path / "models")
    publish_model(store.root)
    data = write_customers(tmp_path / "customers.csv")
    answers: list[tuple[int, dict[str, Any]]] = []
    stop = threading.Event()
    with client_for(store.root) as client:

        def stream() -> None:
            while not stop.is_set():
                body = FLOWER if len(answers) % 2 else CUSTOMER
                response = client.post("/predict", json=body)
                answers.append((response.status_code, response.json()))

        thread = threading.Thread(target=stream)
        thread.start()
        try:
            wait_for(lambda: len(answers) > 20, what="requests on the Iris model")
            version = train_csv(store.root, data, label_column="churned")
            wait_for(lambda: client.get("/model").json()["version"] == version, what="reload")
            assert client.get("/openapi.json").json()["info"]["x-model-version"] == version
            seen = len(answers)
            wait_for(lambda: len(answers) > seen + 20, what="requests on the new model")
        finally:
            stop.set()
            thread.join(10)
    statuses = [status for status, _ in answers]
    assert all(status in (200, 422) for status in statuses)  # never a 5xx
    ok = [body for status, body in answers if status == 200]
    iris = [body for body in ok if "species_name" in body]
    churned = [body for body in ok if "churned_name" in body]
    assert iris and churned and len(iris) + len(churned) == len(ok)
    # Each request was validated and answered by one model: the first Iris answers, then the
    # churn answers, and the bodies each model refused were the other model's.
    first_churn = next(i for i, (s, b) in enumerate(answers) if "churned_name" in b)
    assert all("churned_name" not in b for _, b in answers[:first_churn])
    assert all("species_name" not in b for _, b in answers[first_churn:])


@pytest.fixture(scope="module")
def twins(churn_dir: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The churn model behind the fast path and behind FastAPI alone."""
    config = serve_settings(churn_dir, max_batch=20)
    apps = []
    for fast in (True, False):
        app = create_app(config)
        app.state.holder.served = serve_model(ModelStore(churn_dir).load(), 20)
        apps.append(with_fast_path(app, config) if fast else app)
    with TestClient(apps[0]) as fast_client, TestClient(apps[1]) as plain_client:
        yield fast_client, plain_client


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 100),
    st.sampled_from(["basic", "premium", "standard", "north", "gold", ""]),
    st.none(),
    st.booleans(),
)
customers = st.dictionaries(
    st.sampled_from([*CUSTOMER, "extra"]), values, max_size=6
) | st.fixed_dictionaries(
    {
        "tenure_months": st.none() | st.floats(0, 80) | st.integers(0, 80),
        "monthly_charges": st.floats(0, 150),
        "plan": st.sampled_from(["basic", "premium", "standard"]),
        "region": st.none() | st.sampled_from(["north", "south", "east", "west"]),
        "support_calls": st.integers(0, 9),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=customers, rows=st.lists(customers | st.lists(values, max_size=6), max_size=4))
def test_fast_path_and_fastapi_agree_on_any_body(twins, body, rows):
    fast, plain = twins
    headers = {"Content-Type": "application/json"}
    for path, payload in (("/predict", body), ("/predict/batch", {"instances": [body, *rows]})):
        content = json.dumps(payload, allow_nan=True).encode()
        answered = fast.post(path, content=content, headers=headers)
        expected = plain.post(path, content=content, headers=headers)
        assert (answered.status_code, answered.content) == (expected.status_code, expected.content)
        assert answered.status_code in (200, 422)
