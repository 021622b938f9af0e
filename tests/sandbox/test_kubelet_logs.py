"""Logs belong to a container instance: --previous is the last terminated one, a pod re-created
with the same name starts empty, and the logs go with the pod."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sandbox.testing import SandboxProcess, start_sandbox

pytestmark = pytest.mark.slow

NS = "logs"
# The first run prints and crashes; the run after it (restarted at once) prints and stays.
TWICE = """
import os, sys, time
seen = os.environ["SEEN"]
if not os.path.exists(seen):
    open(seen, "w").close(); print("first run", flush=True); sys.exit(1)
print(os.environ["SECOND"], flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path_factory.mktemp("logs"))
    try:
        process.kubectl("create", "namespace", NS)
        yield process
    finally:
        process.stop()


def _apply(node: SandboxProcess, name: str, seen: Path, second: str) -> None:
    """The pod, with the host folder of ``seen`` as a hostPath: it outlives the pod."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "iris-ml:0.1.0-dev",
                    "command": [sys.executable, "-c", TWICE],
                    "env": [
                        {"name": "SEEN", "value": f"/marks/{seen.name}"},
                        {"name": "SECOND", "value": second},
                    ],
                    "volumeMounts": [{"name": "marks", "mountPath": "/marks"}],
                }
            ],
            "volumes": [{"name": "marks", "hostPath": {"path": str(seen.parent)}}],
        },
    }
    node.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))


def _logs(node: SandboxProcess, *args: str, want: str) -> str:
    """What kubectl logs prints, once it prints ``want`` (or after 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        result = node.kubectl("logs", "-n", NS, *args, check=False)
        if result.stdout == want or time.monotonic() > deadline:
            return result.stdout + result.stderr
        time.sleep(0.2)


def test_previous_is_the_last_terminated_instance(node: SandboxProcess, tmp_path: Path) -> None:
    _apply(node, "twice", tmp_path / "seen", "second run")
    assert _logs(node, "twice", want="second run\n") == "second run\n"
    assert _logs(node, "twice", "--previous", want="first run\n") == "first run\n"


def test_a_recreated_pod_starts_with_empty_logs(node: SandboxProcess, tmp_path: Path) -> None:
    _apply(node, "again", tmp_path / "seen", "old pod")
    assert _logs(node, "again", want="old pod\n") == "old pod\n"
    node.kubectl("delete", "pod", "again", "-n", NS, "--grace-period=0", "--force")
    logs_dir = node.state_dir / "logs" / NS
    deadline = time.monotonic() + 10
    while any(logs_dir.glob("again_*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(logs_dir.glob("again_*")), "the logs went with the pod"

    _apply(node, "again", tmp_path / "seen", "new pod")  # seen: no crash this time
    assert _logs(node, "again", want="new pod\n") == "new pod\n"
    previous = node.kubectl("logs", "-n", NS, "again", "--previous", check=False)
    assert previous.returncode != 0
    assert previous.stderr.strip() == (
        'Error from server (BadRequest): previous terminated container "main" in pod "again" '
        "not found"
    )


def test_a_container_that_never_ran_has_no_logs_yet(node: SandboxProcess) -> None:
    node.kubectl(
        "run", "nopull", "-n", NS, "--image=iris-ml:other", "--command", "--", "sleep", "60"
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result = node.kubectl("logs", "-n", NS, "nopull", check=False)
        if "trying and failing" in result.stderr:
            break
        time.sleep(0.2)
    assert result.stderr.strip() == (
        'Error from server (BadRequest): container "nopull" in pod "nopull" is waiting to start: '
        "trying and failing to pull image"
    )
