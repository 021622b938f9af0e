"""Long-lived HTTP responses (watches, followed logs): reading lines and stopping them.

A thread blocked reading a stream is woken by shutting the socket down from another thread;
``StreamSlot`` holds the one open response of a reader so that ``interrupt`` can do that.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import urllib3


def iter_lines(response: urllib3.HTTPResponse) -> Iterator[str]:
    """The response body's lines (without the newline) as they arrive, chunk by chunk."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=True):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


class StreamSlot:
    """The response a reader thread is reading now, so another thread can interrupt it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._response: urllib3.HTTPResponse | None = None
        self._closed = False

    def hold(self, response: urllib3.HTTPResponse) -> bool:
        """Remember ``response``; False (and the response closed) if the slot is closed."""
        with self._lock:
            if self._closed:
                response.close()
                return False
            self._response = response
            return True

    def release(self) -> None:
        """Forget and close the current response (the reader is done with it)."""
        with self._lock:
            response, self._response = self._response, None
        if response is not None:
            response.close()

    def close(self) -> None:
        """Refuse new responses and wake the reader of the current one."""
        with self._lock:
            self._closed = True
            response = self._response
        if response is not None:
            try:
                response.shutdown()
            except (ValueError, OSError):
                # Already released or closed: the reader is not blocked on it.
                response.close()
