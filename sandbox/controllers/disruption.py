"""PodDisruptionBudgets: how many matching pods are healthy and how many may be disrupted."""

from __future__ import annotations

import math
from collections.abc import Iterable

from sandbox.clock import format_time
from sandbox.controllers.base import (
    Controller,
    Key,
    Obj,
    is_pod_active,
    is_pod_ready,
    set_condition,
)
from sandbox.selectors import match_labels


class DisruptionBudgetController(Controller):
    resource = "poddisruptionbudgets"
    kind = "PodDisruptionBudget"
    watches = ("pods",)
    component = "controllermanager"

    def keys_for(self, resource: str, obj: Obj) -> Iterable[Key]:
        namespace = obj["metadata"].get("namespace") or ""
        budgets, _ = self.store.list("poddisruptionbudgets", namespace)
        for budget in budgets:
            if match_labels(
                (budget.get("spec") or {}).get("selector"), obj["metadata"].get("labels")
            ):
                yield (namespace, budget["metadata"]["name"])

    def reconcile(self, namespace: str, name: str) -> float | None:
        budget = self.get("poddisruptionbudgets", namespace, name)
        if budget is None:
            return None
        spec = budget.get("spec") or {}
        pods, _ = self.store.list("pods", namespace)
        selected = [
            pod
            for pod in pods
            if is_pod_active(pod)
            and match_labels(spec.get("selector"), pod["metadata"].get("labels"))
        ]
        expected = len(selected)
        healthy = sum(1 for pod in selected if is_pod_ready(pod))
        if "minAvailable" in spec:
            desired = _count(spec["minAvailable"], expected, round_up=True)
        elif "maxUnavailable" in spec:
            desired = max(0, expected - _count(spec["maxUnavailable"], expected, round_up=True))
        else:
            desired = expected
        allowed = max(0, healthy - desired)
        status = dict(budget.get("status") or {})
        reason, message = ("SufficientPods", "") if allowed else ("InsufficientPods", "")
        status.update(
            observedGeneration=budget["metadata"].get("generation", 1),
            currentHealthy=healthy,
            desiredHealthy=desired,
            expectedPods=expected,
            disruptionsAllowed=allowed,
            conditions=set_condition(
                list(status.get("conditions") or []),
                "DisruptionAllowed",
                "True" if allowed else "False",
                reason,
                message,
                format_time(),
            ),
        )

        def apply(obj: Obj) -> None:
            obj["status"] = status

        self.store.mutate("poddisruptionbudgets", namespace, name, apply, subresource="status")
        return None


def _count(value: int | str, total: int, *, round_up: bool) -> int:
    """An IntOrString: a number, or a percentage of ``total``."""
    if isinstance(value, str) and value.endswith("%"):
        share = total * int(value[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value)
