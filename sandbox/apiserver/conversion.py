"""Objects of a served version converted to and from the version they are stored in, as the
API server's scheme converts them (only autoscaling/v1 HorizontalPodAutoscalers, stored as v2).

autoscaling/v1 knows one metric, targetCPUUtilizationPercentage: the v2 CPU utilization metric.
What else a v2 object holds travels in annotations of the v1 object, as
pkg/apis/autoscaling/v1/conversion.go carries it: the other metrics, the behavior, the
conditions and the current metrics; they are read back, and dropped, when a v1 object is
written. A v1 object without any metric gets the CPU utilization target the controller once
applied (80%).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from sandbox.resources import Resource

Obj = dict[str, Any]

METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
_ROUND_TRIP = (METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR)
# The status fields both versions have.
_STATUS_FIELDS = ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
DEFAULT_CPU_UTILIZATION = 80


def to_served(resource: Resource, obj: Obj) -> Obj:
    """A stored object as ``resource``'s version serves it."""
    if not resource.storage_version or obj.get("kind") != resource.kind:
        return obj
    return _CONVERSIONS[(resource.group, resource.version, resource.kind)][0](obj)


def to_storage(resource: Resource, obj: Obj) -> Obj:
    """An object written in ``resource``'s version, in the version it is stored in."""
    if not resource.storage_version or not isinstance(obj, dict):
        return obj
    return _CONVERSIONS[(resource.group, resource.version, resource.kind)][1](obj)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _present(**fields: Any) -> Obj:
    """The fields that are set, in order (Go's omitempty)."""
    return {key: value for key, value in fields.items() if value not in (None, "", [], {})}


def _map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------ v2 -> v1


def _is_cpu_utilization(metric: Obj) -> bool:
    source = _map(metric.get("resource"))
    target = _map(source.get("target"))
    return (
        metric.get("type") == "Resource"
        and source.get("name") == "cpu"
        and target.get("averageUtilization") is not None
    )


def _metric_spec_to_v1(metric: Obj) -> Obj:
    kind = metric.get("type")
    out: Obj = {"type": kind}
    if "object" in metric:
        source = _map(metric["object"])
        identifier, target = _map(source.get("metric")), _map(source.get("target"))
        out["object"] = _present(
            target=source.get("describedObject"),
            metricName=identifier.get("name"),
            # a required Quantity in v1: "0" when v2 has no value
            targetValue=target.get("value") or "0",
            selector=identifier.get("selector"),
            averageValue=target.get("averageValue"),
        )
    if "pods" in metric:
        source = _map(metric["pods"])
        identifier, target = _map(source.get("metric")), _map(source.get("target"))
        out["pods"] = _present(
            metricName=identifier.get("name"),
            targetAverageValue=target.get("averageValue") or "0",
            selector=identifier.get("selector"),
        )
    for key in ("resource", "containerResource"):
        if key in metric:
            source = _map(metric[key])
            target = _map(source.get("target"))
            out[key] = _present(
                name=source.get("name"),
                targetAverageUtilization=target.get("averageUtilization"),
                targetAverageValue=target.get("averageValue"),
                container=source.get("container"),
            )
    if "external" in metric:
        source = _map(metric["external"])
        identifier, target = _map(source.get("metric")), _map(source.get("target"))
        out["external"] = _present(
            metricName=identifier.get("name"),
            metricSelector=identifier.get("selector"),
            targetValue=target.get("value"),
            targetAverageValue=target.get("averageValue"),
        )
    return out


def _metric_status_to_v1(metric: Obj) -> Obj:
    out: Obj = {"type": metric.get("type")}
    if "object" in metric:
        source = _map(metric["object"])
        identifier, current = _map(source.get("metric")), _map(source.get("current"))
        out["object"] = _present(
            target=source.get("describedObject"),
            metricName=identifier.get("name"),
            currentValue=current.get("value") or "0",
            selector=identifier.get("selector"),
            averageValue=current.get("averageValue"),
        )
    if "pods" in metric:
        source = _map(metric["pods"])
        identifier, current = _map(source.get("metric")), _map(source.get("current"))
        out["pods"] = _present(
            metricName=identifier.get("name"),
            currentAverageValue=current.get("averageValue") or "0",
            selector=identifier.get("selector"),
        )
    for key in ("resource", "containerResource"):
        if key in metric:
            source = _map(metric[key])
            current = _map(source.get("current"))
            out[key] = _present(
                name=source.get("name"),
                currentAverageUtilization=current.get("averageUtilization"),
                currentAverageValue=current.get("averageValue") or "0",
                container=source.get("container"),
            )
    if "external" in metric:
        source = _map(metric["external"])
        identifier, current = _map(source.get("metric")), _map(source.get("current"))
        out["external"] = _present(
            metricName=identifier.get("name"),
            metricSelector=identifier.get("selector"),
            currentValue=current.get("value") or "0",
            currentAverageValue=current.get("averageValue"),
        )
    return out


