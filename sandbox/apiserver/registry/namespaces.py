"""Namespaces (pkg/registry/core/namespace): a DNS label for a name, created Active with the
``kubernetes`` finalizer, which only the finalize subresource removes."""

from __future__ import annotations

import copy

from sandbox.apimachinery.field import ErrorList, Path
from sandbox.apiserver.registry import meta, names
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, child, items, mapping, text
from sandbox.storage.store import Store


class NamespaceStrategy(Strategy):
    name_rule = staticmethod(names.name_is_dns_label)

    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        if old is None:
            finalizers = [text(f) for f in items(spec.get("finalizers"))]
            if "kubernetes" not in finalizers:
                finalizers.append("kubernetes")
            spec["finalizers"] = finalizers
            obj["status"] = {"phase": "Active"}
        else:
            spec["finalizers"] = copy.deepcopy(mapping(old.get("spec")).get("finalizers") or [])
            if not spec["finalizers"]:
                del spec["finalizers"]
        labels = child(child(obj, "metadata"), "labels")
        labels.setdefault("kubernetes.io/metadata.name", text(obj["metadata"].get("name")))

    def validate(self, obj: Obj) -> ErrorList:
        errors = super().validate(obj)
        where = Path("spec.finalizers")
        for finalizer in items(mapping(obj.get("spec")).get("finalizers")):
            errors.extend(meta.validate_label_name(text(finalizer), where))
        return errors

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        # ValidateNamespaceUpdate checks the metadata only.
        return meta.validate_object_meta_update(
            mapping(obj.get("metadata")), mapping(old.get("metadata"))
        )
