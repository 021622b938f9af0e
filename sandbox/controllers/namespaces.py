"""Namespaces: the ``default`` ServiceAccount of each, and deletion as the namespace controller
does it.

A deleted namespace is Terminating (deletionTimestamp, spec.finalizers ["kubernetes"]); this
controller deletes everything in it, reports progress in the status conditions the real
controller writes, and once nothing is left removes the ``kubernetes`` finalizer, which
deletes the namespace.  A namespace a stopped sandbox left Terminating finishes after restart.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from sandbox.apimachinery.errors import ApiError
from sandbox.clock import parse_time
from sandbox.controllers.base import Context, Controller, Obj
from sandbox.controllers.queue import Key
from sandbox.resources import BY_PLURAL, RESOURCES, Resource
from sandbox.storage.store import now_rfc3339

FINALIZER = "kubernetes"
# namespaceDeletionGracePeriod: the controller looks at a deleted namespace this long after
# each change, so clients deleting the namespace and then its objects (kubectl delete -k)
# find them still there.
DELETION_GRACE_SECONDS = 5.0
# What the controller assumes objects with finalizers need to go (finalizerEstimateSeconds).
FINALIZER_ESTIMATE = 15

# The condition types the namespace deleter maintains, with their "all is well" reason and
# message (status_condition_utils.go).
CONDITIONS = (
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentRemoved", "All content successfully removed"),
)

NAMESPACED = tuple(r for r in RESOURCES if r.namespaced and "delete" in r.verbs)


class NamespaceController(Controller):
    resource = "namespaces"
    kind = "Namespace"
    watches = tuple(r.plural for r in NAMESPACED)
    resync_seconds = 30.0
    component = "namespace-controller"

    def __init__(self, ctx: Context) -> None:
        self._terminating: set[str] = set()
        self._terminating_lock = threading.Lock()
        super().__init__(ctx)

    def _on_event(self, event_type: str, resource: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        if resource == "namespaces" and meta.get("deletionTimestamp"):
            delay = self.ctx.clock.real_seconds(DELETION_GRACE_SECONDS)
            self.queue.add(("", meta.get("name") or ""), delay)
            return
        super()._on_event(event_type, resource, obj)

    def keys_for(self, resource: str, obj: Obj) -> Iterable[Key]:
        # Content going away may finish a Terminating namespace: look again at once rather
        # than only after the estimate (the real controller waits for the estimate alone).
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        with self._terminating_lock:
            if namespace in self._terminating:
                yield ("", namespace)

    def reconcile(self, namespace: str, name: str) -> float | None:
        ns = self.get("namespaces", "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            with self._terminating_lock:
                self._terminating.discard(name)
        if ns is None:
            return None
        if not ns["metadata"].get("deletionTimestamp"):
            self._ensure_service_account(ns)
            return None
        with self._terminating_lock:
            self._terminating.add(name)
        return self._delete(ns)

    def _ensure_service_account(self, ns: Obj) -> None:
        name = ns["metadata"]["name"]
        if (ns.get("status") or {}).get("phase") != "Active":
            return
        if self.get("serviceaccounts", name, "default") is None:
            self.create(
                "serviceaccounts",
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": name},
                },
            )

    # ---- deletion (namespaced_resources_deleter.go)

    def _delete(self, ns: Obj) -> float | None:
        name = ns["metadata"]["name"]
        # Never sooner than the grace after the deletion, even for a key queued before it.
        waited = (
            datetime.now(UTC) - parse_time(ns["metadata"]["deletionTimestamp"])
        ).total_seconds()
        grace = self.ctx.clock.real_seconds(DELETION_GRACE_SECONDS)
        if waited < grace:
            return grace - waited
        if (ns.get("status") or {}).get("phase") != "Terminating":
            ns = self.store.mutate("namespaces", None, name, _terminating, subresource="status")
        if not (ns.get("spec") or {}).get("finalizers"):
            self._delete_namespace(name)
            return None
        estimate = self._delete_all_content(ns)
        if estimate > 0:
            return estimate // 2 + 1
        self.store.mutate("namespaces", None, name, _finalize)
        if self.get("namespaces", "", name) is not None:
            self._delete_namespace(name)
        return None

    def _delete_namespace(self, name: str) -> None:
        try:
            self.api.delete(BY_PLURAL["namespaces"], None, name, None, False)
        except ApiError as error:
            if error.code != 404:
                raise

    def _delete_all_content(self, ns: Obj) -> int:
        """Delete every object in the namespace; the estimate of seconds before what remains
        is gone (0 when nothing does), after writing the status conditions."""
        name = ns["metadata"]["name"]
        estimate = 0
        remaining: dict[Resource, int] = {}
        finalizers: dict[str, int] = {}
        errors: list[str] = []
        for resource in NAMESPACED:
            gvr_estimate = self._estimate(resource, name)
            items, _ = self.store.list(resource.plural, name)
            for item in items:
                try:
                    # OrphanDependents=false: the namespace is emptied, not its owners' trees.
                    self.api.delete(resource, name, item["metadata"]["name"], "Background", False)
                except ApiError as error:
                    if error.code != 404:
                        errors.append(error.message)
            left, _ = self.store.list(resource.plural, name)
            if not left:
                estimate = max(estimate, gvr_estimate)
                continue
            remaining[resource] = len(left)
            with_finalizers = 0
            for item in left:
                for finalizer in item["metadata"].get("finalizers") or []:
                    finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
                    with_finalizers += 1
            if gvr_estimate == 0 and with_finalizers:
                gvr_estimate = FINALIZER_ESTIMATE
            elif gvr_estimate == 0:
                errors.append(
                    f"unexpected items still remain in namespace: {name} for gvr: "
                    f"{resource.group}/{resource.version}, Resource={resource.plural}"
                )
            estimate = max(estimate, gvr_estimate)
        self._write_conditions(name, remaining, finalizers, errors)
        if errors and estimate == 0:
            # Content the namespace cannot lose yet: try again, as the controller's rate
            # limited queue does.
            return 1
        return estimate

    def _estimate(self, resource: Resource, namespace: str) -> int:
        """estimateGracefulTermination: pods not yet terminal may take their grace period."""
        if resource.plural != "pods":
            return 0
        pods, _ = self.store.list("pods", namespace)
        return max(
            (
                int((pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 0)
                for pod in pods
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            ),
            default=0,
        )

    def _write_conditions(
        self,
        name: str,
        remaining: dict[Resource, int],
        finalizers: dict[str, int],
        errors: list[str],
    ) -> None:
        failing: dict[str, tuple[str, str]] = {}
        if remaining:
            listed = sorted(
                f"{resource.plural}.{resource.group} has {count} resource instances"
                for resource, count in remaining.items()
            )
            failing["NamespaceContentRemaining"] = (
                "SomeResourcesRemain",
                f"Some resources are remaining: {', '.join(listed)}",
            )
        if finalizers:
            listed = sorted(f"{f} in {count} resource instances" for f, count in finalizers.items())
            failing["NamespaceFinalizersRemaining"] = (
                "SomeFinalizerRemain",
                f"Some finalizers are remaining: {', '.join(listed)}",
            )
        if errors:
            failing["NamespaceDeletionContentFailure"] = (
                "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(errors)} remaining: "
                + ", ".join(sorted(errors)),
            )
        now = now_rfc3339()

        def update(ns: Obj) -> None:
            status = ns.setdefault("status", {})
            conditions = status.setdefault("conditions", [])
            for type_, ok_reason, ok_message in CONDITIONS:
                wanted = (
                    ("True", *failing[type_])
                    if type_ in failing
                    else ("False", ok_reason, ok_message)
                )
                old = next((c for c in conditions if c.get("type") == type_), None)
                if old is None:
                    conditions.append(
                        {
                            "type": type_,
                            "status": wanted[0],
                            "lastTransitionTime": now,
                            "reason": wanted[1],
                            "message": wanted[2],
                        }
                    )
                    continue
                if old.get("status") != wanted[0]:
                    old["lastTransitionTime"] = now
                old.update(status=wanted[0], reason=wanted[1], message=wanted[2])

        self.store.mutate("namespaces", None, name, update, subresource="status")


def _terminating(ns: Obj) -> None:
    ns.setdefault("status", {})["phase"] = "Terminating"


def _finalize(ns: Obj) -> None:
    spec = ns.setdefault("spec", {})
    spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
