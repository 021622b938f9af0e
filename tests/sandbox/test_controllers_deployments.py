"""Deployments, ReplicaSets, Services, HPAs and PVCs, as kubectl and the TUI read them."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sandbox.controllers.deployments import template_hash
from tests.sandbox.inprocess import NAMESPACE, Cluster, python_container

pytestmark = pytest.mark.slow

Obj = dict[str, Any]

SERVE = (
    "import http.server, os; http.server.HTTPServer((os.environ['HOST'], int(os.environ['PORT'])), "
    "http.server.SimpleHTTPRequestHandler).serve_forever()"
)


def deployment(name: str, replicas: int) -> Obj:
    container = python_container(
        "web",
        SERVE,
        ports=[{"name": "http", "containerPort": 8000}],
        readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
            },
        },
    }


def rolled_out(cluster: Cluster, name: str) -> bool:
    """kubectl rollout status's test for a finished rollout."""
    obj = cluster.get("deployments", name) or {}
    status, spec = obj.get("status") or {}, obj.get("spec") or {}
    progressing: Obj = next(
        (c for c in status.get("conditions") or [] if c["type"] == "Progressing"), {}
    )
    return (
        status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == spec["replicas"]
        and status.get("replicas", 0) == spec["replicas"]
        and status.get("availableReplicas", 0) == spec["replicas"]
        and progressing.get("reason") == "NewReplicaSetAvailable"
    )


def _restart(obj: Obj) -> None:
    annotations = obj["spec"]["template"]["metadata"].setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/restartedAt"] = "2026-01-01T00:00:00Z"


def _ready_pods(cluster: Cluster, name: str) -> int:
    return sum(
        1
        for pod in cluster.pods(labels=f"app={name}")
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
    )


def test_rolling_restart_keeps_every_replica_available(cluster: Cluster) -> None:
    cluster.create("deployments", deployment("web", 2))
    cluster.wait_for(lambda: rolled_out(cluster, "web"), "the first rollout")
    first_pods = {p["metadata"]["name"] for p in cluster.pods(labels="app=web")}
    lowest = [2]
    watching = threading.Event()
    watching.set()

    def watch(event: str, resource: str, obj: Obj) -> None:
        if resource == "pods" and watching.is_set():
            lowest[0] = min(lowest[0], _ready_pods(cluster, "web"))

    unsubscribe = cluster.store.subscribe(watch)
    cluster.store.mutate("deployments", NAMESPACE, "web", _restart)
    cluster.wait_for(lambda: rolled_out(cluster, "web"), "the restart rollout")
    watching.clear()
    unsubscribe()

    assert lowest[0] >= 2  # maxUnavailable 0: a new pod is ready before an old one goes
    # the old pods terminate gracefully (a 1 s grace), then are gone
    cluster.wait_for(lambda: len(cluster.pods(labels="app=web")) == 2, "the old pods gone")
    pods = cluster.pods(labels="app=web")
    assert not first_pods & {p["metadata"]["name"] for p in pods}
    obj = cluster.get("deployments", "web") or {}
    assert obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    replicasets = cluster.store.list("replicasets", NAMESPACE)[0]
    assert sorted(rs["spec"]["replicas"] for rs in replicasets) == [0, 2]
    new = next(rs for rs in replicasets if rs["spec"]["replicas"] == 2)
    pod_hash = new["metadata"]["labels"]["pod-template-hash"]
    assert new["metadata"]["name"] == f"web-{pod_hash}"
    assert pod_hash == template_hash(obj["spec"]["template"])
    assert all(p["metadata"]["name"].startswith(f"web-{pod_hash}-") for p in pods)
    messages = [e["message"] for e in cluster.events("ScalingReplicaSet")]
    assert f"Scaled up replica set web-{pod_hash} from 0 to 1" in messages


