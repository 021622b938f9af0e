"""The object store: every API object as a plain dict, one resourceVersion counter, watch history.

Deletion follows the API server's registry: an object with finalizers is only marked
(deletionTimestamp) and goes once an update removes its last finalizer; the propagation
policy becomes the garbage collector's finalizers (orphan, foregroundDeletion).  The store
never touches dependents: the garbage-collector controller does.

Thread-safe (one re-entrant lock), in memory, and persisted to ``<state>/objects.json`` by a
background flusher shortly after each write (and on ``close()``), so a restarted sandbox finds
its objects again.  The store knows nothing of HTTP; defaulting and validation live in the
server, controllers write through ``mutate``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.field import Path as FieldPath
from sandbox.apimachinery.field import required
from sandbox.apimachinery.selectors import field_matcher, label_matcher

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (resource, namespace or "", name)
Listener = Callable[[str, str, Obj], None]
ObjList = list[Obj]
History = list[tuple[int, str, str, Obj]]

HISTORY_SIZE = 5000
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
FLUSH_DELAY = 0.2
FLUSH_SPACING = 4  # the flusher waits 4x its last save: at most a fifth of the time


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deletion_finalizers(finalizers: list[str], propagation: str | None, default: str) -> list[str]:
    """The finalizers a DELETE leaves, as deletionFinalizersForGarbageCollection computes them:
    the request's policy wins, then a garbage-collector finalizer already set, then the
    kind's default."""
    policy = propagation
    if policy is None:
        if ORPHAN_FINALIZER in finalizers:
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in finalizers:
            policy = "Foreground"
        else:
            policy = default
    kept = [f for f in finalizers if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
    if policy == "Orphan":
        kept.append(ORPHAN_FINALIZER)
    elif policy == "Foreground":
        kept.append(FOREGROUND_FINALIZER)
    return kept


def _should_delete_during_update(resource: str, new: Obj, stored: Obj) -> bool:
    """ShouldDeleteDuringUpdate: the last finalizer of an object being deleted is gone (and,
    for namespaces, the last spec.finalizers entry too)."""
    old_meta = stored["metadata"]
    if new["metadata"].get("finalizers") or not old_meta.get("deletionTimestamp"):
        return False
    if old_meta.get("deletionGracePeriodSeconds") not in (None, 0):
        return False
    return not (resource == "namespaces" and (new.get("spec") or {}).get("finalizers"))


class Compacted(Exception):
    """A read at a resourceVersion the history no longer reaches (etcd's ErrCompacted)."""

    def __init__(self, version: int):
        super().__init__(f"resourceVersion {version} is older than the history kept")
        self.version = version


def etcd_key(key: Key) -> str:
    """Where etcd keeps an object, below its resource's prefix: ``<namespace>/<name>``, or
    ``<name>`` for a cluster-scoped one; lists come back in the order of these strings."""
    _, namespace, name = key
    return f"{namespace}/{name}" if namespace else name


def _key(resource: str, namespace: str | None, name: str) -> Key:
    return (resource, namespace or "", name)


def _key_of(resource: str, obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return _key(resource, meta.get("namespace"), meta.get("name", ""))


class Store:
    """All objects of the sandbox, keyed by (resource, namespace, name)."""

    def __init__(self, state_dir: Path | None):
        self._lock = threading.RLock()
        self._objects: dict[Key, Obj] = {}
        # The same objects by resource: a list of services must not walk a thousand pods,
        # and controllers list small kinds on every pod event.
        self._by_resource: dict[str, dict[Key, Obj]] = {}
        self.resource_version = 1
        # (resourceVersion, event, resource, object, object before the write or None)
        self._history: deque[tuple[int, str, str, Obj, Obj | None]] = deque(maxlen=HISTORY_SIZE)
        self._history_floor = self.resource_version
        self._snapshots: dict[Key, Obj] = {}  # the latest recorded state of each object
        self._listeners: list[Listener] = []
        self._pending: deque[tuple[str, str, Obj]] = deque()
        self._dispatch_lock = threading.RLock()
        self._path = state_dir / "objects.json" if state_dir else None
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        if self._path:
            self._load()
            self._flusher = threading.Thread(target=self._flush_loop, name="store-flush")
            self._flusher.daemon = True
            self._flusher.start()

    # ----------------------------------------------------------------- reads

    def get(self, resource: str, namespace: str | None, name: str) -> Obj:
        with self._lock:
            obj = self._objects.get(_key(resource, namespace, name))
            if obj is None:
                raise ApiError.not_found(resource, name)
            return copy.deepcopy(obj)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        at: int | None = None,
        where: Callable[[Obj], bool] | None = None,
    ) -> tuple[ObjList, int]:
        """The objects of ``resource`` that match, in etcd's key order, and the version they
        are at: now, or ``at`` (an earlier resourceVersion, as a chunked list's pages read
        one snapshot). A version older than the watch history raises Compacted.

        ``where`` picks among the stored objects before any is copied (it must only read
        them): a controller asking for the few pods it owns must not pay for copying every
        pod of the namespace, as the informer's index spares a real one."""
        labels_ok = label_matcher(label_selector)
        fields_ok = field_matcher(field_selector, resource)
        with self._lock:
            if at is None or at >= self.resource_version:
                objects = self._by_resource.get(resource, {})
                version = self.resource_version
            else:
                snapshot = self._objects_at(resource, at)
                if snapshot is None:
                    raise Compacted(at)
                objects, version = snapshot, at
            chosen = [
                (key, obj)
                for key, obj in objects.items()
                if (namespace is None or key[1] == namespace)
                and labels_ok(obj)
                and fields_ok(obj)
                and (where is None or where(obj))
            ]
            chosen.sort(key=lambda entry: etcd_key(entry[0]))
            return [copy.deepcopy(obj) for _, obj in chosen], version

    def _objects_at(self, resource: str, version: int) -> dict[Key, Obj] | None:
        """The objects of ``resource`` as they were at ``version``, rebuilt from the history
        (None when that is too old); the caller holds the lock and copies what it returns."""
        before = self.states_at(version, resource)
        if before is None:
            return None
        objects: dict[Key, Obj] = {}
        for key, obj in self._by_resource.get(resource, {}).items():
            if obj["metadata"].get("uid", "") not in before:
                objects[key] = obj
        for old in before.values():
            if old is not None:
                objects[_key_of(resource, old)] = old
        return objects

    def events_since(self, resource_version: int) -> History | None:
        """Write events after ``resource_version``; None when that version is too old (410)."""
        with self._lock:
            if resource_version < self._history_floor:
                return None
            return [
                (rv, kind, resource, copy.deepcopy(obj))
                for rv, kind, resource, obj, _ in self._history
                if rv > resource_version
            ]

    def states_at(self, resource_version: int, resource: str) -> dict[str, Obj | None] | None:
        """For each object of ``resource`` written after ``resource_version``: its state at that
        version (None if it did not exist yet), keyed by uid; None when that is too old."""
        with self._lock:
            if resource_version < self._history_floor:
                return None
            states: dict[str, Obj | None] = {}
            for rv, _, kind, obj, previous in self._history:
                uid = obj["metadata"].get("uid", "")
                if rv > resource_version and kind == resource and uid not in states:
                    states[uid] = copy.deepcopy(previous)
            return states

    # ---------------------------------------------------------------- writes

    def create(self, resource: str, obj: Obj) -> Obj:
        """Store a new object, filling its identity (a uid already set is kept)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        with self._lock:
            if not meta.get("name"):
                prefix = meta.get("generateName")
                if not prefix:
                    raise ApiError.invalid(
                        resource,
                        "",
                        [required(FieldPath("metadata.name"), "name or generateName is required")],
                    )
                meta["name"] = self._generate_name(resource, meta.get("namespace"), prefix)
            key = _key_of(resource, obj)
            if key in self._objects:
                raise ApiError.already_exists(resource, meta["name"])
            meta["uid"] = meta.get("uid") or str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            for transient in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(transient, None)
            self._write(resource, key, obj, "ADDED")
            result = copy.deepcopy(obj)
        self._dispatch()
        return result

    def update(self, resource: str, obj: Obj, *, subresource: str | None = None) -> Obj:
        meta = obj.get("metadata") or {}
        with self._lock:
            key = _key_of(resource, obj)
            stored = self._objects.get(key)
            if stored is None:
                raise ApiError.not_found(resource, meta.get("name", ""))
            wanted_rv = meta.get("resourceVersion")
            if wanted_rv and str(wanted_rv) != stored["metadata"]["resourceVersion"]:
                raise ApiError.conflict(
                    resource,
                    key[2],
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again",
                )
            if subresource == "status":
                new = copy.deepcopy(stored)
                if "status" in obj:
                    new["status"] = copy.deepcopy(obj["status"])
            else:
                new = copy.deepcopy(obj)
                if "status" in stored:
                    new["status"] = copy.deepcopy(stored["status"])
                else:
                    new.pop("status", None)
            result = self._replace(resource, key, stored, new)
        self._dispatch()
        return result

    def mutate(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        fn: Callable[[Obj], None],
        *,
        subresource: str | None = None,
    ) -> Obj:
        """Read-modify-write under the lock; a change that changes nothing writes nothing."""
        with self._lock:
            key = _key(resource, namespace, name)
            stored = self._objects.get(key)
            if stored is None:
                raise ApiError.not_found(resource, name)
            new = copy.deepcopy(stored)
            fn(new)
            if subresource == "status":
                status = new.get("status")
                new = copy.deepcopy(stored)
                new["status"] = status
            result = self._replace(resource, key, stored, new)
        self._dispatch()
        return result

    def delete(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        propagation: str | None = None,
        *,
        default_policy: str = "Background",
        uid: str | None = None,
    ) -> Obj:
        """Delete as the registry does: remove the object, or only mark it while finalizers
        (its own, or the one ``propagation`` asks the garbage collector for) remain.

        ``default_policy`` is the kind's policy when neither the request nor an existing
        finalizer says; ``uid`` is a precondition, as the garbage collector sends.
        """
        with self._lock:
            key = _key(resource, namespace, name)
            stored = self._objects.get(key)
            if stored is None:
                raise ApiError.not_found(resource, name)
            meta = stored["metadata"]
            if uid and meta.get("uid") != uid:
                raise ApiError.conflict(
                    resource,
                    name,
                    f"Precondition failed: UID in precondition: {uid}, "
                    f"UID in object meta: {meta.get('uid')}",
                )
            finalizers = deletion_finalizers(
                meta.get("finalizers") or [], propagation, default_policy
            )
            if finalizers:
                new = copy.deepcopy(stored)
                new_meta = new["metadata"]
                new_meta["finalizers"] = finalizers
                new_meta.setdefault("deletionTimestamp", now_rfc3339())
                new_meta["deletionGracePeriodSeconds"] = 0
                result = self._replace(resource, key, stored, new)
            else:
                result = self._remove(key)
        self._dispatch()
        return result

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(event, resource, obj)`` after each write, outside the lock. ``obj``
        is the write's recorded snapshot, shared with the watch history and every listener:
        it must only be read (a listener that keeps or changes it copies it)."""
        with self._dispatch_lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._dispatch_lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def flush(self) -> None:
        """Write the objects to disk now rather than a moment after the last write."""
        self._save()

    def close(self) -> None:
        """Stop the flusher and write the objects one last time."""
        self._closed.set()
        if self._flusher:
            self._flusher.join(timeout=5)
        self._save()

    # -------------------------------------------------------------- internals

    def _generate_name(self, resource: str, namespace: str | None, prefix: str) -> str:
        while True:
            name = prefix + uuid.uuid4().hex[:5]
            if _key(resource, namespace, name) not in self._objects:
                return name

    def _replace(self, resource: str, key: Key, stored: Obj, new: Obj) -> Obj:
        meta = new.setdefault("metadata", {})
        old_meta = stored["metadata"]
        for fixed in ("uid", "creationTimestamp", "name", "namespace"):
            if fixed in old_meta:
                meta[fixed] = old_meta[fixed]
        # Like rest.BeforeUpdate: an update never removes a deletion that has begun.
        if old_meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = old_meta["deletionTimestamp"]
            if "deletionGracePeriodSeconds" in old_meta:
                meta.setdefault(
                    "deletionGracePeriodSeconds", old_meta["deletionGracePeriodSeconds"]
                )
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        generation = old_meta.get("generation", 1)
        changed = new.get("spec") != stored.get("spec")
        # markAsDeleting bumps the generation when a deletion begins.
        marked = bool(meta.get("deletionTimestamp")) and not old_meta.get("deletionTimestamp")
        meta["generation"] = generation + 1 if changed or marked else generation
        meta["resourceVersion"] = old_meta.get("resourceVersion")
        if _should_delete_during_update(resource, new, stored):
            self._remove(key)
            return copy.deepcopy(new)
        if new == stored:
            # Like the real server: a write that changes nothing keeps the resourceVersion.
            return copy.deepcopy(stored)
        self._write(resource, key, new, "MODIFIED")
        return copy.deepcopy(new)

    def _write(self, resource: str, key: Key, obj: Obj, event: str) -> None:
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        self._objects[key] = obj
        self._by_resource.setdefault(key[0], {})[key] = obj
        self._record(key, event, obj)

    def _remove(self, key: Key) -> Obj:
        """Remove an object; watchers see its last stored state (as etcd hands it) at a new
        resourceVersion."""
        obj = self._objects.pop(key)
        del self._by_resource[key[0]][key]
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        self._record(key, "DELETED", obj)
        return copy.deepcopy(obj)

    def _record(self, key: Key, event: str, obj: Obj) -> None:
        if len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0][0]
        snapshot = copy.deepcopy(obj)
        # The state before this write is the previous snapshot: shared, not copied again.
        if event == "DELETED":
            previous = self._snapshots.pop(key, None)
        else:
            previous = self._snapshots.get(key)
            self._snapshots[key] = snapshot
        resource = key[0]
        self._history.append((self.resource_version, event, resource, snapshot, previous))
        self._pending.append((event, resource, snapshot))
        self._dirty.set()

    def _dispatch(self) -> None:
        """Deliver pending events in write order, outside the store lock."""
        with self._dispatch_lock:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    event, resource, obj = self._pending.popleft()
                for listener in list(self._listeners):
                    try:
                        # The recorded snapshot itself, shared: a copy for each of some
                        # twenty listeners (controllers, every open watch) made each write
                        # cost as much as the writes of twenty.
                        listener(event, resource, obj)
                    except Exception:
                        log.exception("store listener failed on %s %s", event, resource)

    # ------------------------------------------------------------ persistence

    def _load(self) -> None:
        assert self._path is not None
        if not self._path.exists():
            return
        try:
            data = json.loads(self._path.read_text())
        except (OSError, ValueError) as error:
            raise SystemExit(f"cannot read the sandbox state {self._path}: {error}") from error
        self.resource_version = int(data.get("resourceVersion", 1))
        self._history_floor = self.resource_version
        for entry in data.get("objects", []):
            obj = entry["object"]
            key = _key_of(entry["resource"], obj)
            self._objects[key] = obj
            self._by_resource.setdefault(key[0], {})[key] = obj
            self._snapshots[key] = copy.deepcopy(obj)

    def _save(self) -> None:
        if not self._path:
            return
        # Stored objects are replaced on writes, never changed in place, so a shallow copy
        # taken under the lock can be serialised outside it without holding up writers.
        with self._lock:
            self._dirty.clear()
            version, objects = self.resource_version, list(self._objects.items())
        objects.sort(key=lambda entry: entry[0])
        data = {
            "resourceVersion": version,
            "objects": [{"resource": key[0], "object": obj} for key, obj in objects],
        }
        text = json.dumps(data, separators=(",", ":"))
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".json.tmp")
        tmp.write_text(text)
        os.replace(tmp, self._path)

    def _flush_loop(self) -> None:
        delay = FLUSH_DELAY
        while not self._closed.is_set():
            if self._dirty.wait(timeout=0.5) and not self._closed.wait(delay):
                started = time.monotonic()
                try:
                    self._save()
                except OSError:
                    log.exception("cannot write the sandbox state")
                # Each save writes every object: with thousands stored and writes never
                # pausing, saving every FLUSH_DELAY took most of a core (and the GIL) from
                # the server. Waiting in proportion to the last save bounds its share.
                delay = max(FLUSH_DELAY, (time.monotonic() - started) * FLUSH_SPACING)
