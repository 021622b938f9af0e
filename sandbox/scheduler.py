"""The sandbox's kube-scheduler: binds pending pods to the node when they fit, as 1.32 does.

The filters run in the default profile's order and stop at the first that rejects the node
(NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit), after the VolumeBinding
pre-filter; a pod that fits nowhere stays Pending with PodScheduled=False/Unschedulable and a
FailedScheduling event worded as the real FitError. It is retried when the cluster changes
(a pod ends or goes, the node or a claim changes), never sooner than the scheduler's back-off.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from fractions import Fraction

from sandbox import quantity
from sandbox.clock import format_time
from sandbox.controllers.base import Context, Controller, Obj, is_pod_active
from sandbox.controllers.queue import Key

NODE_NAME = "sandbox"
SCHEDULER_NAME = "default-scheduler"
BACKOFF_START, BACKOFF_MAX = 1.0, 10.0  # podInitialBackoffSeconds, podMaxBackoffSeconds

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


class Scheduler(Controller):
    """The scheduling queue: one key per pod waiting for a node."""

    resource = "pods"
    kind = "Pod"
    watches = ("nodes", "persistentvolumeclaims")
    component = SCHEDULER_NAME
    resync_seconds = 60.0  # the unschedulable queue's periodic flush, shortened

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._attempts: dict[Key, int] = {}
        self._not_before: dict[Key, float] = {}

    def _on_event(self, event_type: str, resource: str, obj: Obj) -> None:
        ended = resource == "pods" and (event_type == "DELETED" or not is_pod_active(obj))
        if resource in self.watches or ended:
            # A freed or changed resource may make any waiting pod fit: retry them all.
            for key in list(self._attempts):
                self.queue.add(key, max(0.0, self._not_before.get(key, 0) - time.monotonic()))
        if resource == "pods":
            self.queue.add((obj["metadata"].get("namespace") or "", obj["metadata"]["name"]))

    def keys_for(self, resource: str, obj: Obj) -> Iterable[Key]:
        return ()

    def reconcile(self, namespace: str, name: str) -> float | None:
        key = (namespace, name)
        pod = self.get("pods", namespace, name)
        spec = (pod or {}).get("spec") or {}
        if (
            pod is None
            or spec.get("nodeName")
            or (spec.get("schedulerName") or SCHEDULER_NAME) != SCHEDULER_NAME
            or pod["metadata"].get("deletionTimestamp")
            or not is_pod_active(pod)
        ):
            self._attempts.pop(key, None)
            self._not_before.pop(key, None)
            return None
        wait = self._not_before.get(key, 0) - time.monotonic()
        if wait > 0:
            return wait
        problem = self.why_not(pod)
        if problem is None:
            self._bind(pod)
            self._attempts.pop(key, None)
            self._not_before.pop(key, None)
            return None
        attempts = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempts
        backoff = min(BACKOFF_START * 2 ** (attempts - 1), BACKOFF_MAX)
        self._not_before[key] = time.monotonic() + backoff
        self._unschedulable(pod, problem)
        return None  # retried on a cluster change (or the periodic flush)

    def why_not(self, pod: Obj) -> str | None:
        """None when the pod fits the node, else the FailedScheduling message."""
        namespace = pod["metadata"]["namespace"]
        for volume in pod["spec"].get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            pvc = self.get("persistentvolumeclaims", namespace, claim)
            if pvc is None:
                return fit_error(
                    (), pre_filter=f'persistentvolumeclaim "{claim}" not found', resolvable=False
                )
            if (pvc.get("status") or {}).get("phase") != "Bound":
                return fit_error((), pre_filter=UNBOUND_CLAIMS, resolvable=False)
        node = self.get("nodes", "", NODE_NAME)
        if node is None:
            return "no nodes available to schedule pods"
        if (node.get("spec") or {}).get("unschedulable"):
            return fit_error(["node(s) were unschedulable"], resolvable=False)
        taint = untolerated_taint(pod, node)
        if taint is not None:
            reason = (
                f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
            )
            return fit_error([reason], resolvable=False)
        if not matches_node_affinity(pod, node):
            return fit_error([AFFINITY_REASON], resolvable=False)
        pods, _ = self.store.list("pods")
        bound = [
            p
            for p in pods
            if (p.get("spec") or {}).get("nodeName") == NODE_NAME
            and is_pod_active(p)
            and p["metadata"]["uid"] != pod["metadata"]["uid"]
        ]
        reasons = insufficient(pod, node, bound)
        if reasons:
            return fit_error(reasons, resolvable=True)
        return None

    def _bind(self, pod: Obj) -> None:
        meta = pod["metadata"]
        now = format_time()

        def bind(obj: Obj) -> None:
            obj["spec"]["nodeName"] = NODE_NAME

        def scheduled(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            others = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            condition = {"type": "PodScheduled", "status": "True", "lastProbeTime": None}
            condition["lastTransitionTime"] = now
            status["conditions"] = [*others, condition]

        self.store.mutate("pods", meta["namespace"], meta["name"], scheduled, subresource="status")
        bound = self.store.mutate("pods", meta["namespace"], meta["name"], bind)
        self.event(
            bound,
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {NODE_NAME}",
        )

    def _unschedulable(self, pod: Obj, message: str) -> None:
        meta = pod["metadata"]
        now = format_time()

        def pending(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            status["phase"] = "Pending"
            old: Obj = next(
                (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
            )
            since = old.get("lastTransitionTime") if old.get("status") == "False" else now
            condition = {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": since,
                "reason": "Unschedulable",
                "message": message,
            }
            others = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            status["conditions"] = [*others, condition]

        self.store.mutate("pods", meta["namespace"], meta["name"], pending, subresource="status")
        self.event(pod, "FailedScheduling", message, type="Warning")
