"""Watch streams: store events bridged from writer threads to newline-delimited JSON.

A watch subscribes before it reads the store, starts from a list (no resourceVersion or "0")
or from the retained history (410 Expired when that is too old), then forwards every later
event that matches its namespace and selectors, one flushed line per event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sandbox.selectors import field_matcher, label_matcher
from sandbox.store import ApiError, Store

Obj = dict[str, Any]
Render = Callable[[str, Obj], Obj]

BOOKMARK_INTERVAL = 2.0


@dataclass
class WatchRequest:
    resource: str
    kind: str
    api_version: str
    namespace: str | None
    label_selector: str | None
    field_selector: str | None
    resource_version: str | None
    timeout: float
    bookmarks: bool


def _line(event: str, obj: Obj) -> bytes:
    return json.dumps({"type": event, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _version(obj: Obj) -> int:
    return int((obj.get("metadata") or {}).get("resourceVersion") or 0)


async def watch_events(store: Store, request: WatchRequest, render: Render) -> AsyncIterator[bytes]:
    """Yield one JSON line per event until the timeout or the client goes away."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, str, Obj]] = asyncio.Queue()

    def on_event(event: str, resource: str, obj: Obj) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (event, resource, obj))

    unsubscribe = store.subscribe(on_event)
    labels_ok = label_matcher(request.label_selector)
    fields_ok = field_matcher(request.field_selector)

    def wanted(resource: str, obj: Obj) -> bool:
        namespace = (obj.get("metadata") or {}).get("namespace")
        return (
            resource == request.resource
            and (request.namespace is None or namespace == request.namespace)
            and labels_ok(obj)
            and fields_ok(obj)
        )

    try:
        initial: list[tuple[str, Obj]]
        if request.resource_version in (None, "", "0"):
            items, last_sent = store.list(request.resource, request.namespace)
            initial = [("ADDED", item) for item in items]
        else:
            try:
                since = int(str(request.resource_version))
            except ValueError:
                since = -1
            history = store.events_since(since) if since >= 0 else None
            if history is None:
                expired = ApiError(
                    410,
                    "Expired",
                    f"too old resource version: {request.resource_version} "
                    f"({store.resource_version})",
                )
                yield _line("ERROR", expired.status())
                return
            initial = [
                (event, obj) for _, event, resource, obj in history if resource == request.resource
            ]
            last_sent = max([since, *(entry[0] for entry in history)])
        for event, obj in initial:
            if wanted(request.resource, obj):
                yield _line(event, render(event, obj))
        deadline = loop.time() + request.timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                event, resource, obj = await asyncio.wait_for(
                    queue.get(), min(remaining, BOOKMARK_INTERVAL)
                )
            except TimeoutError:
                if request.bookmarks:
                    yield _line("BOOKMARK", _bookmark(request, last_sent))
                continue
            version = _version(obj)
            if version <= last_sent:
                continue
            last_sent = version
            if wanted(resource, obj):
                yield _line(event, render(event, obj))
    finally:
        unsubscribe()


def _bookmark(request: WatchRequest, version: int) -> Obj:
    return {
        "kind": request.kind,
        "apiVersion": request.api_version,
        "metadata": {"resourceVersion": str(version)},
    }
