"""HorizontalPodAutoscalers as on a cluster without metrics-server.

Replica counts are kept within [minReplicas, maxReplicas] (the target is scaled to the bound,
as the real controller does before it looks at metrics); metrics are never available, so
ScalingActive is False with reason FailedGetResourceMetric and currentMetrics stays empty.
"""

from __future__ import annotations

from sandbox.clock import format_time
from sandbox.controllers.base import Controller, Obj, set_condition

SYNC_SECONDS = 15.0
RESOURCES = {"Deployment": "deployments", "ReplicaSet": "replicasets"}


class HorizontalPodAutoscalerController(Controller):
    resource = "horizontalpodautoscalers"
    kind = "HorizontalPodAutoscaler"
    component = "horizontal-pod-autoscaler"
    resync_seconds = SYNC_SECONDS

    def reconcile(self, namespace: str, name: str) -> float | None:
        hpa = self.get("horizontalpodautoscalers", namespace, name)
        if hpa is None:
            return None
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        now = format_time()
        status = dict(hpa.get("status") or {})
        conditions = list(status.get("conditions") or [])
        plural = RESOURCES.get(ref.get("kind", ""))
        target = self.get(plural, namespace, ref.get("name", "")) if plural else None
        if plural is None or target is None:
            message = f'{plural or ref.get("kind")} "{ref.get("name")}" not found'
            conditions = set_condition(
                conditions, "AbleToScale", "False", "FailedGetScale", message, now
            )
            self.event(hpa, "FailedGetScale", message, type="Warning")
            self._write(namespace, name, {**status, "conditions": conditions})
            return SYNC_SECONDS
        current = int((target.get("spec") or {}).get("replicas", 1))
        desired = min(max(current, low), high)
        conditions = set_condition(
            conditions,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
            now,
        )
        if current == 0:
            desired = 0
            conditions = set_condition(
                conditions,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
                now,
            )
        else:
            metric = _metric_name(spec)
            message = (
                f"the HPA was unable to compute the replica count: failed to get {metric} "
                f"utilization: unable to get metrics for resource {metric}: unable to fetch "
                "metrics from resource metrics API: the server could not find the requested "
                "resource (get pods.metrics.k8s.io)"
            )
            conditions = set_condition(
                conditions, "ScalingActive", "False", "FailedGetResourceMetric", message, now
            )
            self.event(hpa, "FailedGetResourceMetric", message, type="Warning")
        if desired < current:
            limit = (
                "True",
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        elif desired > current:
            limit = (
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        else:
            limit = (
                "False",
                "DesiredWithinRange",
                "the desired count is within the acceptable range",
            )
        conditions = set_condition(conditions, "ScalingLimited", *limit, now)
        if desired != current:
            bound = "below Spec.MinReplicas" if desired > current else "above Spec.MaxReplicas"
            self.store.mutate(plural, namespace, ref["name"], lambda t: _scale(t, desired))
            self.event(
                hpa,
                "SuccessfulRescale",
                f"New size: {desired}; reason: Current number of replicas {bound}",
            )
            status["lastScaleTime"] = now
        status.update(
            observedGeneration=hpa["metadata"].get("generation", 1),
            currentReplicas=current,
            desiredReplicas=desired,
            conditions=conditions,
        )
        status.pop("currentMetrics", None)
        self._write(namespace, name, status)
        return SYNC_SECONDS

    def _write(self, namespace: str, name: str, status: Obj) -> None:
        def apply(hpa: Obj) -> None:
            hpa["status"] = status

        self.store.mutate("horizontalpodautoscalers", namespace, name, apply, subresource="status")


def _metric_name(spec: Obj) -> str:
    for metric in spec.get("metrics") or []:
        if metric.get("type") == "Resource":
            return str(metric["resource"]["name"])
        if metric.get("type") == "ContainerResource":
            return str(metric["containerResource"]["name"])
    return "cpu"


def _scale(target: Obj, replicas: int) -> None:
    target.setdefault("spec", {})["replicas"] = replicas
