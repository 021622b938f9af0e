"""The cluster's default StorageClass, as the DefaultStorageClass admission plugin and the
PersistentVolume controller's retroactive assignment both pick it."""

from __future__ import annotations

from sandbox.storage.store import Store

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
