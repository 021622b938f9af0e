"""autoscaling/v1 served beside v2 for HorizontalPodAutoscalers: discovery, conversion both
ways (the v2-only fields riding in the v1 object's annotations, as the real server keeps
them), and `kubectl autoscale`, which in kubectl 1.32 creates a v1 object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.apiserver.conversion import (
    BEHAVIOR,
    CONDITIONS,
    CURRENT_METRICS,
    METRICS,
    to_served,
    to_storage,
)
from sandbox.resources import BY_PLURAL
from sandbox.testing import SandboxProcess

Obj = dict[str, Any]

NS = "autoscaling-v1"
V1 = BY_PLURAL["horizontalpodautoscalers"].at("v1")
# kubectl 1.32 drops the version of a short name (hpa.v1.autoscaling asks for v2): the full
# resource name keeps it.
HPA_V1 = "horizontalpodautoscalers.v1.autoscaling"

RICH_V2: Obj = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "api", "namespace": "lab", "annotations": {"team": "ml"}},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
        "minReplicas": 1,
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "200Mi"},
                },
            },
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            },
        ],
        "behavior": {
            "scaleDown": {
                "stabilizationWindowSeconds": 60,
                "selectPolicy": "Min",
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}],
            }
        },
    },
    "status": {
        "currentReplicas": 2,
        "desiredReplicas": 2,
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageUtilization": 40, "averageValue": "20m"},
                },
            }
        ],
        "conditions": [
            {
                "type": "AbleToScale",
                "status": "True",
                "lastTransitionTime": "2026-12-02T12:00:00Z",
                "reason": "SucceededGetScale",
                "message": "the HPA controller was able to get the target's current scale",
            }
        ],
    },
}


def test_v2_only_fields_ride_in_annotations_and_come_back() -> None:
    v1 = to_served(V1, RICH_V2)
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
        "minReplicas": 1,
        "maxReplicas": 5,
        "targetCPUUtilizationPercentage": 60,
    }
    assert v1["status"] == {
        "currentReplicas": 2,
        "desiredReplicas": 2,
        "currentCPUUtilizationPercentage": 40,
    }
    annotations = v1["metadata"]["annotations"]
    assert annotations["team"] == "ml"
    # v1's own metric types, compact JSON as Go marshals them
    assert annotations[METRICS] == (
        '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"200Mi"}}]'
    )
    assert json.loads(annotations[CURRENT_METRICS]) == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "currentAverageUtilization": 40,
                "currentAverageValue": "20m",
            },
        }
    ]
    # the internal type, untagged: Go's field names, nil as null
    assert annotations[BEHAVIOR] == (
        '{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":60,"SelectPolicy":"Min",'
        '"Policies":[{"Type":"Pods","Value":1,"PeriodSeconds":30}]}}'
    )
    assert json.loads(annotations[CONDITIONS]) == RICH_V2["status"]["conditions"]

    back = to_storage(V1, v1)
    # the CPU target comes after the metrics the annotation carried, as the real conversion
    # appends it
    assert back == RICH_V2


def test_a_v1_object_without_a_target_gets_the_default_cpu_utilization() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "annotations": {METRICS: "not json"}},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "maxReplicas": 3},
    }
    v2 = to_storage(V1, v1)
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert "annotations" not in v2["metadata"]  # round-trip annotations never reach storage


@pytest.fixture(scope="module")
def cluster(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.kubectl("create", "namespace", NS)
    shared_sandbox.kubectl("create", "-n", NS, "deployment", "web", "--image=lab:1")
    return shared_sandbox


def _json(cluster: SandboxProcess, *args: str) -> Obj:
    return dict(json.loads(cluster.kubectl(*args, "-n", NS, "-o", "json").stdout))


def test_discovery_serves_both_versions_v2_preferred(cluster: SandboxProcess) -> None:
    versions = cluster.kubectl("api-versions").stdout.split()
    assert {"autoscaling/v1", "autoscaling/v2"} <= set(versions)
    group = json.loads(cluster.kubectl("get", "--raw", "/apis/autoscaling").stdout)
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"]
    assert group["preferredVersion"]["version"] == "v2"
    explained = cluster.kubectl(
        "explain", "hpa.spec.targetCPUUtilizationPercentage", "--api-version=autoscaling/v1"
    ).stdout
    assert "VERSION:    v1" in explained and "target average CPU utilization" in explained


def test_kubectl_autoscale_creates_through_v1(cluster: SandboxProcess) -> None:
    made = cluster.kubectl(
        "autoscale", "-n", NS, "deploy/web", "--cpu-percent=50", "--min=1", "--max=3", "-v=6"
    )
    assert made.stdout.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled"
    assert (
        f"POST {cluster.url}/apis/autoscaling/v1/namespaces/{NS}/horizontalpodautoscalers"
        in made.stderr
    )
    v2 = _json(cluster, "get", "hpa", "web")
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50},
            },
        }
    ]
    listing = cluster.kubectl("get", "-n", NS, "hpa", "web").stdout.splitlines()
    assert listing[1].split()[:5] == ["web", "Deployment/web", "cpu:", "<unknown>/50%", "1"]
    v1 = _json(cluster, "get", HPA_V1, "web")
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    cluster.kubectl("delete", "-n", NS, "hpa", "web")


def test_writes_through_v1_keep_what_only_v2_holds(cluster: SandboxProcess) -> None:
    rich = json.loads(json.dumps(RICH_V2))
    rich["metadata"] = {"name": "rich", "namespace": NS}
    rich["spec"]["scaleTargetRef"]["name"] = "web"
    del rich["status"]
    cluster.kubectl("apply", "-f", "-", input=json.dumps(rich))
    v1 = _json(cluster, "get", HPA_V1, "rich")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 60
    assert METRICS in v1["metadata"]["annotations"]
    # a v1 client edits what it knows and sends the whole object back
    v1["spec"]["maxReplicas"] = 7
    v1["spec"]["targetCPUUtilizationPercentage"] = 65
    replaced = cluster.kubectl("replace", "-f", "-", input=json.dumps(v1))
    assert replaced.stdout.strip() == "horizontalpodautoscaler.autoscaling/rich replaced"
    v2 = _json(cluster, "get", "hpa", "rich")
    assert v2["spec"]["maxReplicas"] == 7
    assert [m["resource"]["name"] for m in v2["spec"]["metrics"]] == ["memory", "cpu"]
    assert v2["spec"]["metrics"][1]["resource"]["target"]["averageUtilization"] == 65
    assert v2["spec"]["behavior"] == rich["spec"]["behavior"]
    assert METRICS not in (v2["metadata"].get("annotations") or {})

    patch = '{"spec":{"targetCPUUtilizationPercentage":70}}'
    cluster.kubectl("patch", "-n", NS, HPA_V1, "rich", "--type=merge", "-p", patch)
    v2 = _json(cluster, "get", "hpa", "rich")
    assert v2["spec"]["metrics"][1]["resource"]["target"]["averageUtilization"] == 70
    assert v2["spec"]["metrics"][0]["resource"]["name"] == "memory"
    cluster.kubectl("delete", "-n", NS, "hpa", "rich")


def test_a_v1_manifest_is_decoded_and_validated_as_v1(cluster: SandboxProcess) -> None:
    manifest = f"""
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {{name: plain, namespace: {NS}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  maxReplicas: 2
"""
    assert cluster.kubectl("create", "-f", "-", input=manifest).stdout.strip() == (
        "horizontalpodautoscaler.autoscaling/plain created"
    )
    v2 = _json(cluster, "get", "hpa", "plain")
    assert v2["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 80,
    }
    unknown = manifest.replace("maxReplicas: 2", "maxReplicas: 2\n  metrics: []").replace(
        "plain", "strict"
    )
    refused = cluster.kubectl("create", "-f", "-", input=unknown, check=False)
    assert (refused.returncode, refused.stderr.strip()) == (
        1,
        'Error from server (BadRequest): error when creating "STDIN": HorizontalPodAutoscaler '
        'in version "v1" cannot be handled as a HorizontalPodAutoscaler: strict decoding error: '
        'unknown field "spec.metrics"',
    )
    cluster.kubectl("delete", "-n", NS, "hpa", "plain")
