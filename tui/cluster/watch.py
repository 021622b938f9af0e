"""Live views of the namespace's objects: list once, then follow a watch from that version.

One ``ResourceWatcher`` thread per kind. It lists the kind (a RESYNC event carrying every
object), then watches from the list's resourceVersion. When the server ends a watch normally
(its timeout), it watches again from the last version seen, without listing; only a 410 Gone
(the version is too old for the server's history) makes it list again. A broken connection
is reported through ``on_state`` and retried with back-off (1, 2, 4 … 10 s). An idle view
therefore makes no list requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kubernetes.client.rest import ApiException

from tui.cluster.connection import (
    REQUEST_TIMEOUT,
    ClusterError,
    Connection,
    call_json,
    call_raw,
    cluster_error,
)
from tui.cluster.kinds import KINDS as ALL_KINDS
from tui.cluster.kinds import WATCHED
from tui.cluster.streams import StreamSlot, iter_lines

KINDS = WATCHED

DEFAULT_WATCH_TIMEOUT = 300
MAX_BACKOFF = 10.0


class ConnectionState(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


@dataclass(frozen=True)
class WatchEvent:
    """A change of one object, or (``type == "RESYNC"``) the complete current list."""

    kind: str
    type: str  # ADDED | MODIFIED | DELETED | RESYNC
    obj: dict[str, Any] | None = None
    items: list[dict[str, Any]] | None = None


class _Gone(Exception):
    """The watch's resourceVersion is older than the server's history: list again."""


class ResourceWatcher:
    """Keeps one kind of the namespace in view; callbacks run in the watcher's thread."""

    def __init__(
        self,
        conn: Connection,
        kind: str,
        on_event: Callable[[WatchEvent], None],
        on_state: Callable[[str, ConnectionState, str], None],
        *,
        watch_timeout: int = DEFAULT_WATCH_TIMEOUT,
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        spec = ALL_KINDS[kind]
        self._field_selector = spec.field_selector
        self._list_fn = spec.method(conn, "list")
        self.conn = conn
        self.kind = kind
        self.on_event = on_event
        self.on_state = on_state
        self.watch_timeout = watch_timeout
        self.max_backoff = max_backoff
        self.state = ConnectionState.CONNECTING
        self.resource_version: str | None = None
        self._stop = threading.Event()
        self._slot = StreamSlot()
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def interrupt(self) -> None:
        """Ask the thread to stop, waking it out of a blocked read; does not wait."""
        self._stop.set()
        self._slot.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait for the thread to end."""
        self.interrupt()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        self._report(ConnectionState.CONNECTING, f"listing {self.kind}")
        backoff = 1.0
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch()
                backoff = 1.0
            except _Gone:
                self.resource_version = None
            except Exception as exc:
                if self._stop.is_set():
                    break
                error = cluster_error(exc, f"watch {self.kind} in {self.conn.namespace}")
                self._report(ConnectionState.RECONNECTING, f"{error}; retrying in {backoff:g} s")
                if self._stop.wait(backoff):
                    break
                backoff = min(backoff * 2, self.max_backoff)

    def _list(self) -> None:
        body = call_json(self._list_fn, self.conn.namespace, field_selector=self._field_selector)
        items = body.get("items") or []
        self.resource_version = body["metadata"]["resourceVersion"]
        self._report(ConnectionState.CONNECTED, "")
        self.on_event(WatchEvent(self.kind, "RESYNC", items=items))

    def _watch(self) -> None:
        try:
            response = call_raw(
                self._list_fn,
                self.conn.namespace,
                field_selector=self._field_selector,
                watch=True,
                resource_version=self.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_timeout,
                # The read timeout notices a silently dead connection; the server itself ends
                # a healthy watch after watch_timeout.
                _request_timeout=(REQUEST_TIMEOUT[0], self.watch_timeout + 30),
            )
        except ApiException as exc:
            if exc.status == 410:
                raise _Gone from exc
            raise
        if not self._slot.hold(response):
            return
        self._report(ConnectionState.CONNECTED, "")
        try:
            for line in iter_lines(response):
                if self._stop.is_set():
                    return
                if line.strip():
                    self._handle(json.loads(line))
        finally:
            self._slot.release()

    def _handle(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone
            raise ClusterError(str(obj.get("message") or "the watch failed"))
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = version
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self.on_event(WatchEvent(self.kind, str(kind), obj=obj))

    def _report(self, state: ConnectionState, message: str) -> None:
        if state is self.state and state is ConnectionState.CONNECTED:
            return
        self.state = state
        self.on_state(self.kind, state, message)


class NamespaceWatch:
    """All of ``KINDS`` (or the kinds given) watched together, with one pair of callbacks."""

    def __init__(
        self,
        conn: Connection,
        on_event: Callable[[WatchEvent], None],
        on_state: Callable[[str, ConnectionState, str], None],
        kinds: tuple[str, ...] = KINDS,
        **options: Any,
    ) -> None:
        self.watchers = {
            kind: ResourceWatcher(conn, kind, on_event, on_state, **options) for kind in kinds
        }

    def start(self) -> None:
        for watcher in self.watchers.values():
            watcher.start()

    def stop(self) -> None:
        for watcher in self.watchers.values():
            watcher.interrupt()
        for watcher in self.watchers.values():
            watcher.stop()
