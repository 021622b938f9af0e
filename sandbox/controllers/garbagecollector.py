"""The garbage collector: what happens to dependents when their owners go, as kube-controller-
manager's garbagecollector does it.

It keeps a graph of ownerReferences (owner uid -> dependents) from the store's events and
works on one object at a time (keyed by resource and uid):

- an object whose owners are all gone (or waiting in foreground deletion) is deleted, in
  foreground if it has dependents of its own and an owner waits for it;
- an object with some owners left loses the references to the gone ones;
- an owner with the ``orphan`` finalizer has its references removed from every dependent,
  then the finalizer;
- an owner with the ``foregroundDeletion`` finalizer has its dependents deleted and loses the
  finalizer once no dependent with ``blockOwnerDeletion`` is left.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sandbox.apimachinery.errors import ApiError
from sandbox.controllers.base import Context, Controller, Obj
from sandbox.resources import BY_PLURAL, RESOURCES, Resource
from sandbox.storage.store import FOREGROUND_FINALIZER, ORPHAN_FINALIZER


@dataclass
class _Node:
    resource: str
    namespace: str
    name: str
    owners: dict[str, bool] = field(default_factory=dict)  # owner uid -> blockOwnerDeletion
    deleting: bool = False


def _owners(obj: Obj) -> dict[str, bool]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return {ref["uid"]: bool(ref.get("blockOwnerDeletion")) for ref in refs if ref.get("uid")}


def _resource_of(ref: Obj) -> Resource | None:
    api_version = str(ref.get("apiVersion") or "")
    group = api_version.split("/")[0] if "/" in api_version else ""
    for resource in RESOURCES:
        if resource.kind == ref.get("kind") and resource.group == group:
            return resource
    return None


class GarbageCollector(Controller):
    resource = ""
    kind = ""
    resync_seconds = 60.0
    component = "garbage-collector-controller"

    def __init__(self, ctx: Context) -> None:
        self._graph_lock = threading.Lock()
        self._nodes: dict[str, _Node] = {}
        self._dependents: dict[str, set[str]] = {}
        super().__init__(ctx)

    # ---- the graph

    def _on_event(self, event_type: str, resource: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        if not uid:
            return
        wake: set[tuple[str, str]] = set()
        with self._graph_lock:
            old = self._nodes.get(uid)
            old_owners = old.owners if old else {}
            if event_type == "DELETED":
                self._forget(uid)
                # Its dependents may now be dangling; a foreground owner may be unblocked.
                wake |= self._keys(self._dependents.get(uid, set()))
                wake |= self._keys(set(old_owners))
            else:
                node = self._remember(resource, uid, obj)
                if node.deleting:
                    wake.add((resource, uid))
                    if FOREGROUND_FINALIZER in (meta.get("finalizers") or []):
                        wake |= self._keys(self._dependents.get(uid, set()))
                if node.owners and (old is None or node.owners != old_owners):
                    wake.add((resource, uid))
                    wake |= self._keys(set(old_owners) - set(node.owners))
        for key in wake:
            self.queue.add(key)

    def _remember(self, resource: str, uid: str, obj: Obj) -> _Node:
        meta = obj["metadata"]
        self._forget(uid)
        finalizers = meta.get("finalizers") or []
        node = _Node(
            resource,
            meta.get("namespace") or "",
            meta.get("name") or "",
            _owners(obj),
            bool(meta.get("deletionTimestamp"))
            and (ORPHAN_FINALIZER in finalizers or FOREGROUND_FINALIZER in finalizers),
        )
        self._nodes[uid] = node
        for owner in node.owners:
            self._dependents.setdefault(owner, set()).add(uid)
        return node

    def _forget(self, uid: str) -> None:
        node = self._nodes.pop(uid, None)
        if node is None:
            return
        for owner in node.owners:
            dependents = self._dependents.get(owner)
            if dependents is not None:
                dependents.discard(uid)
                if not dependents:
                    del self._dependents[owner]

    def _keys(self, uids: set[str]) -> set[tuple[str, str]]:
        return {(self._nodes[uid].resource, uid) for uid in uids if uid in self._nodes}

    def _resync(self) -> None:
        keys: set[tuple[str, str]] = set()
        for resource in RESOURCES:
            items, _ = self.store.list(resource.plural)
            with self._graph_lock:
                for obj in items:
                    uid = obj["metadata"].get("uid")
                    if uid and uid not in self._nodes:
                        self._remember(resource.plural, uid, obj)
        with self._graph_lock:
            keys = {(n.resource, uid) for uid, n in self._nodes.items() if n.owners or n.deleting}
        for key in keys:
            self.queue.add(key)

    def dependents(self, uid: str) -> list[tuple[str, _Node]]:
        """The objects whose ownerReferences name ``uid``: (their uid, their node)."""
        with self._graph_lock:
            return [
                (dep, self._nodes[dep])
                for dep in self._dependents.get(uid, set())
                if dep in self._nodes
            ]

    # ---- the work

    def reconcile(self, namespace: str, name: str) -> float | None:
        resource, uid = namespace, name
        with self._graph_lock:
            node = self._nodes.get(uid)
        if node is None:
            return None
        obj = self.get(resource, node.namespace, node.name)
        if obj is None or obj["metadata"].get("uid") != uid:
            return None
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if ORPHAN_FINALIZER in finalizers:
                self._orphan_dependents(obj)
            elif FOREGROUND_FINALIZER in finalizers:
                self._delete_dependents(obj)
            return None
        if meta.get("ownerReferences"):
            self._attempt_to_delete(resource, obj)
        return None

    def _attempt_to_delete(self, resource: str, obj: Obj) -> None:
        meta = obj["metadata"]
        solid, gone = [], []
        waiting = False
        for ref in meta.get("ownerReferences") or []:
            state = self._owner_state(ref, meta.get("namespace") or "")
            if state == "solid":
                solid.append(ref)
            else:
                gone.append(ref["uid"])
                waiting = waiting or state == "waiting"
        if solid:
            if gone:
                self._drop_references(resource, meta.get("namespace"), meta["name"], set(gone))
            return
        if waiting and self.dependents(meta["uid"]):
            policy = "Foreground"
        elif ORPHAN_FINALIZER in (meta.get("finalizers") or []):
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in (meta.get("finalizers") or []):
            policy = "Foreground"
        else:
            policy = "Background"
        self._delete(resource, obj, policy)

    def _owner_state(self, ref: Obj, namespace: str) -> str:
        """solid (present), dangling (gone: absent, or another object by that name) or
        waiting (in foreground deletion)."""
        kind = _resource_of(ref)
        if kind is None:
            return "solid"  # not a kind the sandbox serves: nothing can tell it is gone
        owner = self.get(kind.plural, namespace if kind.namespaced else "", ref.get("name", ""))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return "dangling"
        owner_meta = owner["metadata"]
        if owner_meta.get("deletionTimestamp") and FOREGROUND_FINALIZER in (
            owner_meta.get("finalizers") or []
        ):
            return "waiting"
        return "solid"

    def _orphan_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        for _, node in self.dependents(uid):
            try:
                self._drop_references(node.resource, node.namespace, node.name, {uid})
            except ApiError as error:
                if error.code != 404:
                    raise
        self._remove_finalizer(owner, ORPHAN_FINALIZER)

    def _delete_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        dependents = self.dependents(uid)
        for dep_uid, node in dependents:
            self.queue.add((node.resource, dep_uid))
        if not any(node.owners.get(uid) for _, node in dependents):
            self._remove_finalizer(owner, FOREGROUND_FINALIZER)

    # ---- writes

    def _drop_references(
        self, resource: str, namespace: str | None, name: str, uids: set[str]
    ) -> None:
        def drop(obj: Obj) -> None:
            refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r["uid"] not in uids]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                obj["metadata"].pop("ownerReferences", None)

        self.store.mutate(resource, namespace or None, name, drop)

    def _remove_finalizer(self, obj: Obj, finalizer: str) -> None:
        meta = obj["metadata"]

        def remove(latest: Obj) -> None:
            if latest["metadata"].get("uid") != meta["uid"]:
                return
            kept = [f for f in latest["metadata"].get("finalizers") or [] if f != finalizer]
            latest["metadata"]["finalizers"] = kept

        try:
            self.store.mutate(obj_resource(obj), meta.get("namespace"), meta["name"], remove)
        except ApiError as error:
            if error.code != 404:
                raise

    def _delete(self, resource: str, obj: Obj, policy: str) -> None:
        meta = obj["metadata"]
        try:
            # Through the API's delete, as the real collector's DELETE request: pods then
            # terminate gracefully.
            self.api.delete(BY_PLURAL[resource], meta.get("namespace"), meta["name"], policy, False)
        except ApiError as error:
            if error.code != 404:
                raise


def obj_resource(obj: Obj) -> str:
    """The plural of an object's kind and group, from its apiVersion and kind."""
    kind = _resource_of(obj)
    if kind is None:
        raise ApiError.bad_request(f"unknown kind {obj.get('kind')}")
    return kind.plural
