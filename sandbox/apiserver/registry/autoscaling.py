"""HorizontalPodAutoscalers (pkg/registry/autoscaling): minReplicas defaulted to 1, the
replica bounds and the scale target validated."""

from __future__ import annotations

from sandbox.apimachinery import field
from sandbox.apimachinery.field import ErrorList, Path
from sandbox.apiserver.registry import names
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, child, integer, mapping, text
from sandbox.storage.store import Store

SPEC = Path("spec")


class AutoscalerStrategy(Strategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        child(obj, "spec").setdefault("minReplicas", 1)
        obj.setdefault("status", {"currentReplicas": 0, "desiredReplicas": 0})

    def validate(self, obj: Obj) -> ErrorList:
        errors = super().validate(obj)
        spec = mapping(obj.get("spec"))
        low, high = integer(spec.get("minReplicas")), integer(spec.get("maxReplicas")) or 0
        if low is not None and low < 1:
            errors.append(
                field.invalid(SPEC.child("minReplicas"), low, "must be greater than or equal to 1")
            )
        if high < 1:
            errors.append(field.invalid(SPEC.child("maxReplicas"), high, "must be greater than 0"))
        if low is not None and high < low:
            errors.append(
                field.invalid(
                    SPEC.child("maxReplicas"),
                    high,
                    "must be greater than or equal to `minReplicas`",
                )
            )
        target = mapping(spec.get("scaleTargetRef"))
        for key in ("kind", "name"):
            where = SPEC.child("scaleTargetRef", key)
            value = text(target.get(key))
            if not value:
                errors.append(field.required(where))
            else:
                errors.extend(
                    field.invalid(where, value, m) for m in names.path_segment_name(value, False)
                )
        return errors
