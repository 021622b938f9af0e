"""Request guards that run before any parsing: body size (413) and content type (415).

The size limit holds for chunked bodies too: the body is counted as it arrives and the
request is refused as soon as it passes MAX_BODY_BYTES, without buffering the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"


def media_type(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower().decode("latin-1")
    return None


def content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestGuardMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, accepted_types: Mapping[str, frozenset[str]]
    ) -> None:
        """`accepted_types` maps a POST route's path to the media types it accepts."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.accepted_types = accepted_types
        self.too_large = (
            f"request body is larger than MAX_BODY_BYTES ({max_body_bytes} bytes); split the batch"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = scope["headers"]
        accepted = self.accepted_types.get(path)
        if accepted is not None and scope["method"] == "POST":
            given = media_type(headers)
            # No Content-Type at all is read as JSON (as FastAPI does): curl -d sets one,
            # and the V2 clients send none.
            if given is not None and given not in accepted:
                wanted = " or ".join(sorted(accepted))
                response = error_response(415, f"Content-Type must be {wanted}, not {given}", path)
                await response(scope, receive, send)
                return
        declared = content_length(headers)
        if declared is not None and declared > self.max_body_bytes:
            await error_response(413, self.too_large, path)(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, self.too_large)
            return message

        return receive_within_limit
