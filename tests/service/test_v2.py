"""The Open Inference Protocol (V2), spoken by Triton's own HTTP client to a real iris-serve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from service.model_store import ModelStore
from tests.service.api_fixtures import ServeProcess, fitted_iris, publish, serve_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp: Path = tmp_path_factory.mktemp("v2")
    publish(ModelStore(tmp / "models"))
    with serve_process(tmp / "models", tmp) as process:
        yield process


@pytest.fixture
def client(server: ServeProcess) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        yield client
    finally:
        client.close()


def flowers(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform([4, 2, 1, 0.1], [8, 4.5, 7, 2.5], (rows, 4))


def test_health_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert not client.is_model_ready("roses")
    assert client.get_server_metadata()["name"] == "iris-serve"
    metadata = client.get_model_metadata("iris")
    assert metadata["name"] == "iris"
    assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
    assert [output["name"] for output in metadata["outputs"]] == ["label", "probabilities"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize(
    ("datatype", "dtype", "rtol"), [("FP64", np.float64, 1e-9), ("FP32", np.float32, 1e-6)]
)
def test_infer_equals_sklearn(client, binary, datatype, dtype, rtol):
    features = flowers(64, seed=5).astype(dtype)
    tensor = triton.InferInput("features", list(features.shape), datatype)
    tensor.set_data_from_numpy(features, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput("label", binary_data=binary),
        triton.InferRequestedOutput("probabilities", binary_data=binary),
    ]
    result = client.infer("iris", [tensor], outputs=outputs)

    model = fitted_iris()
    exact = features.astype(np.float64)
    labels = result.as_numpy("label")
    probabilities = result.as_numpy("probabilities")
    assert labels.dtype == np.int64
    assert probabilities.dtype == dtype and probabilities.shape == (64, 3)
    np.testing.assert_array_equal(labels, model.predict(exact))
    np.testing.assert_allclose(probabilities, model.predict_proba(exact), rtol=rtol, atol=1e-7)


def test_infer_returns_only_the_requested_outputs(client):
    tensor = triton.InferInput("features", [2, 4], "FP64")
    tensor.set_data_from_numpy(flowers(2, seed=1), binary_data=False)
    result = client.infer(
        "iris",
        [tensor],
        outputs=[triton.InferRequestedOutput("label", binary_data=False)],
        request_id="req-7",
    )
    assert result.as_numpy("label").shape == (2,)
    assert result.as_numpy("probabilities") is None
    assert result.get_response()["id"] == "req-7"


@pytest.mark.parametrize(
    ("shape", "values", "message"),
    [
        ([2, 3], np.ones((2, 3)), r"inputs\.0\.shape must be \[N, 4\]"),
        ([1, 4], np.array([[1.0, 2.0, 3.0, np.nan]]), "finite number from 0 to 100"),
        ([1, 4], np.array([[1.0, 2.0, 3.0, 101.0]]), "finite number from 0 to 100"),
    ],
)
def test_bad_tensors_are_refused_with_a_message(client, shape, values, message):
    tensor = triton.InferInput("features", shape, "FP64")
    tensor.set_data_from_numpy(values, binary_data=True)
    with pytest.raises(InferenceServerException, match=message):
        client.infer("iris", [tensor])


def test_unknown_output_is_refused(client):
    tensor = triton.InferInput("features", [1, 4], "FP64")
    tensor.set_data_from_numpy(flowers(1, seed=2), binary_data=False)
    with pytest.raises(InferenceServerException, match="unknown output 'logits'"):
        client.infer("iris", [tensor], outputs=[triton.InferRequestedOutput("logits")])
