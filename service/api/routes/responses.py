"""The error responses each kind of route documents in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from service.api.schemas import ErrorResponse, V2Error


def documented_errors(*statuses: int, v2: bool = False) -> dict[int | str, dict[str, Any]]:
    model = V2Error if v2 else ErrorResponse
    descriptions = {
        400: "malformed request",
        401: "missing or invalid API key",
        413: "request body larger than MAX_BODY_BYTES",
        415: "unsupported Content-Type",
        422: "invalid field (the message names it)",
        503: "no model loaded yet",
    }
    return {status: {"model": model, "description": descriptions[status]} for status in statuses}
