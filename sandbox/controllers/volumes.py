"""The PersistentVolume controller and minikube's hostpath provisioner, as one loop per claim.

A new volume nobody claims is Available; a claim first binds to the smallest Available volume
that fits it (same class, enough capacity, its access modes, or the volume it names).  Else a
claim of the class ``standard`` (provisioner k8s.io/minikube-hostpath, reclaimPolicy Delete,
volumeBindingMode Immediate) gets a PersistentVolume ``pvc-<claim uid>`` whose hostPath is a
folder of the sandbox state (``<state>/volumes/<namespace>/<claim>``, minikube's layout), and
both are bound.  A claim without a class, made while no class was the default, gets the
default once there is one.  A bound claim asking for more than its volume holds, of a class
that allows expansion (the admission plugin let it through), gets it at once: the volume's
capacity, then the claim's, follow the request, as the resizer and the kubelet's online file
system expansion leave them.  When the claim is gone its volume is Released; with reclaimPolicy
Delete the provisioner then removes the folder and deletes the volume, with Retain both stay.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from sandbox import paths
from sandbox.apimachinery import quantity
from sandbox.apimachinery.errors import ApiError
from sandbox.controllers.base import Context, Controller, Obj
from sandbox.controllers.pvcprotection import claims_of
from sandbox.controllers.queue import Key
from sandbox.resources import BY_PLURAL, NODE_NAME
from sandbox.storage.store import now_rfc3339
from sandbox.storageclasses import claim_class, default_class, expandable

DEFAULT_STORAGE_CLASS = "standard"
PROVISIONER = "k8s.io/minikube-hostpath"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
_VOLUME_KEY = "pv/"  # keys ("", "pv/<name>"): a volume without a claim (claims are namespaced)
_PROVISIONER_ANNOTATIONS = (
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
)


class VolumeClaimController(Controller):
    resource = "persistentvolumeclaims"
    kind = "PersistentVolumeClaim"
    watches = ("persistentvolumes", "pods")
    component = "persistentvolume-controller"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        # minikube's provisioner labels its volumes with its identity and signs its events.
        self.identity = str(uuid.uuid5(uuid.NAMESPACE_URL, str(ctx.state_dir.resolve())))
        self.provisioner_component = f"{PROVISIONER}_{NODE_NAME}_{self.identity}"

    def keys_for(self, resource: str, obj: Obj) -> Iterable[Key]:
        if resource == "pods":
            # A first consumer: what a WaitForFirstConsumer claim waits for.
            namespace = obj["metadata"].get("namespace") or ""
            for claim in claims_of(obj):
                yield (namespace, claim)
            return
        ref = (obj.get("spec") or {}).get("claimRef")
        if ref:
            yield (ref.get("namespace") or "", ref.get("name") or "")
        else:
            yield ("", _VOLUME_KEY + obj["metadata"]["name"])

    def _resync(self) -> None:
        super()._resync()
        volumes, _ = self.store.list("persistentvolumes")
        for pv in volumes:
            for key in self.keys_for("persistentvolumes", pv):
                self.queue.add(key)

    def reconcile(self, namespace: str, name: str) -> float | None:
        if not namespace and name.startswith(_VOLUME_KEY):
            return self._sync_unclaimed(name.removeprefix(_VOLUME_KEY))
        pvc = self.get("persistentvolumeclaims", namespace, name)
        uid = pvc["metadata"]["uid"] if pvc else None
        bound: Obj | None = None
        for pv in self._volumes_of(namespace, name):
            if uid and pv["spec"]["claimRef"].get("uid") == uid:
                bound = pv
            else:
                self._release(pv)
        if pvc is None:
            return None
        if bound is not None:
            self._bind(pvc, self._expand(pvc, bound))
            return None
        spec = pvc.get("spec") or {}
        if (pvc.get("status") or {}).get("phase") in ("Bound", "Lost") and spec.get("volumeName"):
            return self._lost(pvc)
        if pvc["metadata"].get("deletionTimestamp"):
            return None
        match = self._find_match(pvc)
        if match is not None:
            self._bind(pvc, self._claim_volume(match, pvc))
            return None
        if (pvc.get("spec") or {}).get("volumeName"):
            return None  # waits for the volume it names
        return self._provision(pvc)

    def _lost(self, pvc: Obj) -> float | None:
        """A bound claim whose volume is gone: Lost, as the real controller says, unless it is
        a claim of a sandbox from before PersistentVolumes, whose folder is still there."""
        meta = pvc["metadata"]
        folder = paths.volume_dir(self.ctx.state_dir, meta["namespace"], meta["name"])
        if pvc["spec"]["volumeName"] == f"pvc-{meta['uid']}" and folder.is_dir():
            return self._provision(pvc)
        if (pvc.get("status") or {}).get("phase") != "Lost":
            self.store.mutate(
                "persistentvolumeclaims",
                meta["namespace"],
                meta["name"],
                lambda claim: claim.setdefault("status", {}).update(phase="Lost"),
                subresource="status",
            )
            self.event(
                pvc,
                "ClaimLost",
                "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                type="Warning",
            )
        return None

    # ---- volumes made by hand

    def _sync_unclaimed(self, name: str) -> float | None:
        pv = self.get("persistentvolumes", "", name)
        if (
            pv is None
            or (pv.get("spec") or {}).get("claimRef")
            or pv["metadata"].get("deletionTimestamp")
        ):
            return None
        if (pv.get("status") or {}).get("phase") != "Available":
            now = now_rfc3339()
            self.store.mutate(
                "persistentvolumes",
                None,
                name,
                lambda v: v.update(status={"phase": "Available", "lastPhaseTransitionTime": now}),
                subresource="status",
            )
        claims, _ = self.store.list("persistentvolumeclaims")
        for claim in claims:
            if (claim.get("status") or {}).get("phase") == "Pending":
                self.queue.add((claim["metadata"]["namespace"], claim["metadata"]["name"]))
        return None

    def _find_match(self, pvc: Obj) -> Obj | None:
        """findBestMatchForClaim: the smallest Available volume that satisfies the claim."""
        spec = pvc.get("spec") or {}
        wanted = _bytes(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
        modes = set(spec.get("accessModes") or [])
        candidates = []
        volumes, _ = self.store.list("persistentvolumes")
        for pv in volumes:
            pv_spec = pv.get("spec") or {}
            if spec.get("volumeName") and pv["metadata"]["name"] != spec["volumeName"]:
                continue
            if pv_spec.get("claimRef") or pv["metadata"].get("deletionTimestamp"):
                continue
            if (pv.get("status") or {}).get("phase") != "Available":
                continue
            if (pv_spec.get("storageClassName") or "") != (spec.get("storageClassName") or ""):
                continue
            if pv_spec.get("volumeMode", "Filesystem") != spec.get("volumeMode", "Filesystem"):
                continue
            size = _bytes((pv_spec.get("capacity") or {}).get("storage"))
            if size < wanted or not modes <= set(pv_spec.get("accessModes") or []):
                continue
            candidates.append((size, pv["metadata"]["name"], pv))
        return min(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None

    def _claim_volume(self, pv: Obj, pvc: Obj) -> Obj:
        ref = _claim_ref(pvc)

        def claim(volume: Obj) -> None:
            volume["spec"]["claimRef"] = ref
            annotations = volume["metadata"].setdefault("annotations", {})
            annotations["pv.kubernetes.io/bound-by-controller"] = "yes"

        return self.store.mutate("persistentvolumes", None, pv["metadata"]["name"], claim)

    def _volumes_of(self, namespace: str, name: str) -> list[Obj]:
        volumes, _ = self.store.list("persistentvolumes")
        return [
            pv
            for pv in volumes
            if ((pv.get("spec") or {}).get("claimRef") or {}).get("namespace") == namespace
            and pv["spec"]["claimRef"].get("name") == name
        ]

    # ---- provisioning

    def _provision(self, pvc: Obj) -> float | None:
        spec = pvc.get("spec") or {}
        class_name = spec.get("storageClassName")
        # assignDefaultStorageClass: a claim made while no class was the default gets the one
        # there is now (RetroactiveDefaultStorageClass, GA since 1.28); "" stays without.
        if class_name is None and (default := default_class(self.store)):
            self.store.mutate(
                "persistentvolumeclaims",
                pvc["metadata"]["namespace"],
                pvc["metadata"]["name"],
                lambda claim: claim["spec"].update(storageClassName=default),
            )
            return None  # the update brings the claim back to provision it
        if not class_name:
            self.event(
                pvc,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            )
            return None
        storage_class = self.get("storageclasses", "", class_name)
        if storage_class is None:
            self.event(
                pvc,
                "ProvisioningFailed",
                f'storageclass.storage.k8s.io "{class_name}" not found',
                type="Warning",
            )
            return 10.0
        provisioner = storage_class.get("provisioner", "")
        meta = pvc["metadata"]
        annotations = meta.get("annotations") or {}
        if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
            if not self._consumed(meta["namespace"], meta["name"]):
                self.event(
                    pvc,
                    "WaitForFirstConsumer",
                    "waiting for first consumer to be created before binding",
                )
                return None
            if annotations.get(SELECTED_NODE) != NODE_NAME:
                # The scheduler's volume binding: the claim follows its pod to the node.
                self.store.mutate(
                    "persistentvolumeclaims",
                    meta["namespace"],
                    meta["name"],
                    lambda claim: (
                        claim["metadata"]
                        .setdefault("annotations", {})
                        .update({SELECTED_NODE: NODE_NAME})
                    ),
                )
        self.store.mutate(
            "persistentvolumeclaims",
            meta["namespace"],
            meta["name"],
            lambda claim: _annotate(claim, provisioner),
        )
        self.event(
            pvc,
            "ExternalProvisioning",
            f"Waiting for a volume to be created either by the external provisioner "
            f"'{provisioner}' or manually by the system administrator. If volume creation is "
            "delayed, please verify that the provisioner is running and correctly registered.",
        )
        if provisioner != PROVISIONER:
            return None  # nobody else provisions here: the claim stays Pending, as it would
        claim_name = f"{meta['namespace']}/{meta['name']}"
        self._provisioner_event(
            pvc,
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{claim_name}"',
        )
        folder = paths.volume_dir(self.ctx.state_dir, meta["namespace"], meta["name"])
        folder.mkdir(parents=True, exist_ok=True)
        volume = f"pvc-{meta['uid']}"
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": volume,
                "annotations": {
                    "hostPathProvisionerIdentity": self.identity,
                    "pv.kubernetes.io/provisioned-by": PROVISIONER,
                },
            },
            "spec": {
                "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                "capacity": {"storage": storage},
                "claimRef": _claim_ref(pvc),
                "hostPath": {"path": str(folder), "type": ""},
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
                "storageClassName": class_name,
                "volumeMode": spec.get("volumeMode", "Filesystem"),
            },
        }
        try:
            created = self.create("persistentvolumes", pv)
        except ApiError as error:
            if error.code != 409:
                raise
            created = self.store.get("persistentvolumes", None, volume)
        self._provisioner_event(
            pvc, "ProvisioningSucceeded", f"Successfully provisioned volume {volume}"
        )
        self._bind(
            self.store.get("persistentvolumeclaims", meta["namespace"], meta["name"]), created
        )
        return None

    def _consumed(self, namespace: str, name: str) -> bool:
        pods, _ = self.store.list("pods", namespace)
        return any(name in claims_of(pod) for pod in pods)

    def _provisioner_event(self, pvc: Obj, reason: str, message: str) -> None:
        self.ctx.events.record(pvc, reason, message, component=self.provisioner_component)

    # ---- binding and release

    def _bind(self, pvc: Obj, pv: Obj) -> None:
        now = now_rfc3339()
        if (pv.get("status") or {}).get("phase") != "Bound":
            self.store.mutate(
                "persistentvolumes",
                None,
                pv["metadata"]["name"],
                lambda v: v.update(status={"phase": "Bound", "lastPhaseTransitionTime": now}),
                subresource="status",
            )
        meta = pvc["metadata"]
        name = pv["metadata"]["name"]
        self.store.mutate(
            "persistentvolumeclaims",
            meta["namespace"],
            meta["name"],
            lambda claim: _bind_claim(claim, name),
        )
        pv_spec = pv.get("spec") or {}
        status = {
            "phase": "Bound",
            "accessModes": list(pv_spec.get("accessModes") or []),
            "capacity": dict(pv_spec.get("capacity") or {}),
        }
        self.store.mutate(
            "persistentvolumeclaims",
            meta["namespace"],
            meta["name"],
            lambda claim: claim.update(status=status),
            subresource="status",
        )

    def _expand(self, pvc: Obj, pv: Obj) -> Obj:
        """The volume, grown to the claim's request where its class allows expansion."""
        request = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
        wanted = request.get("storage")
        held = ((pv.get("spec") or {}).get("capacity") or {}).get("storage")
        if _bytes(wanted) <= _bytes(held) or not expandable(self.store, claim_class(pvc)):
            return pv
        return self.store.mutate(
            "persistentvolumes",
            None,
            pv["metadata"]["name"],
            lambda volume: volume["spec"].setdefault("capacity", {}).update(storage=wanted),
        )

    def _release(self, pv: Obj) -> None:
        name = pv["metadata"]["name"]
        if (pv.get("status") or {}).get("phase") not in ("Released", "Failed"):
            now = now_rfc3339()
            pv = self.store.mutate(
                "persistentvolumes",
                None,
                name,
                lambda v: v.update(status={"phase": "Released", "lastPhaseTransitionTime": now}),
                subresource="status",
            )
        spec = pv.get("spec") or {}
        if spec.get("persistentVolumeReclaimPolicy") != "Delete" or pv["metadata"].get(
            "deletionTimestamp"
        ):
            return
        annotations = pv["metadata"].get("annotations") or {}
        if annotations.get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
            return  # the provisioner deletes only what it provisioned
        self._remove_folder(Path((spec.get("hostPath") or {}).get("path") or ""))
        try:
            self.api.delete(BY_PLURAL["persistentvolumes"], None, name, None, False)
        except ApiError as error:
            if error.code != 404:
                raise

    def _remove_folder(self, folder: Path) -> None:
        root = (self.ctx.state_dir / "volumes").resolve()
        target = folder.resolve()
        # Never anything outside the sandbox's own volumes.
        if target != root and root in target.parents:
            shutil.rmtree(target, ignore_errors=True)


def _bytes(storage: object) -> float:
    """A storage quantity ("1Gi", "500M", "1e9") in bytes; 0 when unset or not a quantity."""
    try:
        return float(quantity.parse(storage or "0"))
    except ValueError:
        return 0.0


def _claim_ref(pvc: Obj) -> Obj:
    """The reference a volume bound to ``pvc`` carries in spec.claimRef."""
    meta = pvc["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "name": meta["name"],
        "namespace": meta["namespace"],
        "resourceVersion": meta.get("resourceVersion"),
        "uid": meta["uid"],
    }


def _annotate(pvc: Obj, provisioner: str) -> None:
    annotations = pvc["metadata"].setdefault("annotations", {})
    for key in _PROVISIONER_ANNOTATIONS:
        annotations[key] = provisioner


def _bind_claim(pvc: Obj, volume: str) -> None:
    pvc.setdefault("spec", {})["volumeName"] = volume
    annotations = pvc["metadata"].setdefault("annotations", {})
    annotations["pv.kubernetes.io/bind-completed"] = "yes"
    annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
