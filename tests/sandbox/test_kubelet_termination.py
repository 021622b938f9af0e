"""Graceful deletion as kubectl sees it: Terminating, out of the Endpoints at once, preStop,
SIGTERM, the grace period, SIGKILL, then gone; --force and finished pods go at once."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from sandbox.testing import SandboxProcess, start_sandbox
from tests.polling import eventually

pytestmark = pytest.mark.slow

NS = "bye"
# Ready once it listens (on HOST:PORT, the pod's address and containerPort 8080); on SIGTERM
# it notes it, lingers LINGER seconds and exits (or, with LINGER=ignore, ignores it).
SERVER = """
import http.server, os, signal, sys, threading, time
mark = os.environ["MARK"]
def bye(*_):
    open(mark, "a").write("SIGTERM\\n"); time.sleep(float(os.environ["LINGER"])); sys.exit(0)
signal.signal(signal.SIGTERM, bye if os.environ["LINGER"] != "ignore" else signal.SIG_IGN)
address = (os.environ["HOST"], int(os.environ["PORT"]))
server = http.server.HTTPServer(address, http.server.BaseHTTPRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
while True: time.sleep(1)
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path_factory.mktemp("termination"))
    try:
        process.kubectl("create", "namespace", NS)
        yield process
    finally:
        process.stop()


def _pod(name: str, mark: Path, linger: str, grace: int = 30) -> dict:
    """The mark file is the host's, reached as a container would: through a hostPath, named
    in the env (which holds the host's folder where containers see the host's paths)."""
    inside = f"/marks/{mark.name}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": grace,
            "containers": [
                {
                    "name": "main",
                    "image": "iris-ml:0.1.0-dev",
                    "command": [sys.executable, "-c", SERVER],
                    "env": [
                        {"name": "MARK", "value": inside},
                        {"name": "LINGER", "value": linger},
                    ],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    "lifecycle": {
                        "preStop": {"exec": {"command": ["sh", "-c", 'echo preStop >> "$MARK"']}}
                    },
                    "volumeMounts": [{"name": "marks", "mountPath": "/marks"}],
                }
            ],
            "volumes": [{"name": "marks", "hostPath": {"path": str(mark.parent)}}],
        },
    }


