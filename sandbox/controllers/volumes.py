"""PersistentVolumeClaims: bound at once to a directory of the sandbox's state folder.

Like minikube's hostpath provisioner, every claim gets a volume named ``pvc-<uid>`` whose data
lives in ``<state>/volumes/<namespace>/<claim>``; the data outlives pods, not the claim's dir.
"""

from __future__ import annotations

from sandbox import paths
from sandbox.controllers.base import Controller, Obj

DEFAULT_STORAGE_CLASS = "standard"


class VolumeClaimController(Controller):
    resource = "persistentvolumeclaims"
    kind = "PersistentVolumeClaim"
    component = "persistentvolume-controller"

    def reconcile(self, namespace: str, name: str) -> float | None:
        pvc = self.get("persistentvolumeclaims", namespace, name)
        if pvc is None or (pvc.get("status") or {}).get("phase") == "Bound":
            return None
        paths.volume_dir(self.ctx.state_dir, namespace, name).mkdir(parents=True, exist_ok=True)
        volume = f"pvc-{pvc['metadata']['uid']}"
        self.store.mutate("persistentvolumeclaims", namespace, name, lambda c: _bind(c, volume))
        self.store.mutate(
            "persistentvolumeclaims", namespace, name, _bound_status, subresource="status"
        )
        self.event(
            pvc,
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume}",
        )
        return None


def _bind(pvc: Obj, volume: str) -> None:
    spec = pvc.setdefault("spec", {})
    spec["volumeName"] = volume
    spec.setdefault("storageClassName", DEFAULT_STORAGE_CLASS)
    annotations = pvc["metadata"].setdefault("annotations", {})
    annotations["pv.kubernetes.io/bind-completed"] = "yes"
    annotations["pv.kubernetes.io/bound-by-controller"] = "yes"


def _bound_status(pvc: Obj) -> None:
    spec = pvc.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    pvc["status"] = {
        "phase": "Bound",
        "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
        "capacity": {"storage": storage},
    }
