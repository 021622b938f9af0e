"""API key check for prediction and model endpoints (X-API-Key or Authorization: Bearer).

The comparison is constant-time, and the key never appears in a log line or an error.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

UNAUTHORIZED = "missing or invalid API key: send it as X-API-Key or Authorization: Bearer"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="iris-api"'}

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


class ApiKey:
    def __init__(self, key: str) -> None:
        self._key = key.encode("utf-8")

    def matches(self, candidate: bytes) -> bool:
        return hmac.compare_digest(candidate, self._key)

    def accepts_headers(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether raw ASGI headers carry the key (the fast path's check)."""
        for name, value in headers:
            if name == b"x-api-key" and self.matches(value):
                return True
            if (
                name == b"authorization"
                and value[:7].lower() == b"bearer "
                and self.matches(value[7:].strip())
            ):
                return True
        return False


def api_key_dependency(api_key: ApiKey) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that refuses requests without `api_key` (401)."""

    async def require_api_key(
        header_key: Annotated[str | None, Security(_api_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> None:
        for candidate in (header_key, bearer.credentials if bearer else None):
            # Starlette decodes headers as latin-1; this gives back the bytes that were sent.
            if candidate is not None and api_key.matches(candidate.encode("latin-1")):
                return
        raise HTTPException(401, UNAUTHORIZED, headers=CHALLENGE)

    return require_api_key