def _rules_to_internal(rules: Any) -> Obj | None:
    """HPAScalingRules as the internal type marshals: Go's field names, nil as null (the
    annotation has always carried the internal type, untagged)."""
    if not isinstance(rules, dict):
        return None
    policies = rules.get("policies")
    return {
        "StabilizationWindowSeconds": rules.get("stabilizationWindowSeconds"),
        "SelectPolicy": rules.get("selectPolicy"),
        "Policies": [
            {
                "Type": policy.get("type"),
                "Value": policy.get("value", 0),
                "PeriodSeconds": policy.get("periodSeconds", 0),
            }
            for policy in policies
            if isinstance(policy, dict)
        ]
        if isinstance(policies, list)
        else None,
    }


def _condition_to_v1(condition: Obj) -> Obj:
    return _present(
        type=condition.get("type"),
        status=condition.get("status"),
        lastTransitionTime=condition.get("lastTransitionTime"),
        reason=condition.get("reason"),
        message=condition.get("message"),
    )


def _hpa_to_v1(obj: Obj) -> Obj:
    meta = copy.deepcopy(_map(obj.get("metadata")))
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    metrics = [m for m in spec.get("metrics") or [] if isinstance(m, dict)]
    # Whatever annotations a v1 client left are replaced by what this object holds now.
    annotations = {
        key: value for key, value in _map(meta.get("annotations")).items() if key not in _ROUND_TRIP
    }
    other = [_metric_spec_to_v1(m) for m in metrics if not _is_cpu_utilization(m)]
    current = [m for m in status.get("currentMetrics") or [] if isinstance(m, dict)]
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    if other:
        annotations[METRICS] = _json(other)
    if current:
        annotations[CURRENT_METRICS] = _json([_metric_status_to_v1(m) for m in current])
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        annotations[BEHAVIOR] = _json(
            {
                "ScaleUp": _rules_to_internal(behavior.get("scaleUp")),
                "ScaleDown": _rules_to_internal(behavior.get("scaleDown")),
            }
        )
    if conditions:
        annotations[CONDITIONS] = _json([_condition_to_v1(c) for c in conditions])
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    v1_spec: Obj = {"scaleTargetRef": copy.deepcopy(spec.get("scaleTargetRef"))}
    if "minReplicas" in spec:
        v1_spec["minReplicas"] = spec["minReplicas"]
    v1_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    if cpu is not None:
        v1_spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"]["averageUtilization"]
    v1_status: Obj = {key: status[key] for key in _STATUS_FIELDS if key in status}
    v1_status.setdefault("currentReplicas", 0)
    v1_status.setdefault("desiredReplicas", 0)
    for metric in current:
        source = _map(metric.get("resource"))
        utilization = _map(source.get("current")).get("averageUtilization")
        if (
            metric.get("type") == "Resource"
            and source.get("name") == "cpu"
            and utilization is not None
        ):
            v1_status["currentCPUUtilizationPercentage"] = utilization
    out: Obj = {"kind": obj.get("kind"), "apiVersion": "autoscaling/v1", "metadata": meta}
    out["spec"] = v1_spec
    if "status" in obj:
        out["status"] = v1_status
    return out


# ------------------------------------------------------------------ v1 -> v2


def _target(kind: str, **values: Any) -> Obj:
    return {"type": kind, **_present(**values)}


def _metric_spec_from_v1(metric: Obj) -> Obj:
    out: Obj = {"type": metric.get("type")}
    if isinstance(metric.get("object"), dict):
        source = metric["object"]
        average = source.get("averageValue")
        out["object"] = {
            "describedObject": source.get("target") or {},
            "metric": _present(name=source.get("metricName"), selector=source.get("selector")),
            "target": _target(
                "AverageValue" if average is not None else "Value",
                value=source.get("targetValue"),
                averageValue=average,
            ),
        }
    if isinstance(metric.get("pods"), dict):
        source = metric["pods"]
        out["pods"] = {
            "metric": _present(name=source.get("metricName"), selector=source.get("selector")),
            "target": _target("AverageValue", averageValue=source.get("targetAverageValue")),
        }
    for key in ("resource", "containerResource"):
        if isinstance(metric.get(key), dict):
            source = metric[key]
            utilization = source.get("targetAverageUtilization")
            out[key] = _present(
                name=source.get("name"),
                container=source.get("container"),
                target=_target(
                    "Utilization" if utilization is not None else "AverageValue",
                    averageUtilization=utilization,
                    averageValue=source.get("targetAverageValue"),
                ),
            )
    if isinstance(metric.get("external"), dict):
        source = metric["external"]
        value = source.get("targetValue")
        out["external"] = {
            "metric": _present(
                name=source.get("metricName"), selector=source.get("metricSelector")
            ),
            "target": _target(
                "Value" if value is not None else "AverageValue",
                value=value,
                averageValue=source.get("targetAverageValue"),
            ),
        }
    return out


