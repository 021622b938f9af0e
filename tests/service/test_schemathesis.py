"""Property tests over the whole OpenAPI schema: no input gives a 5xx, every answer conforms.

schemathesis generates valid and invalid requests for every operation from the app's own
schema; hypothesis then checks that the fast path answers exactly as FastAPI does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from service.api import create_app, with_fast_path
from service.api.fast_path import valid_rows
from service.api.model_holder import serve_model
from service.data import FEATURE_NAMES
from service.model_store import ModelStore
from tests.service.api_fixtures import publish
from tests.service.api_fixtures import settings as serve_settings


def app_with_model(model_dir: Path, fast_path: bool = True, **overrides: Any) -> Any:
    """An app with the published model already loaded (no lifespan, no reloader thread)."""
    served_settings = serve_settings(model_dir, **overrides)
    app = create_app(served_settings)
    app.state.holder.served = serve_model(ModelStore(model_dir).load())
    return with_fast_path(app, served_settings) if fast_path else app


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("schemathesis") / "models"
    publish(ModelStore(root))
    return root


@pytest.fixture(scope="module")
def api_schema(model_dir: Path) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app_with_model(model_dir, max_batch=50))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors_and_conforming_responses(case: Any) -> None:
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])


@pytest.fixture(scope="module")
def twin_clients(model_dir: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The same model behind the fast path and behind FastAPI alone."""
    fast = TestClient(app_with_model(model_dir, max_batch=20), raise_server_exceptions=False)
    plain = TestClient(
        app_with_model(model_dir, fast_path=False, max_batch=20), raise_server_exceptions=False
    )
    with fast, plain:
        yield fast, plain


values = st.one_of(
    st.floats(min_value=-1, max_value=120),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-5, max_value=150),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.floats(0, 10), max_size=2),
)
flowers = st.dictionaries(
    st.sampled_from([*FEATURE_NAMES, "colour"]), values, min_size=0, max_size=5
) | st.fixed_dictionaries({name: st.floats(0, 100) for name in FEATURE_NAMES})
rows = st.lists(values, min_size=3, max_size=5) | st.lists(
    st.floats(0, 100) | st.integers(0, 100), min_size=4, max_size=4
)
batches = st.fixed_dictionaries({"instances": st.lists(rows, min_size=0, max_size=25)}) | (
    st.dictionaries(st.sampled_from(["instances", "rows"]), st.lists(rows, max_size=3))
)


def _encode(body: Any) -> bytes:
    # allow_nan: JSON has no NaN, but clients send it anyway and must get a 422.
    return json.dumps(body, allow_nan=True).encode()


def _same_answer(clients: tuple[TestClient, TestClient], path: str, body: bytes) -> None:
    fast, plain = clients
    headers = {"Content-Type": "application/json"}
    answered = fast.post(path, content=body, headers=headers)
    expected = plain.post(path, content=body, headers=headers)
    assert answered.status_code == expected.status_code
    assert answered.content == expected.content
    assert answered.status_code in (200, 422)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=flowers)
def test_fast_path_answers_single_rows_exactly_like_fastapi(twin_clients, body):
    _same_answer(twin_clients, "/predict", _encode(body))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=batches)
def test_fast_path_answers_batches_exactly_like_fastapi(twin_clients, body):
    encoded = _encode(body)
    _same_answer(twin_clients, "/predict/batch", encoded)
    _same_answer(twin_clients, "/v1/models/iris:predict", encoded)


VALID_BATCH_BODIES = [
    b' {"instances" : [ [ 1 , 2 , 3 , 4 ] ,\n[5,6,7,8] ] } ',
    b'{"instances": [[-0,2.0,3e0,4E-0]]}',
]
INVALID_BATCH_BODIES = [
    b'{"instancEs": [[1,2,3,4]]}',
    b'{"instancese": [[1,2,3,4]]}',
    b'{"\\u0069nstances": [[1,2,3,4]]}',
    b'{"instances": [[1 2,3,4]]}',
    b'{"instances": [[1,2,3,4][5,6,7,8]]}',
    b'{"instances": [[1,2,3,4],[5,6,7,8]], "x": 1}',
    b'{"instances": [[1,2,3,4]], "instances": [[5,6,7,8]]}',
    b'{"instances": [[01,2,3,4]]}',
    b'{"instances": [[+1,2,3,4]]}',
    b'{"instances": [[1.,2,3,4]]}',
    b'{"instances": [[1e999,2,3,4]]}',
    b'{"instances": [[99999999999999999999999,2,3,4]]}',
    b'{"instances": [[1,2,3,4],]}',
    b'{"instances": [[1,2,3,4]]',
    b'{"instances": [[1,2,3,4]]}{"instances": [[1,2,3,4]]}',
    b'{"instances": [[[1],2,3,4]]}',
    b'{"instances": [[],[1,2,3,4]]}',
    b'{"instances": []}',
    b'{"instances": [[1,2,3,4]]} 5',
    b'7 {"instances": [[1,2,3,4]]}',
    b'\xef\xbb\xbf{"instances": [[1,2,3,4]]}',
]


@pytest.mark.parametrize("body", VALID_BATCH_BODIES + INVALID_BATCH_BODIES)
def test_fast_path_answers_tricky_batch_bodies_like_fastapi(twin_clients, body):
    _same_answer(twin_clients, "/predict/batch", body)


def test_batch_parser_takes_valid_json_in_any_layout_and_nothing_else():
    assert valid_rows(VALID_BATCH_BODIES[0], 10, 4).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert valid_rows(VALID_BATCH_BODIES[1], 10, 4).tolist() == [[0, 2, 3, 4]]
    assert valid_rows(VALID_BATCH_BODIES[0], 1, 4) is None  # more rows than MAX_BATCH
    for body in INVALID_BATCH_BODIES:
        assert valid_rows(body, 10, 4) is None, body
