"""kube-scheduler 1.32's filters and FitError wording, as pure functions over objects.

sandbox/controllers/scheduler.py runs them: in the default profile's order, stopping at the
first that rejects the node (NodeUnschedulable, TaintToleration, NodeAffinity,
NodeResourcesFit), after the VolumeBinding pre-filter.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from sandbox.apimachinery import quantity

Obj = dict[str, Any]


# What preemption says when it cannot help: resources could be freed by evicting pods (none
# has a lower priority here), the other filters' verdicts no eviction changes.
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
AFFINITY_REASON = "node(s) didn't match Pod's node affinity/selector"
UNBOUND_CLAIMS = "pod has unbound immediate PersistentVolumeClaims"


def pod_requests(pod: Obj) -> dict[str, Fraction]:
    """What a pod asks for: the sum of its containers, or its largest init container if more
    (requests default to limits, as the API server defaults them), plus its overhead."""

    def of(container: Obj) -> dict[str, Fraction]:
        resources = container.get("resources") or {}
        wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        return {name: quantity.parse(value) for name, value in wanted.items()}

    spec = pod.get("spec") or {}
    total: dict[str, Fraction] = {}
    for container in spec.get("containers") or []:
        for name, value in of(container).items():
            total[name] = total.get(name, Fraction(0)) + value
    for container in spec.get("initContainers") or []:
        for name, value in of(container).items():
            total[name] = max(total.get(name, Fraction(0)), value)
    for name, value in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, Fraction(0)) + quantity.parse(value)
    return total


def insufficient(pod: Obj, node: Obj, bound: list[Obj]) -> list[str]:
    """NodeResourcesFit: the reasons the node cannot take the pod besides the pods it runs."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    reasons = []
    if len(bound) + 1 > int(quantity.parse(allocatable.get("pods", 0))):
        reasons.append("Too many pods")
    wanted = {name: value for name, value in pod_requests(pod).items() if value > 0}
    used: dict[str, Fraction] = {}
    for other in bound:
        for name, value in pod_requests(other).items():
            used[name] = used.get(name, Fraction(0)) + value
    for name, value in wanted.items():
        if name == "pods":
            continue
        free = quantity.parse(allocatable.get(name, 0)) - used.get(name, Fraction(0))
        if value > free:
            reasons.append(f"Insufficient {name}")
    return reasons


def _expression_matches(expression: Obj, labels: dict[str, str]) -> bool:
    key, op = expression.get("key", ""), expression.get("operator")
    values = expression.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and values:
        try:
            have, limit = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > limit if op == "Gt" else have < limit
    return False


def _term_matches(term: Obj, node: Obj) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches no node
    name = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    return all(_expression_matches(e, labels) for e in expressions) and all(
        _expression_matches(f, name) for f in fields
    )


def matches_node_affinity(pod: Obj, node: Obj) -> bool:
    """NodeAffinity: the nodeSelector and every required term list (ORed terms) match."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(key) != value for key, value in (spec.get("nodeSelector") or {}).items()):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if terms is None:
        return True
    return any(_term_matches(term, node) for term in terms)


def _tolerates(toleration: Obj, taint: Obj) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    if not key:
        return False  # an empty key with Equal is invalid: it tolerates nothing
    return (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(pod: Obj, node: Obj) -> Obj | None:
    """TaintToleration: the first NoSchedule/NoExecute taint no toleration of the pod covers."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return taint
    return None


def fit_error(reasons: Iterable[str], *, pre_filter: str = "", resolvable: bool) -> str:
    """The FitError text: "0/1 nodes are available: <pre-filter or counted reasons>.
    preemption: ..." (one node here, so each reason counts once; the list is sorted)."""
    if pre_filter:
        message = f"0/1 nodes are available: {pre_filter}."
    else:
        counted = sorted(f"1 {reason}" for reason in reasons)
        message = f"0/1 nodes are available: {', '.join(counted)}."
    verdict = NO_VICTIMS if resolvable and not pre_filter else NOT_HELPFUL
    return f"{message} preemption: 0/1 nodes are available: 1 {verdict}."
