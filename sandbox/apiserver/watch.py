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

from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.selectors import field_matcher, label_matcher
from sandbox.storage.store import Store

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
    scope = _Scope(request)
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
            scope.start_at(
                store.list(request.resource, request.namespace)[0],
                store.states_at(since, request.resource) or {},
            )
            initial = [
                (event, obj) for _, event, resource, obj in history if resource == request.resource
            ]
            last_sent = max([since, *(entry[0] for entry in history)])
        for event, obj in initial:
            if shown := scope.translate(request.resource, event, obj):
                yield _line(shown, render(shown, obj))
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
            if shown := scope.translate(resource, event, obj):
                yield _line(shown, render(shown, obj))
    finally:
        unsubscribe()


class _Scope:
    """Which objects a watch shows; objects entering or leaving its selectors are reported
    as ADDED or DELETED, like the real API server does."""

    def __init__(self, request: WatchRequest):
        self.request = request
        self.labels_ok = label_matcher(request.label_selector)
        self.fields_ok = field_matcher(request.field_selector, request.resource)
        self.visible: set[str] = set()

    def _matches(self, obj: Obj) -> bool:
        return self.labels_ok(obj) and self.fields_ok(obj)

    def start_at(self, current: list[Obj], changed: dict[str, Obj | None]) -> None:
        """Visibility at the watch's starting version: the current objects, except those
        changed since, which count as they were then."""
        self.visible = {
            _uid(obj) for obj in current if _uid(obj) not in changed and self._matches(obj)
        }
        self.visible |= {
            uid for uid, before in changed.items() if before and self._in_scope(before)
        }

    def _in_scope(self, obj: Obj) -> bool:
        namespace = (obj.get("metadata") or {}).get("namespace")
        return self.request.namespace in (None, namespace) and self._matches(obj)

    def translate(self, resource: str, event: str, obj: Obj) -> str | None:
        """The event type this watch reports for a store event, or None to skip it."""
        namespace = (obj.get("metadata") or {}).get("namespace")
        if resource != self.request.resource or self.request.namespace not in (None, namespace):
            return None
        uid, matches = _uid(obj), self._matches(obj)
        was_visible = uid in self.visible
        if event == "DELETED" or not matches:
            self.visible.discard(uid)
            return "DELETED" if was_visible or (event == "DELETED" and matches) else None
        self.visible.add(uid)
        return "MODIFIED" if was_visible and event == "MODIFIED" else "ADDED"


def _uid(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def _bookmark(request: WatchRequest, version: int) -> Obj:
    return {
        "kind": request.kind,
        "apiVersion": request.api_version,
        "metadata": {"resourceVersion": str(version)},
    }
