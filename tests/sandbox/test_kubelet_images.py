"""The node's images: iris-ml at its pinned tags is there, `image load` adds more, and every
other image fails to pull as it does on a node that reaches no registry."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.__main__ import main as sandbox_cli
from sandbox.kubelet.images import pinned_images
from sandbox.testing import SandboxProcess, start_sandbox
from tests.sandbox.inprocess import container_status, pod, running_cluster

pytestmark = pytest.mark.slow

NS = "imgs"
DEV = next(image for image in pinned_images() if image.endswith("-dev"))
UNREACHABLE = (
    'failed to pull and unpack image "docker.io/library/iris-ml:other": failed to resolve '
    'reference "docker.io/library/iris-ml:other": failed to do request: Head '
    '"https://registry-1.docker.io/v2/library/iris-ml/manifests/other": dial tcp: lookup '
    "registry-1.docker.io: no such host"
)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path_factory.mktemp("images"))
    try:
        process.kubectl("create", "namespace", NS)
        yield process
    finally:
        process.stop()


def _run(node: SandboxProcess, name: str, image: str, *flags: str) -> None:
    node.kubectl(
        "run", name, "-n", NS, f"--image={image}", *flags, "--command", "--", "sleep", "600"
    )


def _status_column(node: SandboxProcess, name: str, want: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = node.kubectl("get", "pod", name, "-n", NS, "--no-headers").stdout.split()[2]
        if status == want:
            return status
        time.sleep(0.2)
    raise AssertionError(f"pod {name} is {status}, not {want}")


def _events(node: SandboxProcess, name: str) -> list[tuple[str, str, str]]:
    listed = node.kubectl(
        "get", "events", "-n", NS, "--field-selector", f"involvedObject.name={name}", "-o", "json"
    )
    return [(e["type"], e["reason"], e["message"]) for e in json.loads(listed.stdout)["items"]]


def test_the_pinned_image_is_already_present(node: SandboxProcess) -> None:
    assert DEV == "iris-ml:0.1.0-dev"  # what overlays/minikube pins today
    _run(node, "present", DEV)
    _status_column(node, "present", "Running")
    described = node.kubectl("describe", "pod", "present", "-n", NS).stdout
    assert f'Container image "{DEV}" already present on machine' in described
    assert "Pulling" not in described
    listed = node.kubectl("get", "node", "sandbox", "-o", "jsonpath={.status.images}").stdout
    assert {"names": [f"docker.io/library/{DEV}"]} in json.loads(listed)


def test_a_missing_image_fails_to_pull_then_backs_off(node: SandboxProcess) -> None:
    _run(node, "missing", "iris-ml:other")
    _status_column(node, "missing", "ImagePullBackOff")
    assert {
        ("Normal", "Pulling", 'Pulling image "iris-ml:other"'),
        ("Warning", "Failed", f'Failed to pull image "iris-ml:other": {UNREACHABLE}'),
        ("Warning", "Failed", "Error: ErrImagePull"),
        ("Normal", "BackOff", 'Back-off pulling image "iris-ml:other"'),
        ("Warning", "Failed", "Error: ImagePullBackOff"),
    } <= set(_events(node, "missing"))
    waiting = node.kubectl(
        "get", "pod", "missing", "-n", NS, "-o", "jsonpath={.status.containerStatuses[0].state}"
    ).stdout
    assert json.loads(waiting) == {
        "waiting": {
            "reason": "ImagePullBackOff",
            "message": 'Back-off pulling image "iris-ml:other"',
        }
    }
    phase = node.kubectl("get", "pod", "missing", "-n", NS, "-o", "jsonpath={.status.phase}")
    assert phase.stdout == "Pending"


def test_always_pulls_even_a_present_image_and_latest_means_always(node: SandboxProcess) -> None:
    _run(node, "always", DEV, "--image-pull-policy=Always")
    _run(node, "untagged", "iris-ml")
    for name in ("always", "untagged"):
        assert _status_column(node, name, "ImagePullBackOff")
    assert ("Normal", "Pulling", f'Pulling image "{DEV}"') in _events(node, "always")
    failed = [m for _, reason, m in _events(node, "untagged") if m.startswith("Failed to pull")]
    assert failed and '"docker.io/library/iris-ml:latest"' in failed[0]


def test_never_with_a_missing_image(node: SandboxProcess) -> None:
    _run(node, "never", "iris-ml:other", "--image-pull-policy=Never")
    _status_column(node, "never", "ErrImageNeverPull")
    message = 'Container image "iris-ml:other" is not present with pull policy of Never'
    assert ("Warning", "ErrImageNeverPull", message) in _events(node, "never")
    assert ("Warning", "Failed", "Error: ErrImageNeverPull") in _events(node, "never")


def test_image_load_reaches_the_running_sandbox(node: SandboxProcess) -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "image",
            "load",
            "trainer:2",
            "--state",
            str(node.state_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout == ""
    listed = subprocess.run(
        [sys.executable, "-m", "sandbox", "image", "ls", "--state", str(node.state_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "docker.io/library/trainer:2" in listed and f"docker.io/library/{DEV}" in listed
    _run(node, "loaded", "trainer:2")
    _status_column(node, "loaded", "Running")
    images = node.kubectl("get", "node", "sandbox", "-o", "jsonpath={.status.images}").stdout
    assert {"names": ["docker.io/library/trainer:2"]} in json.loads(images)


def test_set_image_leaves_the_new_pod_pulling_and_the_old_ones_running(
    node: SandboxProcess,
) -> None:
    node.kubectl(
        "create",
        "deployment",
        "web",
        "-n",
        NS,
        f"--image={DEV}",
        "--replicas=2",
        "--",
        "sleep",
        "600",
    )
    node.kubectl("rollout", "status", "deploy/web", "-n", NS, "--timeout=60s")
    node.kubectl("set", "image", "deploy/web", "-n", NS, "iris-ml=iris-ml:other")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = node.kubectl("get", "pods", "-n", NS, "-l", "app=web", "--no-headers").stdout
        statuses = sorted(line.split()[2] for line in rows.splitlines())
        if statuses == ["ImagePullBackOff", "Running", "Running"]:
            break
        time.sleep(0.2)
    assert statuses == ["ImagePullBackOff", "Running", "Running"]
    rollout = node.kubectl("rollout", "status", "deploy/web", "-n", NS, "--timeout=2s", check=False)
    assert rollout.returncode != 0


def test_the_image_back_off_doubles(tmp_path: Path) -> None:
    speed = 10
    with running_cluster(tmp_path, clock_speed=speed) as cluster:
        container = {"name": "main", "image": "nowhere:1", "command": ["sleep", "600"]}
        cluster.create("pods", pod("pull", container, restart="Always"))
        time.sleep(45 / speed)  # pulls at 0, 10 and 30 s; the next waits for 70 s
        (pulling,) = cluster.events("Pulling")
        assert pulling["count"] == 3
        state = container_status(cluster.get("pods", "pull"))["state"]
        assert state["waiting"]["reason"] == "ImagePullBackOff"


def test_set_image_on_the_api_keeps_the_old_pods_serving(tmp_path: Path) -> None:
    overlay = Path(__file__).resolve().parents[2] / "overlays" / "minikube"
    with start_sandbox(tmp_path / "stack") as stack:
        stack.kubectl("apply", "--server-side", "-k", str(overlay))
        stack.kubectl(
            "wait", "--for=condition=complete", "job/iris-train-job", "--timeout=120s", timeout=130
        )
        stack.kubectl("rollout", "status", "deployment/iris-api", "--timeout=120s", timeout=130)
        stack.kubectl("set", "image", "deploy/iris-api", "iris-api=iris-ml:other")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = stack.kubectl(
                "get", "pods", "-l", "app.kubernetes.io/component=api", "--no-headers"
            ).stdout
            statuses = sorted(line.split()[2] for line in rows.splitlines())
            if "ImagePullBackOff" in statuses:
                break
            time.sleep(0.2)
        # maxUnavailable 0, maxSurge 1: one new pod stuck pulling, both old ones still there
        assert statuses == ["ImagePullBackOff", "Running", "Running"]
        endpoints = stack.kubectl("get", "endpoints", "iris-api-svc", "-o", "json").stdout
        ready = [
            a for s in json.loads(endpoints).get("subsets") or [] for a in s.get("addresses") or []
        ]
        assert len(ready) == 2


def test_loading_a_malformed_name_loads_nothing_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert sandbox_cli(["image", "load", "iris-ml:2", "Bad Name!!", "--state", str(state)]) == 2
    assert capsys.readouterr().err == (
        "iris-sandbox image load: invalid reference format: 'Bad Name!!'\n"
    )
    assert sandbox_cli(["image", "ls", "--state", str(state)]) == 0
    assert "docker.io/library/iris-ml:2" not in capsys.readouterr().out
