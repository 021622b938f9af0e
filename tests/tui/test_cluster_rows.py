"""Rows for the watch tables, checked against what kubectl prints for the same objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tui.cluster import kinds, rows

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str = "iris-api-1", *, statuses=None, phase="Running", **extra) -> dict:
    obj = {
        "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": ago(minutes=5)},
        "spec": {"containers": [{"name": "api"}], "nodeName": "minikube"},
        "status": {"phase": phase, "containerStatuses": statuses or []},
    }
    for key, value in extra.items():
        obj[key].update(value)
    return obj


def container(ready=False, restarts=0, **state) -> dict:
    return {"name": "api", "ready": ready, "restartCount": restarts, "state": state}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (150, "2m30s"),
        (180, "3m"),
        (42 * 60, "42m"),
        (5 * 3600 + 12 * 60, "5h12m"),
        (20 * 3600, "20h"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (200 * 86400, "200d"),
        (800 * 86400, "2y70d"),
        (-5, "0s"),
    ],
)
def test_human_duration_matches_kubectl(seconds: int, text: str) -> None:
    assert rows.human_duration(seconds) == text


def test_running_ready_pod() -> None:
    obj = pod(statuses=[container(ready=True, running={"startedAt": ago(minutes=4)})])
    assert kinds.row("pods", obj, NOW) == ("iris-api-1", "1/1", "Running", "0", "5m", "minikube")


def test_crash_looping_pod_shows_reason_and_last_restart() -> None:
    status = container(restarts=3, waiting={"reason": "CrashLoopBackOff"})
    status["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": ago(seconds=40)}}
    _, ready, state, restarts, *_ = kinds.row("pods", pod(statuses=[status]), NOW)
    assert (ready, state, restarts) == ("0/1", "CrashLoopBackOff", "3 (40s ago)")


@pytest.mark.parametrize(
    ("state", "phase", "expected"),
    [
        ({"waiting": {"reason": "ContainerCreating"}}, "Pending", "ContainerCreating"),
        (
            {"waiting": {"reason": "CreateContainerConfigError"}},
            "Pending",
            "CreateContainerConfigError",
        ),
        ({"terminated": {"reason": "Completed", "exitCode": 0}}, "Succeeded", "Completed"),
        ({"terminated": {"reason": "Error", "exitCode": 2}}, "Failed", "Error"),
        ({"terminated": {"exitCode": 137, "signal": 9}}, "Failed", "Signal:9"),
        ({"terminated": {"exitCode": 3}}, "Failed", "ExitCode:3"),
    ],
)
def test_pod_status_reasons(state: dict, phase: str, expected: str) -> None:
    assert rows.pod_status(pod(statuses=[container(**state)], phase=phase)) == expected


def test_pending_pod_without_statuses_shows_phase() -> None:
    assert rows.pod_status(pod(phase="Pending")) == "Pending"


def test_deleted_pod_is_terminating() -> None:
    obj = pod(statuses=[container(ready=True, running={})])
    obj["metadata"]["deletionTimestamp"] = ago(seconds=1)
    assert rows.pod_status(obj) == "Terminating"


def test_evicted_pod_shows_pod_reason() -> None:
    obj = pod(phase="Failed", status={"reason": "Evicted"})
    assert rows.pod_status(obj) == "Evicted"


def test_init_container_progress() -> None:
    obj = pod(phase="Pending", spec={"initContainers": [{"name": "a"}, {"name": "b"}]})
    obj["status"]["initContainerStatuses"] = [
        {"name": "a", "state": {"terminated": {"exitCode": 0}}},
        {"name": "b", "state": {"running": {}}},
    ]
    assert rows.pod_status(obj) == "Init:1/2"


def test_job_rows() -> None:
    running = {
        "metadata": {"name": "iris-train-job", "creationTimestamp": ago(minutes=2)},
        "spec": {"completions": 1},
        "status": {"startTime": ago(seconds=90), "active": 1},
    }
    assert kinds.row("jobs", running, NOW) == ("iris-train-job", "Running", "0/1", "90s", "2m")
    done = {
        "metadata": {"name": "iris-train-job", "creationTimestamp": ago(hours=1)},
        "spec": {"completions": 1},
        "status": {
            "startTime": ago(minutes=60),
            "completionTime": ago(minutes=59, seconds=35),
            "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"},
            ],
        },
    }
    assert kinds.row("jobs", done, NOW) == ("iris-train-job", "Complete", "1/1", "25s", "60m")
    failed = {
        "metadata": {"name": "b"},
        "spec": {"parallelism": 3},
        "status": {"conditions": [{"type": "Failed", "status": "True"}]},
    }
    _, status, completions, duration, _ = kinds.row("jobs", failed, NOW)
    assert (status, completions, duration) == ("Failed", "0/1 of 3", "")


def test_suspended_and_pending_jobs() -> None:
    suspended = {
        "metadata": {},
        "spec": {},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]},
    }
    assert rows.job_status(suspended) == "Suspended"
    assert rows.job_status({"metadata": {}, "spec": {}, "status": {}}) == "Running"
    finishing = {
        "metadata": {},
        "status": {
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "False"},
            ]
        },
    }
    assert rows.job_status(finishing) == "SuccessCriteriaMet"
    deleted = {"metadata": {"deletionTimestamp": ago(seconds=1)}, "status": {}}
    assert rows.job_status(deleted) == "Terminating"


def test_cronjob_row() -> None:
    cronjob = {
        "metadata": {"name": "iris-batch-predict", "creationTimestamp": ago(days=2)},
        "spec": {"schedule": "*/5 * * * *", "suspend": True},
        "status": {"lastScheduleTime": ago(minutes=3), "active": [{"name": "x"}]},
    }
    assert kinds.row("cronjobs", cronjob, NOW) == (
        "iris-batch-predict",
        "*/5 * * * *",
        "True",
        "1",
        "3m",
        "2d",
    )
    cronjob["spec"]["suspend"] = False
    del cronjob["status"]["lastScheduleTime"]
    cronjob["status"]["active"] = []
    assert kinds.row("cronjobs", cronjob, NOW)[2:5] == ("False", "0", "<none>")


def test_deployment_row() -> None:
    deployment = {
        "metadata": {"name": "iris-api", "creationTimestamp": ago(hours=3)},
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1},
    }
    assert kinds.row("deployments", deployment, NOW) == ("iris-api", "1/2", "2", "1", "3h")


def test_service_rows() -> None:
    cluster_ip = {
        "metadata": {"name": "iris-api-svc", "creationTimestamp": ago(minutes=1)},
        "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.5", "ports": [{"port": 80}]},
    }
    assert kinds.row("services", cluster_ip, NOW) == (
        "iris-api-svc",
        "ClusterIP",
        "10.0.0.5",
        "<none>",
        "80/TCP",
        "60s",
    )
    balancer = {
        "metadata": {"name": "iris-api-svc"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.0.0.5",
            "ports": [{"port": 80, "nodePort": 31234, "protocol": "TCP"}],
        },
    }
    assert kinds.row("services", balancer, NOW)[3:5] == ("<pending>", "80:31234/TCP")
    balancer["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    assert kinds.row("services", balancer, NOW)[3] == "203.0.113.7"


def test_pvc_row() -> None:
    claim = {
        "metadata": {"name": "ml-model-pvc", "creationTimestamp": ago(minutes=30)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "volumeName": "pvc-123",
            "storageClassName": "standard",
        },
        "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}},
    }
    assert kinds.row("persistentvolumeclaims", claim, NOW) == (
        "ml-model-pvc",
        "Bound",
        "pvc-123",
        "1Gi",
        "RWO",
        "standard",
        "30m",
    )
    pending = {
        "metadata": {"name": "x"},
        "spec": {"accessModes": ["ReadWriteOnce"]},
        "status": {"phase": "Pending"},
    }
    assert kinds.row("persistentvolumeclaims", pending, NOW)[1:6] == (
        "Pending",
        "",
        "",
        "",
        "<none>",
    )


def test_hpa_row_before_and_after_metrics() -> None:
    hpa = {
        "metadata": {"name": "iris-api-hpa", "creationTimestamp": ago(minutes=10)},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "iris-api"},
            "minReplicas": 1,
            "maxReplicas": 5,
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
        "status": {"currentReplicas": 1, "desiredReplicas": 1},
    }
    assert kinds.row("horizontalpodautoscalers", hpa, NOW) == (
        "iris-api-hpa",
        "Deployment/iris-api",
        "cpu: <unknown>/70%",
        "1",
        "5",
        "1",
        "1",
        "10m",
    )
    hpa["status"].update(
        desiredReplicas=3,
        currentMetrics=[
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 95}}}
        ],
    )
    assert kinds.row("horizontalpodautoscalers", hpa, NOW)[2:7] == (
        "cpu: 95%/70%",
        "1",
        "5",
        "1",
        "3",
    )


def test_event_row() -> None:
    event = {
        "metadata": {"name": "iris-api-1.abc"},
        "involvedObject": {"kind": "Pod", "name": "iris-api-1"},
        "type": "Warning",
        "reason": "Unhealthy",
        "message": "Readiness probe failed:\nHTTP 503",
        "count": 4,
        "lastTimestamp": ago(seconds=12),
    }
    assert kinds.row("events", event, NOW) == (
        "12s (x4)",
        "Warning",
        "Unhealthy",
        "pod/iris-api-1",
        "Readiness probe failed: HTTP 503",
    )


def test_every_watched_kind_has_columns_matching_its_rows() -> None:
    for kind in kinds.WATCHED:
        columns = kinds.KINDS[kind].columns
        assert len(kinds.row(kind, {"metadata": {"name": "x"}}, NOW)) == len(columns), kind


def test_row_key_is_uid_with_name_fallback() -> None:
    assert rows.row_key({"metadata": {"uid": "u1", "name": "a"}}) == "u1"
    assert rows.row_key({"metadata": {"namespace": "ml-course", "name": "a"}}) == "ml-course/a"


def test_owner_filters() -> None:
    job_uid = "job-1"
    pods = [
        {"metadata": {"name": "p1", "ownerReferences": [{"kind": "Job", "uid": job_uid}]}},
        {"metadata": {"name": "p2", "labels": {"batch.kubernetes.io/controller-uid": job_uid}}},
        {"metadata": {"name": "p3", "labels": {"controller-uid": "job-2"}}},
    ]
    assert [p["metadata"]["name"] for p in rows.pods_of_job(pods, job_uid)] == ["p1", "p2"]
