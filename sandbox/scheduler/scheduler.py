"""The scheduler's loop: binds pending pods to the node when they fit, as 1.32 does.

A pod that fits nowhere stays Pending with PodScheduled=False/Unschedulable and a
FailedScheduling event worded as the real FitError. It is retried when the cluster changes
(a pod ends or goes, the node or a claim changes), never sooner than the scheduler's back-off.
"""

from __future__ import annotations

from collections.abc import Iterable

from sandbox.apiserver import binding
from sandbox.clock import format_time
from sandbox.controllers.base import Context, Controller, Obj, is_pod_active
from sandbox.controllers.queue import Key
from sandbox.resources import NODE_NAME
from sandbox.scheduler.filters import (
    AFFINITY_REASON,
    UNBOUND_CLAIMS,
    fit_error,
    insufficient,
    matches_node_affinity,
    untolerated_taint,
)

SCHEDULER_NAME = "default-scheduler"
BACKOFF_START, BACKOFF_MAX = 1.0, 10.0  # podInitialBackoffSeconds, podMaxBackoffSeconds


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
                self.queue.add(key, max(0.0, self._wait(key)))
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
        wait = self._wait(key)
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
        self._not_before[key] = self.ctx.clock.timestamp() + backoff
        self._unschedulable(pod, problem)
        return None  # retried on a cluster change (or the periodic flush)

    def _wait(self, key: Key) -> float:
        """Real seconds until the pod's back-off ends (sandbox time, as every back-off)."""
        return self.ctx.clock.real_seconds(
            self._not_before.get(key, 0) - self.ctx.clock.timestamp()
        )

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

        def scheduled(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            others = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            condition = {"type": "PodScheduled", "status": "True", "lastProbeTime": None}
            condition["lastTransitionTime"] = now
            status["conditions"] = [*others, condition]

        self.store.mutate("pods", meta["namespace"], meta["name"], scheduled, subresource="status")
        binding.bind(self.store, meta["namespace"], meta["name"], {"target": {"name": NODE_NAME}})
        bound = self.store.get("pods", meta["namespace"], meta["name"])
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
