"""PodDisruptionBudgets (pkg/registry/policy): minAvailable or maxUnavailable, each an int or
a percentage of at most 100%, and a valid selector."""

from __future__ import annotations

from typing import Any

from sandbox.apimachinery import field
from sandbox.apimachinery.field import ErrorList, GoValue, Path
from sandbox.apiserver.registry import apps, meta
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, mapping
from sandbox.storage.store import Store

SPEC = Path("spec")


def _pointer(value: Any, type_name: str) -> str:
    """How %#v prints a pointer field: its address, or nil."""
    if value is None:
        return f"(*{type_name})(nil)"
    return f"(*{type_name})(0xc{id(value) & 0xFFFFFFFFF:09x})"


def _spec_value(spec: Obj) -> GoValue:
    return GoValue(
        "policy.PodDisruptionBudgetSpec{"
        f"MinAvailable:{_pointer(spec.get('minAvailable'), 'intstr.IntOrString')}, "
        f"Selector:{_pointer(spec.get('selector'), 'v1.LabelSelector')}, "
        f"MaxUnavailable:{_pointer(spec.get('maxUnavailable'), 'intstr.IntOrString')}, "
        "UnhealthyPodEvictionPolicy:"
        + _pointer(spec.get("unhealthyPodEvictionPolicy"), "policy.UnhealthyPodEvictionPolicyType")
        + "}"
    )


class DisruptionBudgetStrategy(Strategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        obj.setdefault(
            "status",
            {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0},
        )

    def validate(self, obj: Obj) -> ErrorList:
        errors = super().validate(obj)
        spec = mapping(obj.get("spec"))
        if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
            errors.append(
                field.invalid(
                    SPEC, _spec_value(spec), "minAvailable and maxUnavailable cannot be both set"
                )
            )
        for key in ("minAvailable", "maxUnavailable"):
            if spec.get(key) is not None:
                errors.extend(apps.validate_positive_int_or_percent(spec[key], SPEC.child(key)))
                errors.extend(apps.not_more_than_100_percent(spec[key], SPEC.child(key)))
        errors.extend(meta.validate_label_selector(spec.get("selector"), SPEC.child("selector")))
        return errors
