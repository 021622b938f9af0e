"""StorageClasses as the admission plugins and the volume controllers both read them: the
cluster's default class (DefaultStorageClass, the retroactive assignment), a claim's class and
whether it may grow (PersistentVolumeClaimResize, the resizer)."""

from __future__ import annotations

from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.storage.store import Store

# GetPersistentVolumeClaimClass: the beta annotation, where set, wins over the field.
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def default_class(store: Store) -> str | None:
    """The newest class marked default (GetDefaultClass), or None when no class is."""
    classes, _ = store.list("storageclasses")
    marked = [
        sc
        for sc in classes
        if any(
            (sc["metadata"].get("annotations") or {}).get(a) == "true"
            for a in DEFAULT_CLASS_ANNOTATIONS
        )
    ]
    if not marked:
        return None
    marked.sort(
        key=lambda sc: (sc["metadata"].get("creationTimestamp") or "", sc["metadata"]["name"])
    )
    return str(marked[-1]["metadata"]["name"])


def claim_class(pvc: dict[str, Any]) -> str:
    """The claim's StorageClass name ("" for none), as GetPersistentVolumeClaimClass reads it."""
    annotations = (pvc.get("metadata") or {}).get("annotations") or {}
    if BETA_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_CLASS_ANNOTATION] or "")
    return str((pvc.get("spec") or {}).get("storageClassName") or "")


def expandable(store: Store, class_name: str) -> bool:
    """Whether the class exists and says allowVolumeExpansion: true (unset means no)."""
    if not class_name:
        return False
    try:
        storage_class = store.get("storageclasses", None, class_name)
    except ApiError as error:
        if error.code == 404:
            return False
        raise
    return storage_class.get("allowVolumeExpansion") is True
