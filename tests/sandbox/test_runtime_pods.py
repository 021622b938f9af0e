"""The kubelet part: pods run as local processes with their env, volumes, logs and probes."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import psutil
import pytest

from sandbox import paths
from sandbox.apiserver.objects import ObjectApi
from sandbox.kubelet import containerview
from sandbox.kubelet.runtime import ProcessGroups
from sandbox.resources import BY_PLURAL, NODE_NAME
from tests.sandbox.inprocess import (
    NAMESPACE,
    Cluster,
    container_status,
    phase,
    pod,
    python_container,
    running_cluster,
)

pytestmark = pytest.mark.slow

# What a claim needs to be valid: an access mode and a size.
CLAIM_SPEC = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
PRINT_ENV = (
    "import json, os, sys; print(json.dumps(dict(os.environ))); print('to stderr', file=sys.stderr)"
)


def _log(cluster: Cluster, pod_name: str, container: str) -> list[str]:
    """The log of the container's current instance."""
    obj = cluster.get("pods", pod_name) or {}
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    status = next((s for s in statuses if s["name"] == container), {})
    if "containerID" not in status:
        return []
    where = (cluster.state_dir, NAMESPACE, pod_name, obj["metadata"]["uid"], container)
    path = paths.log_path(*where, status["containerID"])
    return path.read_text().splitlines() if path.exists() else []


def _env_from_log(cluster: Cluster, pod_name: str) -> dict[str, str]:
    line = next(line for line in _log(cluster, pod_name, "main") if " {" in line)
    return json.loads(line.split(" ", 1)[1])


def test_env_volumes_ports_and_log(cluster: Cluster) -> None:
    cluster.create("configmaps", {"metadata": {"name": "cfg"}, "data": {"MODEL_DIR": "/models"}})
    secret = base64.b64encode(b"s3cret").decode()
    cluster.create("secrets", {"metadata": {"name": "sec"}, "data": {"API_KEY": secret}})
    cluster.create("persistentvolumeclaims", {"metadata": {"name": "data"}, "spec": CLAIM_SPEC})
    container = python_container(
        "main",
        PRINT_ENV,
        envFrom=[
            {"configMapRef": {"name": "cfg"}},
            {"secretRef": {"name": "absent", "optional": True}},
        ],
        env=[
            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "API_KEY"}}},
            {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "OUT", "value": "/data/out/$(ME)"},
        ],
        ports=[{"name": "http", "containerPort": 8000}],
        volumeMounts=[
            {"name": "models", "mountPath": "/models"},
            {"name": "data", "mountPath": "/data"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    )
    volumes = [
        {"name": "models", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "tmp", "emptyDir": {}},
    ]
    cluster.create("pods", pod("envy", container, volumes=volumes))
    cluster.wait_for(lambda: phase(cluster, "envy") == "Succeeded", "the pod to succeed")

    env = _env_from_log(cluster, "envy")
    obj = cluster.get("pods", "envy")
    assert obj is not None
    pod_ip = obj["status"]["podIP"]
    assert pod_ip.startswith("127.") and pod_ip != "127.0.0.1"
    assert env["KEY"] == "s3cret"
    assert (env["ME"], env["IP"], env["HOST"], env["PORT"]) == ("envy", pod_ip, pod_ip, "8000")
    # the node's own address: the .1 of its pod range, which no pod gets
    node = cluster.get("nodes", NODE_NAME, namespace="")
    assert node is not None
    internal_ip = node["status"]["addresses"][0]
    assert internal_ip == {"type": "InternalIP", "address": obj["status"]["hostIP"]}
    assert env["NODE"] == obj["status"]["hostIP"] == pod_ip.rsplit(".", 1)[0] + ".1"
    if containerview.available():
        # its own view: the paths the manifest gives are the paths it finds
        seen = (env["MODEL_DIR"], env["OUT"], env["TMPDIR"])
        assert seen == ("/models", "/data/out/envy", "/tmp")
    else:
        claim_dir = str(paths.volume_dir(cluster.state_dir, NAMESPACE, "data"))
        assert env["MODEL_DIR"] == claim_dir
        assert env["OUT"] == f"{claim_dir}/out/envy"
        assert Path(env["TMPDIR"]).is_dir() and env["TMPDIR"].startswith(str(cluster.state_dir))
    assert Path(env["PATH"].split(os.pathsep)[0]) == Path(sys.executable).parent
    lines = _log(cluster, "envy", "main")
    assert any(line.endswith(" to stderr") and line[:4].isdigit() for line in lines)

    terminated = container_status(obj)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert obj["spec"]["nodeName"] == "sandbox"
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")
    assert {e["reason"] for e in cluster.store.list("events", NAMESPACE)[0]} >= {
        "Scheduled",
        "Pulled",
        "Created",
        "Started",
    }


def test_missing_configmap_waits_then_recovers(cluster: Cluster) -> None:
    container = python_container(
        "main",
        PRINT_ENV,
        env=[{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "late", "key": "LEVEL"}}}],
    )
    cluster.create("pods", pod("waiter", container))

    def waiting_reason() -> str:
        state = container_status(cluster.get("pods", "waiter")).get("state", {})
        return (state.get("waiting") or {}).get("message", "") if "waiting" in state else ""

    message = cluster.wait_for(
        lambda: (
            container_status(cluster.get("pods", "waiter"))
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "CreateContainerConfigError"
            and waiting_reason()
        ),
        "CreateContainerConfigError",
    )
    assert message == 'configmap "late" not found'
    assert phase(cluster, "waiter") == "Pending"
    assert cluster.events("Failed")

    cluster.create("configmaps", {"metadata": {"name": "late"}, "data": {"LEVEL": "debug"}})
    cluster.wait_for(lambda: phase(cluster, "waiter") == "Succeeded", "the pod to run once created")
    assert _env_from_log(cluster, "waiter")["LEVEL"] == "debug"


