"""PV protection: a deleted PersistentVolume stays (Terminating) while a claim is bound to it.

As pkg/controller/volume/pvprotection: every volume carries ``kubernetes.io/pv-protection``,
removed once the volume is being deleted and its phase is no longer Bound.
"""

from __future__ import annotations

from sandbox.apiserver.registry import PV_PROTECTION
from sandbox.controllers.base import Controller, Obj


class PvProtectionController(Controller):
    resource = "persistentvolumes"
    kind = "PersistentVolume"
    component = "pv-protection-controller"

    def reconcile(self, namespace: str, name: str) -> float | None:
        pv = self.get("persistentvolumes", "", name)
        if pv is None:
            return None
        meta = pv["metadata"]
        finalizers = meta.get("finalizers") or []
        if not meta.get("deletionTimestamp"):
            if PV_PROTECTION not in finalizers:
                self.store.mutate("persistentvolumes", None, name, _add_finalizer)
            return None
        bound = (pv.get("status") or {}).get("phase") == "Bound"
        if PV_PROTECTION in finalizers and not bound:
            self.store.mutate("persistentvolumes", None, name, _remove_finalizer)
        return None


def _add_finalizer(pv: Obj) -> None:
    if not pv["metadata"].get("deletionTimestamp"):
        pv["metadata"].setdefault("finalizers", []).append(PV_PROTECTION)


def _remove_finalizer(pv: Obj) -> None:
    kept = [f for f in pv["metadata"].get("finalizers") or [] if f != PV_PROTECTION]
    pv["metadata"]["finalizers"] = kept
