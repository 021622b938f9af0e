"""PodDisruptionBudgets: how many matching pods are healthy and how many may be disrupted.

As the disruption controller counts: every pod the selector matches is expected, except that
a ``maxUnavailable`` or percentage ``minAvailable`` budget expects the replicas the pods'
controllers want (a Deployment's, not its ReplicaSets').
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sandbox.apimachinery.selectors import match_labels
from sandbox.clock import format_time
from sandbox.controllers.base import (
    Controller,
    Key,
    Obj,
    controller_ref,
    is_pod_ready,
    set_condition,
)
from sandbox.resources import RESOURCES


class SyncFailed(Exception):
    """The budget cannot be computed: it allows no disruption (failSafe)."""


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
            pod for pod in pods if match_labels(spec.get("selector"), pod["metadata"].get("labels"))
        ]
        if not selected:
            self.event(budget, "NoPods", "No matching pods found")
        # countHealthyPods: a pod being deleted is not healthy, ready or not
        healthy = sum(
            1
            for pod in selected
            if not pod["metadata"].get("deletionTimestamp") and is_pod_ready(pod)
        )
        status = dict(budget.get("status") or {})
        generation = budget["metadata"].get("generation", 1)
        try:
            expected, desired = self._expected(budget, selected)
        except SyncFailed as error:
            self.event(
                budget,
                "CalculateExpectedPodCountFailed",
                f"Failed to calculate the number of expected pods: {error}",
                type="Warning",
            )
            status.update(disruptionsAllowed=0)
            status["conditions"] = _condition(status, "False", "SyncFailed", str(error))
            self._write(namespace, name, status)
            return None
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        reason = "SufficientPods" if allowed else "InsufficientPods"
        status.update(
            observedGeneration=generation,
            currentHealthy=healthy,
            desiredHealthy=desired,
            expectedPods=expected,
            disruptionsAllowed=allowed,
        )
        status["conditions"] = _condition(status, "True" if allowed else "False", reason, "")
        self._write(namespace, name, status)
        return None

    def _expected(self, budget: Obj, pods: list[Obj]) -> tuple[int, int]:
        """getExpectedPodCount: the pods expected and how many of them must stay healthy."""
        spec = budget.get("spec") or {}
        if "maxUnavailable" in spec:
            expected = self._expected_scale(pods)
            unavailable = _count(spec["maxUnavailable"], expected)
            return expected, max(0, expected - unavailable)
        if "minAvailable" in spec:
            minimum = spec["minAvailable"]
            if isinstance(minimum, int):
                return len(pods), minimum
            expected = self._expected_scale(pods)
            return expected, _count(minimum, expected)
        return 0, 0

    def _expected_scale(self, pods: list[Obj]) -> int:
        """getExpectedScale: the replicas of the pods' controllers, each counted once; pods
        without a controller are not counted."""
        scales: dict[str, int] = {}
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None or ref.get("uid") in scales:
                continue
            found = self._scale_of(pod["metadata"]["namespace"], ref)
            if found is None:
                raise SyncFailed(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            uid, replicas = found
            scales[uid] = replicas
        return sum(scales.values())

    def _scale_of(self, namespace: str, ref: Obj) -> tuple[str, int] | None:
        """The finders: a ReplicaSet's Deployment, else the controller's own scale."""
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        kind = next((r for r in RESOURCES if (r.group, r.kind) == (group, ref.get("kind"))), None)
        if kind is None:
            return None
        if "scale" not in kind.subresources:
            name = f"{kind.plural}.{group}" if group else kind.plural  # GroupResource.String()
            raise SyncFailed(f"{name} does not implement the scale subresource")
        owner = self.get(kind.plural, namespace, ref["name"])
        if owner is None or owner["metadata"]["uid"] != ref.get("uid"):
            return None
        parent = controller_ref(owner) if kind.plural == "replicasets" else None
        if parent is not None and parent.get("kind") == "Deployment":
            deployment = self.get("deployments", namespace, parent["name"])
            if deployment is not None and deployment["metadata"]["uid"] == parent.get("uid"):
                owner = deployment
        replicas = (owner.get("spec") or {}).get("replicas", 1)
        return owner["metadata"]["uid"], int(replicas)

    def _write(self, namespace: str, name: str, status: Obj) -> None:
        def apply(obj: Obj) -> None:
            obj["status"] = status

        self.store.mutate("poddisruptionbudgets", namespace, name, apply, subresource="status")


def _condition(status: Obj, value: str, reason: str, message: str) -> list[Obj]:
    """The DisruptionAllowed condition, a metav1.Condition carrying observedGeneration."""
    conditions = set_condition(
        list(status.get("conditions") or []),
        "DisruptionAllowed",
        value,
        reason,
        message,
        format_time(),
    )
    for cond in conditions:
        if cond["type"] == "DisruptionAllowed":
            cond["observedGeneration"] = status.get("observedGeneration", 0)
    return conditions


def _count(value: int | str, total: int) -> int:
    """An IntOrString: a number, or a percentage of ``total`` rounded up."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(total * int(value[:-1]) / 100)
    return int(value)
