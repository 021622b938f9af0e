"""What every controller shares: the context it runs in, its informer loop, object helpers."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.selectors import match_labels
from sandbox.apiserver import registry
from sandbox.apiserver.objects import ObjectApi
from sandbox.clock import Clock
from sandbox.controllers.queue import Key, WorkQueue
from sandbox.events import EventRecorder
from sandbox.resources import BY_PLURAL
from sandbox.storage.store import Store

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class Context:
    store: Store
    state_dir: Path
    clock: Clock
    events: EventRecorder


class Controller(ABC):
    """An informer-like loop: store events and a periodic resync feed a queue of keys.

    Subclasses name the resource they own (``resource``), the other resources whose changes
    concern them (``watches``), and implement ``reconcile``; it may return a delay in real
    seconds after which the key is looked at again.
    """

    resource: str = ""
    kind: str = ""
    watches: tuple[str, ...] = ()
    resync_seconds = 10.0
    component = "sandbox-controller-manager"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        # Deletions go through the API server's registry, as a real controller's DELETE does:
        # a pod gets its graceful termination, a kind its default propagation.
        self.api = ObjectApi(ctx.store)
        self.queue = WorkQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._unsubscribe = self.store.subscribe(self._on_event)

    def start(self) -> None:
        self._resync()
        self._thread.start()

    def stop(self) -> None:
        self._unsubscribe()
        self._stop.set()
        self.queue.close()
        self._thread.join(timeout=10)

    # ---- informer

    def _on_event(self, event_type: str, resource: str, obj: Obj) -> None:
        if resource == self.resource:
            self.queue.add(key_of(obj))
        elif resource in self.watches:
            for key in self.keys_for(resource, obj):
                self.queue.add(key)

    def keys_for(self, resource: str, obj: Obj) -> Iterable[Key]:
        """The owned objects a change of a watched object concerns: by default its owner."""
        ref = controller_ref(obj)
        if ref and ref.get("kind") == self.kind:
            yield (obj["metadata"].get("namespace") or "", ref["name"])

    def _resync(self) -> None:
        items, _ = self.store.list(self.resource)
        for obj in items:
            self.queue.add(key_of(obj))

    def _run(self) -> None:
        next_resync = time.monotonic() + self.resync_seconds
        while not self._stop.is_set():
            key = self.queue.get(timeout=max(0.0, next_resync - time.monotonic()))
            if time.monotonic() >= next_resync:
                next_resync = time.monotonic() + self.resync_seconds
                self._resync()
            if key is None:
                continue
            namespace, name = key
            try:
                again = self.reconcile(namespace, name)
            except ApiError as error:
                log.debug("%s %s/%s: %s; retrying", type(self).__name__, namespace, name, error)
                again = 1.0
            except Exception:
                log.exception("%s failed on %s/%s", type(self).__name__, namespace, name)
                again = 5.0
            if again is not None and not self._stop.is_set():
                self.queue.add(key, again)

    @abstractmethod
    def reconcile(self, namespace: str, name: str) -> float | None:
        """Make the world match object ``namespace/name`` (which may be gone)."""

    # ---- helpers

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        try:
            return self.store.get(resource, namespace or None, name)
        except ApiError as error:
            if error.code == 404:
                return None
            raise

    def create(self, resource: str, obj: Obj) -> Obj:
        """Create through the API server's defaulting, as a real controller's POST would."""
        kind = BY_PLURAL.get(resource)
        if kind is not None:
            registry.prepare(kind, obj, None, self.store)
        return self.store.create(resource, obj)

    def delete(
        self, resource: str, namespace: str | None, name: str, propagation: str | None = None
    ) -> bool:
        """DELETE an object as a controller's client does; False if it was already gone."""
        try:
            self.api.delete(BY_PLURAL[resource], namespace or None, name, propagation, False)
        except ApiError as error:
            if error.code == 404:
                return False
            raise
        return True

    def owned(self, resource: str, owner: Obj) -> list[Obj]:
        """The objects of ``resource`` whose controller reference is ``owner``."""
        meta = owner["metadata"]
        uid = meta.get("uid")
        items, _ = self.store.list(
            resource,
            meta.get("namespace"),
            where=lambda item: (controller_ref(item) or {}).get("uid") == uid,
        )
        return items

    def adopt(self, resource: str, owner: Obj) -> None:
        """ControllerRefManager: take as one's own the orphans (no controller reference) that
        the owner's selector matches, as after a ``--cascade=orphan`` delete and re-create,
        and let go of its own that the selector no longer matches (a relabelled pod is
        orphaned, and replaced). An owner being deleted adopts and releases nothing."""
        meta = owner["metadata"]
        if meta.get("deletionTimestamp"):
            return
        selector = (owner.get("spec") or {}).get("selector")
        if not selector:
            return
        reference = owner_reference(owner)

        def candidate(item: Obj) -> bool:
            # Only orphans (to claim) and its own (to release) can change hands.
            ref = controller_ref(item)
            return ref is None or ref.get("uid") == reference["uid"]

        items, _ = self.store.list(resource, meta.get("namespace"), where=candidate)
        for item in items:
            if resource == "pods" and not is_pod_active(item):
                continue  # claimPods is handed the active pods only (FilterActivePods)
            item_meta = item["metadata"]
            ref = controller_ref(item)
            matches = match_labels(selector, item_meta.get("labels"))
            if ref is not None and ref.get("uid") == reference["uid"] and not matches:
                change = _release
            elif ref is None and matches and not item_meta.get("deletionTimestamp"):
                change = _claim
            else:
                continue
            try:
                self.store.mutate(
                    resource,
                    item_meta.get("namespace"),
                    item_meta["name"],
                    partial(change, reference=reference),
                )
            except ApiError as error:
                if error.code != 404:
                    raise

    def event(self, obj: Obj, reason: str, message: str, *, type: str = "Normal") -> None:
        self.ctx.events.record(obj, reason, message, component=self.component, type=type)


