"""Every error as JSON with a one-line `detail` naming the field: never a traceback.

V2 (Open Inference Protocol) routes answer `{"error": "..."}`, the shape its clients read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.api.json_response import JsonResponse

log = logging.getLogger("iris.serve")

V2_PREFIX = "/v2/"


def field_path(loc: Sequence[str | int]) -> str:
    """("body", "instances", 0, 2) -> "instances.0.2"; the body itself is "body"."""
    parts = [str(part) for part in loc[1:]] if loc and loc[0] == "body" else list(map(str, loc))
    return ".".join(parts) or "body"


def _error_json(status: int, detail: str, errors: list[dict[str, str]], path: str) -> Response:
    content: dict[str, Any]
    if path.startswith(V2_PREFIX):
        content = {"error": detail}
    else:
        content = {"detail": detail, "errors": errors}
    return JsonResponse(content, status_code=status)


def error_response(
    status: int, detail: str, path: str, headers: Mapping[str, str] | None = None
) -> Response:
    response = _error_json(status, detail, [], path)
    if headers:
        response.headers.update(headers)
    return response


def validation_errors(errors: Sequence[Any]) -> tuple[str, list[dict[str, str]]]:
    """Pydantic's errors as (one line, [{field, message, type}]); inputs are not echoed."""
    fields = []
    for error in errors:
        message = str(error.get("msg", "invalid value"))
        loc = error.get("loc", ())
        if error.get("type") == "json_invalid":
            # FastAPI puts the character position where a field name would be.
            reason = error.get("ctx", {}).get("error", message)
            message = f"invalid JSON at position {loc[-1] if loc else 0}: {reason}"
            loc = ("body",)
        fields.append(
            {
                "field": field_path(loc),
                "message": message,
                "type": str(error.get("type", "value_error")),
            }
        )
    shown = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:3])
    more = f" (and {len(fields) - 3} more)" if len(fields) > 3 else ""
    return (shown + more) or "invalid request", fields


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail, fields = validation_errors(exc.errors())
    return _error_json(422, detail, fields, request.url.path)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), request.url.path, exc.headers)


async def _on_unexpected_error(request: Request, exc: Exception) -> Response:
    log.error(
        "unexpected error",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"path": request.url.path},
    )
    return error_response(500, "internal error; see the server log", request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
