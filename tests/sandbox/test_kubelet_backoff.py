"""Restart back-off as the 1.32 kubelet does it: at once the first time, then 10 s doubling,
for a container that crashes and for one that cannot even start (containerd's StartError)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbox.kubelet.images import pinned_images
from sandbox.testing import SandboxProcess
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

DEV = next(image for image in pinned_images() if image.endswith("-dev"))
SPEED = 10  # sandbox seconds per real second
NOT_FOUND = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
    'runc create failed: unable to start container process: exec: "no-such-command": '
    "executable file not found in $PATH: unknown"
)


def _missing_command_pod(name: str) -> dict:
    container = {"name": "main", "image": "lab:1", "command": ["no-such-command"]}
    return pod(name, container, restart="Always")


def _restarts(cluster: Cluster, name: str) -> int:
    return int(container_status(cluster.get("pods", name)).get("restartCount", -1))


def test_start_error_backs_off_10s_20s_40s(tmp_path: Path) -> None:
    with running_cluster(tmp_path, clock_speed=SPEED) as cluster:
        created = time.monotonic()
        uid = cluster.create("pods", _missing_command_pod("nocmd"))["metadata"]["uid"]
        # sandbox time 0: fails, restarted at once, fails; then restarts at 10 s and 30 s
        cluster.wait_for(lambda: _restarts(cluster, "nocmd") == 3, "the third restart", 10)
        elapsed = (time.monotonic() - created) * SPEED
        assert 25 < elapsed < 40, elapsed
        time.sleep(2.0)  # 20 more sandbox seconds: inside the 40 s window
        assert _restarts(cluster, "nocmd") == 3

        status = container_status(cluster.get("pods", "nocmd"))
        assert status["state"]["waiting"] == {
            "reason": "CrashLoopBackOff",
            "message": "back-off 40s restarting failed container=main "
            f"pod=nocmd_{NAMESPACE}({uid})",
        }
        assert status["lastState"]["terminated"] == {
            "exitCode": 128,
            "reason": "StartError",
            "message": NOT_FOUND,
            "startedAt": "1970-01-01T00:00:00Z",
            "finishedAt": status["lastState"]["terminated"]["finishedAt"],
        }
        assert phase(cluster, "nocmd") == "Running"
        (failed,) = [e for e in cluster.events("Failed") if e["message"].startswith("Error: ")]
        assert failed["message"] == f"Error: {NOT_FOUND}"
        assert failed["count"] == 4 and failed["type"] == "Warning"
        (backoff,) = cluster.events("BackOff")
        assert backoff["message"] == (
            f"Back-off restarting failed container main in pod nocmd_{NAMESPACE}({uid})"
        )
        assert backoff["involvedObject"]["fieldPath"] == "spec.containers{main}"


def test_a_pod_waiting_out_its_back_off_writes_nothing(tmp_path: Path) -> None:
    with running_cluster(tmp_path, clock_speed=SPEED) as cluster:
        cluster.create("pods", _missing_command_pod("quiet"))
        cluster.wait_for(lambda: _restarts(cluster, "quiet") == 2, "the second restart", 10)
        cluster.wait_for(
            lambda: (
                "20s"
                in container_status(cluster.get("pods", "quiet"))["state"]
                .get("waiting", {})
                .get("message", "")
            ),
            "the 20 s back-off",
        )
        before = cluster.store.resource_version
        time.sleep(1.0)  # 10 of the 20 sandbox seconds, 10 supervise ticks
        assert cluster.store.resource_version == before


def test_a_crashing_container_restarts_at_once_then_backs_off(tmp_path: Path) -> None:
    with running_cluster(tmp_path, clock_speed=SPEED) as cluster:
        crash = python_container("main", "raise SystemExit(3)")
        cluster.create("pods", pod("crashy", crash, restart="Always"))
        cluster.wait_for(lambda: _restarts(cluster, "crashy") == 1, "the immediate restart", 5)
        status = cluster.wait_for(
            lambda: (
                container_status(cluster.get("pods", "crashy"))
                if "waiting" in container_status(cluster.get("pods", "crashy"))["state"]
                else None
            ),
            "the back-off",
        )
        assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert (
            "back-off 10s restarting failed container=main" in status["state"]["waiting"]["message"]
        )
        assert status["restartCount"] == 1
        assert (
            status["lastState"]["terminated"]["exitCode"],
            status["lastState"]["terminated"]["reason"],
        ) == (3, "Error")


def test_kubectl_shows_the_crash_loop(sandbox: SandboxProcess) -> None:
    sandbox.kubectl("create", "namespace", "loop")
    sandbox.kubectl(
        "run", "nocmd", "-n", "loop", f"--image={DEV}", "--command", "--", "no-such-command"
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = sandbox.kubectl("get", "pod", "nocmd", "-n", "loop", "--no-headers").stdout.split()
        if row[2] == "CrashLoopBackOff":
            break
        time.sleep(0.2)
    assert row[:4] == ["nocmd", "0/1", "CrashLoopBackOff", "1"], row
    described = sandbox.kubectl("describe", "pod", "nocmd", "-n", "loop").stdout
    assert "Reason:       StartError" in described
    assert "Exit Code:    128" in described
    assert f"Error: {NOT_FOUND}" in described
    assert "Back-off restarting failed container nocmd in pod nocmd_loop(" in described
