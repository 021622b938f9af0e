"""The hot endpoints (POST /predict, /predict/batch, /v1/models/iris:predict), answered
without FastAPI's per-request machinery.

FastAPI's routing, dependency solving and pydantic validation cost ~150 us a request (and
milliseconds for a 1000-row batch), against ~2 us for one prediction. This middleware answers
only requests it can prove valid for the served model's signature (service.api.row_checks):
a JSON body the route's pydantic model would accept, the
right Content-Type, a body within MAX_BODY_BYTES, the API key when one is set, and a model
loaded. Its answers are built by the same functions as the FastAPI routes'. Anything else,
errors included, is replayed byte for byte to the FastAPI app, so error messages and the
OpenAPI schema have a single source: the routes and their models.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import orjson
import simdjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.auth import ApiKey
from service.api.json_response import render
from service.api.metrics import ApiMetrics, access_log, log_access
from service.api.model_holder import ModelHolder, ServedModel
from service.api.predictions import batch_answer, predict_one, v1_answer
from service.api.routes.predict import BATCH_PATH, PREDICT_PATH, V1_PATH

log = logging.getLogger("iris.serve")

_JSON_TYPE = b"application/json"
# The bytes of JSON numbers and whitespace; what a batch body holds besides them is its
# skeleton: {"instancs":[[,,,],[,,,]]} (the key loses its e).
_NUMBER_AND_SPACE_BYTES = b"0123456789.-+eE \t\r\n"
_BATCH_SKELETON_START = b'{"instances":['.translate(None, _NUMBER_AND_SPACE_BYTES)
_BATCH_SKELETON_END = b"]}"

# A handler gets the body and returns the response body, or None when the request is not
# certainly valid (FastAPI then answers it).
Handler = Callable[[ServedModel, bytes], bytes | None]


def valid_rows(
    body: bytes,
    max_rows: int,
    n_features: int,
    low: float | np.ndarray = 0.0,
    high: float | np.ndarray = 100.0,
) -> np.ndarray | None:
    """The rows of a valid batch body of numbers ({"instances": [[...], ...]}), or None.

    Mirrors BatchRequest for an all-numeric signature (bounds `low` to `high`), without
    building a Python object per number (which costs more than the predictions): the body's
    skeleton, what is left without numbers and whitespace, must be exactly that of
    `n_features` numbers per row, so there are no strings, booleans, nulls, other keys,
    nesting or ragged rows. Then simdjson parses the whole document, which proves it is one
    valid JSON value, and copies its numbers straight into a float64 buffer.
    """
    skeleton = body.translate(None, _NUMBER_AND_SPACE_BYTES)
    rows = skeleton.count(b"[") - 1
    if not 1 <= rows <= max_rows:
        return None
    row = b"[" + b"," * (n_features - 1) + b"]"
    expected = _BATCH_SKELETON_START + (row + b",") * (rows - 1) + row + _BATCH_SKELETON_END
    if skeleton != expected:
        return None
    try:
        # A parser per call: a parser's documents die with its next parse, and this one's
        # end with the call however it ends. Creating one costs well under a microsecond.
        document = simdjson.Parser().parse(body)
        # The key lookup also refuses "instancEs", whose skeleton is the same.
        instances = document.get("instances") if isinstance(document, simdjson.Object) else None
        if not isinstance(instances, simdjson.Array):
            return None
        values = np.frombuffer(instances.as_buffer(of_type="d"), dtype=np.float64)
    except (ValueError, TypeError, RuntimeError):  # not JSON, or a number too big for float64
        return None
    shaped = values.reshape(rows, n_features)
    if not ((shaped >= low) & (shaped <= high)).all():  # NaN fails both
        return None
    return shaped


class FastPathMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        holder: ModelHolder,
        metrics: ApiMetrics,
        api_key: ApiKey | None,
        max_body_bytes: int,
        max_batch: int,
    ) -> None:
        self.app = app
        self.holder = holder
        self.metrics = metrics
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.max_batch = max_batch
        self.handlers: dict[str, Handler] = {
            PREDICT_PATH: self._predict,
            BATCH_PATH: self._batch,
            V1_PATH: self._v1,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        served = self.holder.served
        if served is None or not self._acceptable(scope["headers"]):
            await self.app(scope, receive, send)
            return
        messages, body = await self._read_body(receive)
        try:
            response = None if body is None else handler(served, body)
        except Exception:  # a bug here must not cost the request: FastAPI's path answers it
            log.exception("fast path failed; answering through FastAPI")
            response = None
        if response is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", _JSON_TYPE),
                    (b"content-length", str(len(response)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response})
        elapsed = time.perf_counter() - start
        self.metrics.observe_request(scope["path"], "POST", 200, elapsed)
        if access_log.isEnabledFor(logging.DEBUG):
            log_access("POST", scope["path"], 200, elapsed)

    def _predict(self, served: ServedModel, body: bytes) -> bytes | None:
        try:
            row = served.checker.named(orjson.loads(body))
        except orjson.JSONDecodeError:
            return None
        return None if row is None else render(predict_one(served, row, self.metrics))

    def _rows(self, served: ServedModel, body: bytes) -> np.ndarray | None:
        checker = served.checker
        rows = None
        if checker.all_numeric:
            rows = valid_rows(body, self.max_batch, checker.n_features, checker.low, checker.high)
        return rows if rows is not None else checker.instances(body, self.max_batch)

    def _batch(self, served: ServedModel, body: bytes) -> bytes | None:
        rows = self._rows(served, body)
        return None if rows is None else render(batch_answer(served, rows, self.metrics))

    def _v1(self, served: ServedModel, body: bytes) -> bytes | None:
        rows = self._rows(served, body)
        return None if rows is None else render(v1_answer(served, rows, self.metrics))

    def _acceptable(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """Content-Type JSON (or none), a declared length within the limit, the key if set."""
        for name, value in headers:
            if name == b"content-type":
                if value.split(b";", 1)[0].strip().lower() != _JSON_TYPE:
                    return False
            elif name == b"content-length" and (
                not value.isdigit() or int(value) > self.max_body_bytes
            ):
                return False
        return self.api_key is None or self.api_key.accepts_headers(headers)

    async def _read_body(self, receive: Receive) -> tuple[list[Message], bytes | None]:
        """The messages read, and the whole body (None if it is over the limit or cut off)."""
        messages = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages, None
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return messages, None
            if not message.get("more_body", False):
                break
        if len(messages) == 1:
            return messages, messages[0].get("body", b"")
        return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive() that yields `messages` again, then continues with the real one."""
    pending = list(reversed(messages))

    async def replaying_receive() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replaying_receive
