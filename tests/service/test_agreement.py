"""For random rows of each signature, the fast path, the FastAPI path and the scikit-learn
pipeline give the same prediction; and serving a pickle-free model never imports scikit-learn."""

from __future__ import annotations

import json
import math
import subprocess
import sys
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
from service.model_store import LoadedModel, ModelStore
from service.settings import TrainSettings
from service.signature import Feature
from service.train import train
from tests.service.api_fixtures import settings as serve_settings

DATASETS = {
    "iris": lambda folder: TrainSettings(model_dir=folder / "models"),
    "wine": lambda folder: TrainSettings(
        model_dir=folder / "models", train_data=write_wine(folder / "wine.csv")
    ),
    "churn": lambda folder: TrainSettings(
        model_dir=folder / "models",
        train_data=write_customers(folder / "customers.csv"),
        label_column="churned",
    ),
    "wine-regression": lambda folder: TrainSettings(
        model_dir=folder / "models",
        train_data=write_wine(folder / "wine.csv"),
        label_column="alcohol",
    ),
}


@pytest.fixture(scope="module", params=sorted(DATASETS))
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LoadedModel, TestClient, TestClient]]:
    folder = tmp_path_factory.mktemp(request.param)
    config = DATASETS[request.param](folder)
    train(config)
    loaded = ModelStore(config.model_dir).load()
    serving = serve_settings(config.model_dir)
    apps = []
    for fast in (True, False):
        app = create_app(serving)
        app.state.holder.served = serve_model(ModelStore(config.model_dir).load())
        apps.append(with_fast_path(app, serving) if fast else app)
    with TestClient(apps[0]) as fast_client, TestClient(apps[1]) as plain_client:
        yield loaded, fast_client, plain_client


def value(feature: Feature) -> st.SearchStrategy[Any]:
    if feature.kind == "categorical":
        choice: st.SearchStrategy[Any] = st.sampled_from(feature.categories)
    else:
        low, high = feature.bounds or (feature.minimum - 10, feature.maximum + 10)  # type: ignore[operator]
        choice = st.floats(low, high, allow_nan=False) | st.integers(math.ceil(low), int(high))
    return choice | st.none() if feature.nullable else choice


@st.composite
def rows(draw: st.DrawFn, loaded: LoadedModel) -> dict[str, Any]:
    return {f.name: draw(value(f)) for f in loaded.signature.features}


def encoded(loaded: LoadedModel, row: dict[str, Any]) -> list[float]:
    out = []
    for feature in loaded.signature.features:
        item = row[feature.name]
        if item is None:
            out.append(math.nan)
        elif feature.kind == "categorical":
            out.append(float(feature.categories.index(item)))
        else:
            out.append(float(item))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fast_path_fastapi_and_the_pipeline_agree(served, data):
    loaded, fast, plain = served
    row = data.draw(rows(loaded))
    body = json.dumps(row).encode()
    headers = {"Content-Type": "application/json"}
    answered = fast.post("/predict", content=body, headers=headers)
    expected = plain.post("/predict", content=body, headers=headers)
    assert answered.status_code == expected.status_code == 200
    assert answered.content == expected.content
    answer = answered.json()
    features = np.array([encoded(loaded, row)])
    signature = loaded.signature
    if signature.task == "regression":
        truth = float(loaded.estimator.predict(features)[0])
        assert answer[signature.target] == pytest.approx(truth, rel=1e-9, abs=1e-9)
        return
    proba = loaded.estimator.predict_proba(features)[0]
    got = [answer["probabilities"][name] for name in signature.class_names]
    np.testing.assert_allclose(got, proba, rtol=1e-9, atol=1e-12)
    if np.sort(proba)[-1] - np.sort(proba)[-2] > 1e-9:  # not a tie
        assert answer[signature.index_key] == int(np.argmax(proba))


def test_serving_a_pickle_free_model_imports_no_scikit_learn(tmp_path: Path) -> None:
    train(TrainSettings(model_dir=tmp_path / "models", train_data=write_wine(tmp_path / "w.csv")))
    code = (
        "import sys\n"
        "from service.api import create_app\n"
        "from service.api.model_holder import serve_model\n"
        "from service.model_store import ModelStore\n"
        "from service.settings import ServeSettings\n"
        f"root = {str(tmp_path / 'models')!r}\n"
        "create_app(ServeSettings(model_dir=root))\n"
        "served = serve_model(ModelStore(root).load())\n"
        "print(type(served.predictor).__name__, served.predictor.predict_row([13.0] * 13)[0])\n"
        "print(sorted(m for m in ('sklearn', 'joblib', 'scipy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    predictor, modules = result.stdout.splitlines()
    assert predictor.startswith("PreparedPredictor ")
    assert modules == "[]"