def _service(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def _start(node: SandboxProcess, *objects: dict) -> int:
    node.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    name = objects[0]["metadata"]["name"]
    node.kubectl("wait", "-n", NS, "--for=condition=ready", f"pod/{name}", "--timeout=30s")
    pod = json.loads(node.kubectl("get", "pod", name, "-n", NS, "-o", "json").stdout)
    return int(pod["status"]["containerStatuses"][0]["containerID"].removeprefix("sandbox://"))


def _gone(node: SandboxProcess, name: str) -> bool:
    got = node.kubectl("get", "pod", name, "-n", NS, "--no-headers", check=False)
    return got.returncode != 0 and "NotFound" in got.stderr


def test_a_deleted_pod_terminates_gracefully(node: SandboxProcess, tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    pid = _start(node, _pod("web", mark, linger="1.5"), _service("web"))
    eventually(
        lambda: (
            node.kubectl("get", "endpoints", "web", "-n", NS, "--no-headers").stdout.split()[1]
            != "<none>"
        ),
        "the endpoint",
    )
    started = time.monotonic()
    node.kubectl("delete", "pod", "web", "-n", NS, "--wait=false")
    row = node.kubectl("get", "pod", "web", "-n", NS, "--no-headers").stdout.split()
    assert row[2] == "Terminating", row
    meta = json.loads(node.kubectl("get", "pod", "web", "-n", NS, "-o", "json").stdout)["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 30 and meta["deletionTimestamp"]
    eventually(
        lambda: (
            node.kubectl("get", "endpoints", "web", "-n", NS, "--no-headers").stdout.split()[1]
            == "<none>"
        ),
        "the address to leave the Endpoints",
        timeout=1.5,
    )
    slices = node.kubectl(
        "get", "endpointslices", "-n", NS, "-l", "kubernetes.io/service-name=web", "-o", "json"
    )
    endpoints = [e for s in json.loads(slices.stdout)["items"] for e in s.get("endpoints") or []]
    if endpoints:  # unless the pod has already gone
        assert endpoints[0]["conditions"] == {"ready": False, "serving": True, "terminating": True}
    eventually(lambda: _gone(node, "web"), "the pod to go")
    assert time.monotonic() - started >= 1.4  # it lingered after SIGTERM, inside its grace
    assert mark.read_text().splitlines() == ["preStop", "SIGTERM"]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    events = node.kubectl("get", "events", "-n", NS, "-o", "json").stdout
    assert "Stopping container main" in events


def test_sigkill_after_the_grace_period(node: SandboxProcess, tmp_path: Path) -> None:
    pid = _start(node, _pod("stubborn", tmp_path / "mark", linger="ignore", grace=3))
    started = time.monotonic()
    node.kubectl("delete", "pod", "stubborn", "-n", NS, "--wait=false")
    time.sleep(2)
    assert node.kubectl("get", "pod", "stubborn", "-n", NS, "--no-headers").stdout.split()[2] == (
        "Terminating"
    )
    assert psutil.pid_exists(pid)
    eventually(lambda: _gone(node, "stubborn"), "the pod to go")
    assert 3 <= time.monotonic() - started < 8
    eventually(lambda: not psutil.pid_exists(pid), "the SIGKILL", timeout=3)


def test_force_delete_is_at_once_and_the_process_still_ends(
    node: SandboxProcess, tmp_path: Path
) -> None:
    pid = _start(node, _pod("forced", tmp_path / "mark", linger="ignore", grace=600))
    deleted = node.kubectl("delete", "pod", "forced", "-n", NS, "--grace-period=0", "--force")
    assert 'pod "forced" force deleted' in deleted.stdout
    assert _gone(node, "forced")
    eventually(lambda: not psutil.pid_exists(pid), "the process to be killed", timeout=6)


def test_a_finished_pod_goes_at_once(node: SandboxProcess) -> None:
    node.kubectl(
        "run",
        "done",
        "-n",
        NS,
        "--image=iris-ml:0.1.0-dev",
        "--restart=Never",
        "--command",
        "--",
        "true",
    )
    eventually(
        lambda: (
            node.kubectl("get", "pod", "done", "-n", NS, "--no-headers").stdout.split()[2]
            == "Completed"
        ),
        "the pod to complete",
    )
    node.kubectl("delete", "pod", "done", "-n", NS, "--wait=false")
    assert _gone(node, "done")


def test_a_scaled_down_deployments_pod_shows_terminating(
    node: SandboxProcess, tmp_path: Path
) -> None:
    template = _pod("scaled", tmp_path / "mark", linger="ignore", grace=8)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "scaled", "namespace": NS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "scaled"}},
            "template": {"metadata": template["metadata"], "spec": template["spec"]},
        },
    }
    del deployment["spec"]["template"]["metadata"]["name"]
    del deployment["spec"]["template"]["metadata"]["namespace"]
    node.kubectl("apply", "-f", "-", input=json.dumps(deployment))
    node.kubectl("rollout", "status", "deploy/scaled", "-n", NS, "--timeout=60s", timeout=70)
    node.kubectl("scale", "deploy/scaled", "-n", NS, "--replicas=1")
    started = time.monotonic()

    def rows() -> list[list[str]]:
        listed = node.kubectl("get", "pods", "-n", NS, "-l", "app=scaled", "--no-headers")
        return [line.split() for line in listed.stdout.splitlines()]

    eventually(
        lambda: any(row[2] == "Terminating" for row in rows()), "a Terminating pod", timeout=5
    )
    leaving = next(row[0] for row in rows() if row[2] == "Terminating")
    meta = json.loads(node.kubectl("get", "pod", leaving, "-n", NS, "-o", "json").stdout)
    assert meta["metadata"]["deletionGracePeriodSeconds"] == 8
    # the replica set no longer counts it while it terminates
    eventually(
        lambda: (
            node.kubectl(
                "get", "deploy/scaled", "-n", NS, "-o", "jsonpath={.status.replicas}"
            ).stdout
            == "1"
        ),
        "the deployment's status.replicas at 1",
        timeout=4,
    )
    assert not _gone(node, leaving)
    eventually(lambda: _gone(node, leaving), "the pod to go after its grace period")
    assert time.monotonic() - started >= 7.5
    assert [row[2] for row in rows()] == ["Running"]
