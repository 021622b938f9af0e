"""iris-serve's REST API in process: predictions, readiness, errors, auth, metrics, reload."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from service.api import create_app
from service.api.metrics import ApiMetrics
from service.api.model_holder import ModelHolder, ModelReloader, serve_model
from service.atomic_files import write_text_atomic
from service.model_store import LoadedModel, ModelStore
from tests.service.api_fixtures import (
    FLOWER,
    client_for,
    fitted_iris,
    publish,
    running_app,
    serving_app,
    settings,
    wait_for,
)


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


@pytest.fixture
def published(store: ModelStore) -> str:
    return publish(store)


def test_predict_answers_the_course_body_with_probabilities_and_version(store, published):
    with client_for(store.root) as client:
        response = client.post("/predict", json=FLOWER)
    assert response.status_code == 200
    body = response.json()
    assert body["species_index"] == 0
    assert body["species_name"] == "setosa"
    assert body["model_version"] == published
    assert set(body["probabilities"]) == {"setosa", "versicolor", "virginica"}
    expected = fitted_iris().predict_proba([list(FLOWER.values())])[0]
    np.testing.assert_allclose(list(body["probabilities"].values()), expected, rtol=1e-9)


def test_batch_and_v1_answer_every_row(store, published):
    rows = np.random.default_rng(1).uniform(0.1, 8, (50, 4)).round(3)
    model = fitted_iris()
    with client_for(store.root) as client:
        batch = client.post("/predict/batch", json={"instances": rows.tolist()}).json()
        v1 = client.post("/v1/models/iris:predict", json={"instances": rows.tolist()}).json()
    expected = model.predict(rows).tolist()
    assert batch["predictions"] == expected == v1["predictions"]
    assert batch["species_names"] == [batch["class_names"][i] for i in expected]
    np.testing.assert_allclose(batch["probabilities"], model.predict_proba(rows), rtol=1e-9)
    assert batch["model_version"] == published
    assert set(v1) == {"predictions"}
    with client_for(store.root) as client:
        assert client.get("/v1/models/iris").json() == {"name": "iris", "ready": True}


def test_not_ready_without_a_model_then_ready_once_one_is_published(store):
    with running_app(serving_app(settings(store.root)), ready=False) as client:
        # Until the reloader's first look at the store the reason is "no model loaded yet".
        wait_for(
            lambda: "no model published" in client.get("/readyz").json()["reason"],
            what="the reloader to find no model",
        )
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        predict = client.post("/predict", json=FLOWER)
        assert predict.status_code == 503 and "no model" in predict.json()["detail"]
        assert client.get("/v2/health/ready").status_code == 503
        assert client.get("/v1/models/iris").json() == {"name": "iris", "ready": False}

        version = publish(store)
        wait_for(lambda: client.get("/readyz").status_code == 200, what="ready")
        assert client.get("/readyz").json() == {"status": "ready", "model_version": version}
        assert client.post("/predict", json=FLOWER).status_code == 200


def test_a_new_version_is_swapped_in_and_a_broken_one_refused(store, published, tmp_path):
    with client_for(store.root) as client:
        newer = publish(store, c=0.5)
        wait_for(lambda: client.get("/model").json()["version"] == newer, what="reload")
        assert client.post("/predict", json=FLOWER).json()["model_version"] == newer

        # A version whose model file does not match its checksum is refused. It is broken
        # elsewhere and then made current, so the server never sees it intact.
        elsewhere = ModelStore(tmp_path / "elsewhere")
        broken = publish(elsewhere, c=2.0)
        model_file = elsewhere.root / "versions" / broken / "model.joblib"
        model_file.write_bytes(model_file.read_bytes()[:-10])
        shutil.copytree(elsewhere.root / "versions" / broken, store.root / "versions" / broken)
        write_text_atomic(store.root / "current", broken + "\n")
        wait_for(
            lambda: "iris_model_reload_failures_total 1.0" in client.get("/metrics").text,
            what="the broken version refused",
        )
        assert client.post("/predict", json=FLOWER).json()["model_version"] == newer
        assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics").text
    assert "iris_model_reloads_total 2.0" in metrics
    assert f'iris_model_version_info{{version="{newer}"}} 1.0' in metrics


class RetrainDuringLoad(ModelStore):
    """A store where a retrain publishes while the server loads the first version it saw."""

    def load(self, version: str | None = None) -> LoadedModel:
        loaded = super().load(version)
        if not self.versions()[1:]:
            publish(self, c=0.5)
        return loaded


def test_a_version_replaced_while_loading_is_never_served_first(tmp_path):
    # A rollout's new pod starting as a retrain ends: ready on the replaced version, it would
    # answer it for a reload interval after every other replica had moved on.
    store = RetrainDuringLoad(tmp_path / "models")
    first = publish(store)
    holder = ModelHolder()
    metrics = ApiMetrics()
    asyncio.run(ModelReloader(store, holder, metrics, interval=3600).check())
    assert holder.served is not None
    newest = store.current_version()
    assert newest != first and holder.served.version == newest
    # the replaced version was never swapped in
    assert metrics.registry.get_sample_value("iris_model_reloads_total") == 1


def test_model_endpoint_describes_the_served_model(store, published):
    with client_for(store.root) as client:
        info = client.get("/model").json()
    assert info["version"] == published
    assert info["estimator"] == "LogisticRegression"
    assert info["predictor"] == "LinearSoftmaxPredictor"
    assert info["class_names"] == ["setosa", "versicolor", "virginica"]
    assert info["metadata"]["sha256"]


BAD_BODIES = [
    ({k: v for k, v in FLOWER.items() if k != "petal_width"}, "petal_width", "Field required"),
    ({**FLOWER, "colour": 1}, "colour", "Extra inputs are not permitted"),
    ({**FLOWER, "sepal_length": "5.1"}, "sepal_length", "valid number"),
    ({**FLOWER, "sepal_width": True}, "sepal_width", "valid number"),
    ({**FLOWER, "petal_length": None}, "petal_length", "valid number"),
    ({**FLOWER, "petal_length": -0.5}, "petal_length", "greater than or equal to 0"),
    ({**FLOWER, "petal_width": 1000}, "petal_width", "less than or equal to 100"),
    ([1, 2, 3, 4], "body", "valid dictionary"),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_BODIES)
def test_invalid_single_bodies_are_422_naming_the_field(store, published, body, field, message):
    with client_for(store.root) as client:
        response = client.post("/predict", json=body)
    assert response.status_code == 422
    error = response.json()
    assert error["errors"][0]["field"] == field
    assert message in error["errors"][0]["message"]
    assert field in error["detail"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(store, published, literal):
    body = json.dumps(FLOWER).replace("5.1", literal)
    with client_for(store.root) as client:
        response = client.post(
            "/predict", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "sepal_length",
        "message": "Input should be a finite number",
        "type": "finite_number",
    }


@pytest.mark.parametrize(
    ("instances", "field", "message"),
    [
        ([], "instances", "at least 1 item"),
        ([[1, 2, 3, 4]] * 11, "instances", "at most 10 items"),
        ([[1, 2, 3]], "instances.0", "at least 4 items"),
        ([[1, 2, 3, 4], [1, 2, "x", 4]], "instances.1.2", "valid number"),
        ([[1, 2, 3, 4], [1, 2, 3, 400]], "instances.1.3", "less than or equal to 100"),
    ],
)
def test_invalid_batches_are_422_naming_the_field(store, published, instances, field, message):
    with client_for(store.root, max_batch=10) as client:
        for path in ("/predict/batch", "/v1/models/iris:predict"):
            response = client.post(path, json={"instances": instances})
            assert response.status_code == 422, path
            assert response.json()["errors"][0]["field"] == field
            assert message in response.json()["errors"][0]["message"]


def test_malformed_json_is_422(store, published):
    with client_for(store.root) as client:
        response = client.post(
            "/predict", content=b'{"sepal_length": 5', headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body: invalid JSON")


def test_wrong_content_type_is_415(store, published):
    with client_for(store.root) as client:
        response = client.post(
            "/predict", content=json.dumps(FLOWER), headers={"Content-Type": "text/plain"}
        )
    assert response.status_code == 415
    assert response.json()["detail"] == "Content-Type must be application/json, not text/plain"


def test_bodies_over_the_limit_are_413_declared_or_chunked(store, published):
    big = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]] * 100}).encode()  # ~2.2 kB
    headers = {"Content-Type": "application/json"}

    def chunks():
        for start in range(0, len(big), 256):
            yield big[start : start + 256]

    with client_for(store.root, max_body_bytes=1024) as client:
        declared = client.post("/predict/batch", content=big, headers=headers)
        chunked = client.post("/predict/batch", content=chunks(), headers=headers)
        assert client.post("/predict/batch", content=big[:900], headers=headers).status_code == 422
    for response in (declared, chunked):
        assert response.status_code == 413
        assert "MAX_BODY_BYTES (1024 bytes)" in response.json()["detail"]


def test_unknown_routes_and_methods_answer_json(store, published):
    with client_for(store.root) as client:
        missing = client.get("/nope")
        wrong_method = client.get("/predict")
    assert missing.status_code == 404 and missing.json()["detail"] == "Not Found"
    assert wrong_method.status_code == 405


def test_api_key_guards_prediction_and_model_endpoints_only(store, published, caplog):
    key = "s3cret-key-value"
    caplog.set_level(logging.DEBUG)
    with client_for(store.root, api_key=key) as client:
        for method, path, body in [
            ("POST", "/predict", FLOWER),
            ("POST", "/predict/batch", {"instances": [[1, 2, 3, 4]]}),
            ("POST", "/v1/models/iris:predict", {"instances": [[1, 2, 3, 4]]}),
            ("GET", "/model", None),
            ("GET", "/v1/models/iris", None),
            ("GET", "/v2/models/iris", None),
        ]:
            for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
                refused = client.request(method, path, json=body, headers=headers)
                assert refused.status_code == 401, (path, headers)
                assert "WWW-Authenticate" in refused.headers
            for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
                assert client.request(method, path, json=body, headers=headers).status_code == 200
        for path in ("/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"):
            assert client.get(path).status_code == 200, path
        refused = client.post("/predict", json=FLOWER)
    assert refused.json()["detail"].startswith("missing or invalid API key")
    assert key not in caplog.text
    assert "without authentication" not in caplog.text


def test_running_without_a_key_warns_once_at_startup(store, published, caplog):
    caplog.set_level(logging.WARNING)
    with client_for(store.root) as client:
        client.post("/predict", json=FLOWER)
        client.post("/predict", json=FLOWER)
    warnings = [r for r in caplog.records if "without authentication" in r.getMessage()]
    assert len(warnings) == 1


def test_metrics_count_requests_predictions_and_latency(store, published):
    with client_for(store.root) as client:
        client.post("/predict", json=FLOWER)
        client.post("/predict", json={**FLOWER, "petal_length": 6.0, "petal_width": 2.4})
        client.post("/predict/batch", json={"instances": [[5.1, 3.5, 1.4, 0.2]] * 3})
        client.post("/predict", json={})
        text = client.get("/metrics").text
    assert 'iris_http_requests_total{method="POST",route="/predict",status="200"} 2.0' in text
    assert 'iris_http_requests_total{method="POST",route="/predict",status="422"} 1.0' in text
    assert 'iris_predictions_total{species="setosa"} 4.0' in text
    assert 'iris_predictions_total{species="virginica"} 1.0' in text
    assert 'iris_http_request_duration_seconds_count{route="/predict/batch"} 1.0' in text
    assert "iris_model_loaded 1.0" in text


def test_openapi_documents_every_endpoint(store, published):
    app = create_app(settings(store.root))
    unloaded = app.openapi()
    assert "no model is loaded yet" in unloaded["components"]["schemas"]["Features"]["description"]
    app.state.holder.served = serve_model(store.load())
    schema = app.openapi()
    assert {
        "/predict",
        "/predict/batch",
        "/v1/models/iris:predict",
        "/v1/models/iris",
        "/healthz",
        "/readyz",
        "/model",
        "/metrics",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/iris",
        "/v2/models/iris/ready",
        "/v2/models/iris/infer",
    } <= set(schema["paths"])
    assert schema["info"]["x-model-version"] == published
    flower = schema["components"]["schemas"]["Features"]
    assert flower["properties"]["sepal_length"]["maximum"] == 100
    assert flower["additionalProperties"] is False
    batch = schema["components"]["schemas"]["BatchRequest"]
    assert batch["properties"]["instances"]["maxItems"] == 10_000
    assert "V2InferRequest" in schema["components"]["schemas"]


@pytest.mark.parametrize("path", ["/predict/batch", "/v1/models/iris:predict"])
def test_a_body_that_is_not_utf8_is_422_not_a_crash(store, published, path):
    # NUL bytes make json.loads guess UTF-32 and raise outside JSONDecodeError
    with client_for(store.root) as client:
        response = client.post(
            path, content=b"\x00" * 5, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body: invalid JSON")
