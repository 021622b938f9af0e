"""PVC protection: a deleted claim stays (Terminating) while a pod still uses it.

As pkg/controller/volume/pvcprotection: every claim carries ``kubernetes.io/pvc-protection``;
once the claim is being deleted, the finalizer goes when no scheduled pod that names the claim
in its volumes exists any more (whatever its phase: only the pod's removal frees the claim).
"""

from __future__ import annotations

from collections.abc import Iterable

from sandbox.apiserver.registry import PVC_PROTECTION
from sandbox.controllers.base import Controller, Obj
from sandbox.controllers.queue import Key


def claims_of(pod: Obj) -> list[str]:
    return [
        volume["persistentVolumeClaim"]["claimName"]
        for volume in (pod.get("spec") or {}).get("volumes") or []
        if (volume.get("persistentVolumeClaim") or {}).get("claimName")
    ]


class PvcProtectionController(Controller):
    resource = "persistentvolumeclaims"
    kind = "PersistentVolumeClaim"
    watches = ("pods",)
    component = "pvc-protection-controller"

    def keys_for(self, resource: str, obj: Obj) -> Iterable[Key]:
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        for claim in claims_of(obj):
            yield (namespace, claim)

    def reconcile(self, namespace: str, name: str) -> float | None:
        pvc = self.get("persistentvolumeclaims", namespace, name)
        if pvc is None:
            return None
        meta = pvc["metadata"]
        finalizers = meta.get("finalizers") or []
        if not meta.get("deletionTimestamp"):
            if PVC_PROTECTION not in finalizers:
                self.store.mutate("persistentvolumeclaims", namespace, name, _add_finalizer)
            return None
        if PVC_PROTECTION in finalizers and not self._in_use(namespace, name):
            self.store.mutate("persistentvolumeclaims", namespace, name, _remove_finalizer)
        return None

    def _in_use(self, namespace: str, name: str) -> bool:
        pods, _ = self.store.list("pods", namespace)
        return any(
            (pod.get("spec") or {}).get("nodeName") and name in claims_of(pod) for pod in pods
        )


def _add_finalizer(pvc: Obj) -> None:
    if not pvc["metadata"].get("deletionTimestamp"):
        pvc["metadata"].setdefault("finalizers", []).append(PVC_PROTECTION)


def _remove_finalizer(pvc: Obj) -> None:
    kept = [f for f in pvc["metadata"].get("finalizers") or [] if f != PVC_PROTECTION]
    pvc["metadata"]["finalizers"] = kept
