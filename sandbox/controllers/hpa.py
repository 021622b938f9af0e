"""HorizontalPodAutoscalers as on a cluster without metrics-server.

Replica counts are kept within [minReplicas, maxReplicas] (the target is scaled to the bound,
as the real controller does before it looks at metrics); within them metrics are never
available, so ScalingActive is False with reason FailedGetResourceMetric, nothing is scaled
and currentMetrics stays empty.
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
            group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            if plural is None:  # the RESTMapper's NoKindMatchError
                error = f'no matches for kind "{ref.get("kind")}" in group "{group}"'
            else:
                error = f'{plural}.apps "{ref.get("name")}" not found'
            conditions = set_condition(
                conditions,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {error}",
                now,
            )
            self.event(hpa, "FailedGetScale", error, type="Warning")
            self._write(namespace, name, {**status, "conditions": conditions})
            return SYNC_SECONDS
        current = int((target.get("spec") or {}).get("replicas", 1))
        conditions = set_condition(
            conditions,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
            now,
        )
        # reconcileAutoscaler: out of [min, max] the target is scaled to the bound without
        # looking at metrics; within it, the metrics decide, and they are never available
        if current == 0:
            desired, reason = 0, ""
            conditions = set_condition(
                conditions,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
                now,
            )
        elif current > high:
            desired, reason = high, "Current number of replicas above Spec.MaxReplicas"
        elif current < low:
            desired, reason = low, "Current number of replicas below Spec.MinReplicas"
        else:
            # computeReplicasForMetrics fails; desiredReplicas stays what it was
            metric = _metric_name(spec)
            error = (
                f"failed to get {metric} utilization: unable to get metrics for resource "
                f"{metric}: unable to fetch metrics from resource metrics API: the server could "
                "not find the requested resource (get pods.metrics.k8s.io)"
            )
            conditions = set_condition(
                conditions,
                "ScalingActive",
                "False",
                "FailedGetResourceMetric",
                f"the HPA was unable to compute the replica count: {error}",
                now,
            )
            self.event(hpa, "FailedGetResourceMetric", error, type="Warning")
            count = max(1, len(spec.get("metrics") or []))
            self.event(
                hpa,
                "FailedComputeMetricsReplicas",
                f"invalid metrics ({count} invalid out of {count}), first error is: "
                f"failed to get {metric} resource metric value: {error}",
                type="Warning",
            )
            status.update(
                observedGeneration=hpa["metadata"].get("generation", 1),
                currentReplicas=current,
                conditions=conditions,
            )
            status.pop("currentMetrics", None)
            self._write(namespace, name, status)
            return SYNC_SECONDS
        if desired != current:
            self.store.mutate(plural, namespace, ref["name"], lambda t: _scale(t, desired))
            conditions = set_condition(
                conditions,
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
                now,
            )
            self.event(hpa, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
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
