"""Record core/v1 Events about objects, aggregating repeats as the real event recorder does."""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.clock import format_time
from sandbox.storage.store import Store

log = logging.getLogger(__name__)

HOST = "sandbox"


class EventRecorder:
    """Writes Events; the same (object, reason, message) bumps ``count`` instead of a new one."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str, str, str], str] = {}

    def record(
        self,
        obj: dict[str, Any],
        reason: str,
        message: str,
        *,
        component: str,
        type: str = "Normal",
        field_path: str | None = None,
    ) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        involved: dict[str, Any] = {
            "kind": obj.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "apiVersion": obj.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if field_path:
            involved["fieldPath"] = field_path
        key = (namespace, meta.get("uid") or "", reason, message, field_path or "")
        now = format_time()
        with self._lock:
            existing = self._seen.get(key)
            if existing is not None:
                try:
                    self._store.mutate(
                        "events", namespace, existing, lambda event: _repeat(event, now)
                    )
                    return
                except ApiError:
                    del self._seen[key]
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{meta.get('name')}.{secrets.token_hex(8)}",
                    "namespace": namespace,
                },
                "involvedObject": {k: v for k, v in involved.items() if v is not None},
                "reason": reason,
                "message": message,
                "type": type,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "eventTime": None,
                "source": {"component": component, "host": HOST},
                "reportingComponent": component,
                "reportingInstance": HOST,
            }
            try:
                created = self._store.create("events", event)
            except ApiError as error:
                # The namespace may be going away with the object: not worth failing for.
                log.debug("event %s on %s not recorded: %s", reason, meta.get("name"), error)
                return
            self._seen[key] = created["metadata"]["name"]


def _repeat(event: dict[str, Any], now: str) -> None:
    event["count"] = int(event.get("count") or 1) + 1
    event["lastTimestamp"] = now