def test_scale_service_endpoints_and_hpa(cluster: Cluster) -> None:
    cluster.create("deployments", deployment("api", 1))
    cluster.create(
        "services",
        {
            "metadata": {"name": "api-svc"},
            "spec": {
                "selector": {"app": "api"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    )
    cluster.create(
        "horizontalpodautoscalers",
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "api-hpa"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                "minReplicas": 2,
                "maxReplicas": 4,
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
    # the HPA lifts the deployment to minReplicas, as the real one does without metrics
    cluster.wait_for(
        lambda: (cluster.get("deployments", "api") or {})["spec"]["replicas"] == 2, "min replicas"
    )
    cluster.wait_for(lambda: rolled_out(cluster, "api"), "two ready replicas")

    def hpa_status() -> Obj:
        return (cluster.get("horizontalpodautoscalers", "api-hpa") or {}).get("status") or {}

    cluster.wait_for(lambda: hpa_status().get("currentReplicas") == 2, "the HPA status")
    hpa = {"status": hpa_status()}
    active = next(c for c in hpa["status"]["conditions"] if c["type"] == "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert "currentMetrics" not in hpa["status"]

    def addresses() -> list[Obj]:
        endpoints = cluster.get("endpoints", "api-svc") or {}
        return [a for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []]

    cluster.wait_for(lambda: len(addresses()) == 2, "two endpoints")
    endpoints = cluster.get("endpoints", "api-svc") or {}
    assert endpoints["subsets"][0]["ports"] == [{"port": 8000, "protocol": "TCP", "name": "http"}]

    cluster.store.mutate("deployments", NAMESPACE, "api", lambda d: d["spec"].update(replicas=3))
    cluster.wait_for(lambda: rolled_out(cluster, "api") and len(addresses()) == 3, "scale up")
    cluster.store.mutate("deployments", NAMESPACE, "api", lambda d: d["spec"].update(replicas=2))
    cluster.wait_for(lambda: rolled_out(cluster, "api") and len(addresses()) == 2, "scale down")
    # the pod scaled away terminates gracefully (its 1 s grace), then is gone
    cluster.wait_for(lambda: len(cluster.pods(labels="app=api")) == 2, "the pod gone")


def test_claims_bind_to_a_state_directory(cluster: Cluster) -> None:
    cluster.create(
        "persistentvolumeclaims",
        {
            "metadata": {"name": "models"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )

    def claim() -> Obj:
        return cluster.get("persistentvolumeclaims", "models") or {}

    cluster.wait_for(lambda: claim().get("status", {}).get("phase") == "Bound", "the binding")
    pvc = claim()
    assert pvc["status"]["capacity"] == {"storage": "1Gi"}
    assert pvc["spec"]["volumeName"] == f"pvc-{pvc['metadata']['uid']}"
    assert (cluster.state_dir / "volumes" / NAMESPACE / "models").is_dir()


def test_endpoint_slices_follow_readiness(cluster: Cluster) -> None:
    cluster.create("deployments", deployment("sliced", 1))
    service = cluster.create(
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "sliced-svc"},
            "spec": {"selector": {"app": "sliced"}, "ports": [{"port": 80, "targetPort": 8000}]},
        },
    )

    def slice_endpoints() -> list[Obj]:
        slices = cluster.store.list(
            "endpointslices", NAMESPACE, label_selector="kubernetes.io/service-name=sliced-svc"
        )[0]
        return [e for s in slices for e in s.get("endpoints") or []]

    cluster.wait_for(
        lambda: [e for e in slice_endpoints() if e["conditions"]["ready"]], "a ready endpoint"
    )
    (endpoint_slice,) = cluster.store.list("endpointslices", NAMESPACE)[0]
    assert endpoint_slice["ports"] == [{"name": "", "port": 8000, "protocol": "TCP"}]
    assert endpoint_slice["metadata"]["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
    cluster.store.delete("services", NAMESPACE, "sliced-svc")
    cluster.wait_for(
        lambda: not cluster.store.list("endpointslices", NAMESPACE)[0],
        "the garbage collector to delete the slices of the deleted service",
    )