def _claim(obj: Obj, reference: Obj) -> None:
    if controller_ref(obj) is None:
        obj["metadata"].setdefault("ownerReferences", []).append(dict(reference))


def _release(obj: Obj, reference: Obj) -> None:
    """Drop the reference to the owner (by uid), as the release patch does."""
    meta = obj["metadata"]
    kept = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid") != reference["uid"]]
    if kept:
        meta["ownerReferences"] = kept
    else:
        meta.pop("ownerReferences", None)


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def controller_ref(obj: Obj) -> Obj | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_reference(owner: Obj) -> Obj:
    """A controller reference to ``owner``, as controllers set on what they create."""
    return {
        "apiVersion": owner.get("apiVersion"),
        "kind": owner.get("kind"),
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(NAME_ALPHABET) for _ in range(length))


def condition(obj: Obj, type_: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def is_pod_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def is_pod_active(pod: Obj) -> bool:
    """controller.FilterActivePods: not finished and not being deleted (Terminating)."""
    return is_pod_running_or_pending(pod) and not pod["metadata"].get("deletionTimestamp")


def is_pod_running_or_pending(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def set_condition(
    conditions: list[Obj],
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: str,
    *,
    update_time: bool = False,
    touch: bool = False,
) -> list[Obj]:
    """Replace or add a condition; lastTransitionTime moves only when the status changes.

    Deployment conditions also carry lastUpdateTime (``update_time``), which moves on any
    change, or on ``touch`` (progress made without a change of condition).
    """
    result = [dict(c) for c in conditions]
    for cond in result:
        if cond.get("type") != type_:
            continue
        changed = (cond.get("status"), cond.get("reason"), cond.get("message")) != (
            status,
            reason,
            message,
        )
        if cond.get("status") != status:
            cond["lastTransitionTime"] = now
        if (changed or touch) and (update_time or "lastUpdateTime" in cond):
            cond["lastUpdateTime"] = now
        cond.update(status=status, reason=reason, message=message)
        return result
    added = {"type": type_, "status": status, "reason": reason, "message": message}
    added["lastTransitionTime"] = now
    if update_time:
        added["lastUpdateTime"] = now
    result.append(added)
    return result
