"""The HPA controller alone, on a cluster without metrics: bounds, conditions, events."""

from __future__ import annotations

from typing import Any

from sandbox.controllers.hpa import SYNC_SECONDS, HorizontalPodAutoscalerController
from tests.sandbox.unit import NAMESPACE, Bench, bench

Obj = dict[str, Any]

NO_METRICS = (
    "failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch "
    "metrics from resource metrics API: the server could not find the requested resource "
    "(get pods.metrics.k8s.io)"
)


def deployment(unit: Bench, replicas: int) -> Obj:
    return unit.create(
        "deployments",
        {
            "metadata": {"name": "api"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "lab:1"}]},
                },
            },
        },
    )


def autoscaler(unit: Bench, low: int, high: int, kind: str = "Deployment") -> Obj:
    return unit.create(
        "horizontalpodautoscalers",
        {
            "metadata": {"name": "api"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": "api"},
                "minReplicas": low,
                "maxReplicas": high,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
    )


def sync(unit: Bench) -> float | None:
    return HorizontalPodAutoscalerController(unit.ctx).reconcile(NAMESPACE, "api")


def conditions(unit: Bench) -> dict[str, tuple[str, str, str]]:
    status = unit.status("horizontalpodautoscalers", "api")
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def replicas(unit: Bench) -> int:
    return int((unit.get("deployments", "api") or {})["spec"]["replicas"])


def test_below_min_scales_up_to_min_without_looking_at_metrics() -> None:
    unit = bench()
    deployment(unit, 1)
    autoscaler(unit, 3, 5)
    assert sync(unit) == SYNC_SECONDS
    assert replicas(unit) == 3
    assert conditions(unit) == {
        "AbleToScale": (
            "True",
            "SucceededRescale",
            "the HPA controller was able to update the target scale to 3",
        )
    }
    assert unit.messages("SuccessfulRescale") == [
        "New size: 3; reason: Current number of replicas below Spec.MinReplicas"
    ]
    status = unit.status("horizontalpodautoscalers", "api")
    assert (status["currentReplicas"], status["desiredReplicas"]) == (1, 3)
    assert status["lastScaleTime"]
    assert unit.events("FailedGetResourceMetric") == []


def test_above_max_scales_down_to_max() -> None:
    unit = bench()
    deployment(unit, 9)
    autoscaler(unit, 1, 4)
    sync(unit)
    assert replicas(unit) == 4
    assert unit.messages("SuccessfulRescale") == [
        "New size: 4; reason: Current number of replicas above Spec.MaxReplicas"
    ]


def test_within_range_the_missing_metrics_api_stops_scaling() -> None:
    unit = bench()
    deployment(unit, 2)
    autoscaler(unit, 1, 4)
    sync(unit)
    assert replicas(unit) == 2
    assert conditions(unit) == {
        "AbleToScale": (
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        ),
        "ScalingActive": (
            "False",
            "FailedGetResourceMetric",
            f"the HPA was unable to compute the replica count: {NO_METRICS}",
        ),
    }
    # the event carries the error itself; the condition wraps it
    assert unit.messages("FailedGetResourceMetric") == [NO_METRICS]
    assert unit.messages("FailedComputeMetricsReplicas") == [
        "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource "
        f"metric value: {NO_METRICS}"
    ]
    (event,) = unit.events("FailedGetResourceMetric")
    assert event["type"] == "Warning"
    assert event["source"]["component"] == "horizontal-pod-autoscaler"
    status = unit.status("horizontalpodautoscalers", "api")
    assert status["currentReplicas"] == 2
    assert status["desiredReplicas"] == 0  # never computed: left as it was
    assert "currentMetrics" not in status and "lastScaleTime" not in status
    assert unit.events("SuccessfulRescale") == []


def test_after_a_rescale_the_next_pass_reads_the_new_scale() -> None:
    unit = bench()
    deployment(unit, 1)
    autoscaler(unit, 2, 4)
    sync(unit)
    sync(unit)
    assert replicas(unit) == 2
    assert conditions(unit)["AbleToScale"][1] == "SucceededGetScale"
    assert conditions(unit)["ScalingActive"][1] == "FailedGetResourceMetric"
    status = unit.status("horizontalpodautoscalers", "api")
    assert (status["currentReplicas"], status["desiredReplicas"]) == (2, 2)
    assert len(unit.events("SuccessfulRescale")) == 1


def test_a_target_scaled_to_zero_disables_scaling() -> None:
    unit = bench()
    deployment(unit, 0)
    autoscaler(unit, 1, 4)
    sync(unit)
    assert replicas(unit) == 0
    assert conditions(unit)["ScalingActive"] == (
        "False",
        "ScalingDisabled",
        "scaling is disabled since the replica count of the target is zero",
    )
    assert unit.events("SuccessfulRescale") == []


def test_a_missing_target_cannot_be_scaled() -> None:
    unit = bench()
    autoscaler(unit, 1, 4)
    assert sync(unit) == SYNC_SECONDS
    error = 'deployments.apps "api" not found'
    assert conditions(unit) == {
        "AbleToScale": (
            "False",
            "FailedGetScale",
            f"the HPA controller was unable to get the target's current scale: {error}",
        )
    }
    assert unit.messages("FailedGetScale") == [error]


def test_a_kind_without_a_mapping_cannot_be_scaled() -> None:
    unit = bench()
    autoscaler(unit, 1, 4, kind="Rollout")
    sync(unit)
    assert unit.messages("FailedGetScale") == ['no matches for kind "Rollout" in group "apps"']


def test_a_replicaset_is_a_target_too() -> None:
    unit = bench()
    unit.create(
        "replicasets",
        {
            "metadata": {"name": "api"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "lab:1"}]},
                },
            },
        },
    )
    autoscaler(unit, 2, 3, kind="ReplicaSet")
    sync(unit)
    assert (unit.get("replicasets", "api") or {})["spec"]["replicas"] == 2