def test_missing_claim_keeps_pod_pending(cluster: Cluster) -> None:
    volumes = [{"name": "v", "persistentVolumeClaim": {"claimName": "later"}}]
    cluster.create("pods", pod("claims", python_container("main", "print('ok')"), volumes=volumes))
    event = cluster.wait_for(lambda: cluster.events("FailedScheduling"), "FailedScheduling")
    assert 'persistentvolumeclaim "later" not found' in event[0]["message"]
    assert phase(cluster, "claims") == "Pending"

    cluster.create("persistentvolumeclaims", {"metadata": {"name": "later"}, "spec": CLAIM_SPEC})
    cluster.wait_for(lambda: phase(cluster, "claims") == "Succeeded", "the pod to run")
    pvc = cluster.get("persistentvolumeclaims", "later")
    assert pvc is not None and pvc["status"]["phase"] == "Bound"


def _pid(cluster: Cluster, name: str) -> int:
    status = container_status(cluster.get("pods", name))
    return (
        int(status["containerID"].removeprefix("sandbox://"))
        if "running" in status.get("state", {})
        else 0
    )


SERVE = (
    "import http.server, os; os.chdir(os.environ['SITE']); "
    "http.server.HTTPServer((os.environ['HOST'], int(os.environ['PORT'])), "
    "http.server.SimpleHTTPRequestHandler).serve_forever()"
)


def _server(name: str, site: Path, **probes: object) -> dict:
    """A pod serving the host folder ``site``, which it reaches through a hostPath volume."""
    container = python_container(
        "web",
        SERVE,
        env=[{"name": "SITE", "value": "/site"}],
        ports=[{"name": "http", "containerPort": 8080}],
        volumeMounts=[{"name": "site", "mountPath": "/site"}],
        **probes,
    )
    volumes = [{"name": "site", "hostPath": {"path": str(site)}}]
    return pod(name, container, restart="Always", volumes=volumes)