def _metric_status_from_v1(metric: Obj) -> Obj:
    out: Obj = {"type": metric.get("type")}
    if isinstance(metric.get("object"), dict):
        source = metric["object"]
        out["object"] = {
            "describedObject": source.get("target") or {},
            "metric": _present(name=source.get("metricName"), selector=source.get("selector")),
            "current": _present(
                value=source.get("currentValue"), averageValue=source.get("averageValue")
            ),
        }
    if isinstance(metric.get("pods"), dict):
        source = metric["pods"]
        out["pods"] = {
            "metric": _present(name=source.get("metricName"), selector=source.get("selector")),
            "current": _present(averageValue=source.get("currentAverageValue")),
        }
    for key in ("resource", "containerResource"):
        if isinstance(metric.get(key), dict):
            source = metric[key]
            out[key] = _present(
                name=source.get("name"),
                container=source.get("container"),
                current=_present(
                    averageUtilization=source.get("currentAverageUtilization"),
                    averageValue=source.get("currentAverageValue"),
                ),
            )
    if isinstance(metric.get("external"), dict):
        source = metric["external"]
        out["external"] = {
            "metric": _present(
                name=source.get("metricName"), selector=source.get("metricSelector")
            ),
            "current": _present(
                value=source.get("currentValue"),
                averageValue=source.get("currentAverageValue"),
            ),
        }
    return out


def _loaded(annotations: Obj, key: str) -> Any:
    """An annotation's JSON; None when absent or not JSON (the conversion then ignores it)."""
    text = annotations.get(key)
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _field(value: Obj, name: str) -> Any:
    """A field of the internal type's JSON: Go matches names without regard to case."""
    return next((v for k, v in value.items() if k.lower() == name.lower()), None)


def _rules_from_internal(rules: Any) -> Obj | None:
    if not isinstance(rules, dict):
        return None
    policies = _field(rules, "policies")
    return _present(
        stabilizationWindowSeconds=_field(rules, "stabilizationWindowSeconds"),
        selectPolicy=_field(rules, "selectPolicy"),
        policies=[
            {
                "type": _field(policy, "type"),
                "value": _field(policy, "value"),
                "periodSeconds": _field(policy, "periodSeconds"),
            }
            for policy in policies
            if isinstance(policy, dict)
        ]
        if isinstance(policies, list)
        else None,
    )


def _hpa_from_v1(obj: Obj) -> Obj:
    meta = copy.deepcopy(_map(obj.get("metadata")))
    annotations = _map(meta.get("annotations"))
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    v2_spec: Obj = {"scaleTargetRef": copy.deepcopy(spec.get("scaleTargetRef"))}
    for key in ("minReplicas", "maxReplicas"):
        if key in spec:
            v2_spec[key] = spec[key]
    metrics: list[Obj] = []
    other = _loaded(annotations, METRICS)
    if isinstance(other, list):
        metrics.extend(_metric_spec_from_v1(m) for m in other if isinstance(m, dict))
    cpu = spec.get("targetCPUUtilizationPercentage")
    if cpu is None and not metrics:
        cpu = DEFAULT_CPU_UTILIZATION
    if cpu is not None:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": _target("Utilization", averageUtilization=cpu),
                },
            }
        )
    v2_spec["metrics"] = metrics
    behavior = _loaded(annotations, BEHAVIOR)
    if isinstance(behavior, dict):
        rules = {
            key: found
            for key in ("scaleUp", "scaleDown")
            if (found := _rules_from_internal(_field(behavior, key))) is not None
        }
        if rules:  # an empty behavior (both rules nil) is none at all
            v2_spec["behavior"] = rules
    v2_status: Obj = {key: status[key] for key in _STATUS_FIELDS if key in status}
    utilization = status.get("currentCPUUtilizationPercentage")
    if utilization is not None:
        v2_status["currentMetrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": utilization}},
            }
        ]
    current = _loaded(annotations, CURRENT_METRICS)
    if isinstance(current, list):
        v2_status["currentMetrics"] = [
            _metric_status_from_v1(m) for m in current if isinstance(m, dict)
        ]
    conditions = _loaded(annotations, CONDITIONS)
    if isinstance(conditions, list):
        v2_status["conditions"] = [_condition_to_v1(c) for c in conditions if isinstance(c, dict)]
    kept = {key: value for key, value in annotations.items() if key not in _ROUND_TRIP}
    if kept:
        meta["annotations"] = kept
    else:
        meta.pop("annotations", None)
    out: Obj = {"kind": obj.get("kind"), "apiVersion": "autoscaling/v2", "metadata": meta}
    out["spec"] = v2_spec
    if "status" in obj:
        out["status"] = v2_status
    return out


_CONVERSIONS: dict[tuple[str, str, str], tuple[Callable[[Obj], Obj], Callable[[Obj], Obj]]] = {
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): (_hpa_to_v1, _hpa_from_v1),
}