def test_killed_process_is_restarted_in_place(cluster: Cluster, tmp_path: Path) -> None:
    cluster.create("pods", _server("victim", tmp_path))
    first = cluster.wait_for(lambda: _pid(cluster, "victim"), "the container to run")
    os.kill(first, signal.SIGKILL)

    cluster.wait_for(
        lambda: container_status(cluster.get("pods", "victim")).get("restartCount") == 1,
        "a restart",
    )
    second = cluster.wait_for(lambda: _pid(cluster, "victim"), "the container to run again")
    assert second != first
    last = container_status(cluster.get("pods", "victim"))["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (137, "Error")
    assert phase(cluster, "victim") == "Running"


def test_liveness_failure_restarts_and_readiness_gates(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "alive").write_text("yes")
    probe = {
        "httpGet": {"path": "/alive", "port": "http"},
        "periodSeconds": 1,
        "failureThreshold": 1,
        "timeoutSeconds": 5,
    }
    # the startup probe holds the liveness probe back until the server listens
    startup = {**probe, "failureThreshold": 50}
    sick = _server(
        "sick", tmp_path, startupProbe=startup, livenessProbe=probe, readinessProbe=dict(probe)
    )
    cluster.create("pods", sick)
    cluster.wait_for(
        lambda: container_status(cluster.get("pods", "sick")).get("ready"), "readiness"
    )

    (tmp_path / "alive").unlink()
    cluster.wait_for(
        lambda: any("404" in e["message"] for e in cluster.events("Unhealthy")), "a failed probe"
    )
    cluster.wait_for(lambda: cluster.events("Killing"), "the liveness kill")
    (tmp_path / "alive").write_text("yes again")

    def restarted_and_ready() -> bool:
        status = container_status(cluster.get("pods", "sick"))
        return status.get("restartCount", 0) >= 1 and bool(status.get("ready"))

    cluster.wait_for(restarted_and_ready, "the restarted container to be ready")
    assert "terminated" in container_status(cluster.get("pods", "sick"))["lastState"]
    unhealthy = cluster.events("Unhealthy")
    assert any(
        "probe failed: HTTP probe failed with statuscode: 404" in e["message"] for e in unhealthy
    )


def test_crash_loop_backs_off(tmp_path: Path) -> None:
    with running_cluster(tmp_path, clock_speed=20) as cluster:
        cluster.create(
            "pods", pod("crashy", python_container("main", "raise SystemExit(3)"), restart="Always")
        )
        cluster.wait_for(lambda: cluster.events("BackOff"), "a BackOff event")
        status = container_status(cluster.get("pods", "crashy"))
        assert status["restartCount"] >= 1
        assert status["lastState"]["terminated"]["exitCode"] == 3
        assert phase(cluster, "crashy") == "Running"


def test_deleting_the_namespace_ends_every_process(cluster: Cluster, tmp_path: Path) -> None:
    sleeper = python_container("main", "import subprocess; subprocess.run(['sleep', '600'])")
    for name in ("one", "two"):
        cluster.create("pods", pod(name, sleeper, terminationGracePeriodSeconds=1))
    pids = [
        cluster.wait_for(partial(_pid, cluster, name), f"{name} to run") for name in ("one", "two")
    ]
    groups = [psutil.Process(pid) for pid in pids]
    children = cluster.wait_for(
        lambda: (
            [c for g in groups for c in g.children(recursive=True)]
            if all(g.children() for g in groups)
            else []
        ),
        "the grandchildren",
    )

    scratch = cluster.state_dir / "pods" / NAMESPACE
    assert len(list(scratch.iterdir())) == 2

    # As kubectl would: the namespace controller then deletes the pods (after its 5 s grace).
    ObjectApi(cluster.store).delete(BY_PLURAL["namespaces"], None, NAMESPACE, None, False)
    gone, alive = psutil.wait_procs([*groups, *children], timeout=20)
    assert not alive
    assert len(gone) == 4
    cluster.wait_for(lambda: not list(scratch.iterdir()), "the pods' scratch dirs to go")


def test_stop_leaves_nothing_running(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        cluster.create(
            "pods", pod("long", python_container("main", "import time; time.sleep(600)"))
        )
        pid = cluster.wait_for(lambda: _pid(cluster, "long"), "the pod to run")
        process = psutil.Process(pid)
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0


def test_leftovers_of_a_killed_sandbox_are_ended_at_the_next_start(tmp_path: Path) -> None:
    orphan = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        ProcessGroups(tmp_path).add(orphan.pid)  # a run that died without stopping its pods
        ProcessGroups(tmp_path)
        assert orphan.wait(timeout=5) == -signal.SIGKILL
    finally:
        orphan.kill()
        orphan.wait()
