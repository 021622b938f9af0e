"""The sandbox's scheduler: its filters, and what kubectl shows of a pod that does not fit."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from sandbox.apimachinery import quantity
from sandbox.scheduler.filters import (
    fit_error,
    insufficient,
    matches_node_affinity,
    pod_requests,
    untolerated_taint,
)
from sandbox.testing import SandboxProcess, start_sandbox
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
NODE = {
    "metadata": {"name": "sandbox", "labels": {"kubernetes.io/os": "linux"}},
    "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "2"}},
}


def _pod(resources: dict[str, dict[str, str]] | None = None, **spec: object) -> dict[str, object]:
    container = {"name": "c", "resources": resources or {}}
    return {"metadata": {"uid": "u"}, "spec": {"containers": [container], **spec}}


def test_quantities() -> None:
    assert quantity.parse("500m") == Fraction(1, 2)
    assert quantity.parse("1Gi") == 2**30
    assert quantity.parse("2e3") == 2000
    assert quantity.parse("1.5k") == 1500
    with pytest.raises(ValueError):
        quantity.parse("lots")


def test_requests_take_init_max_and_default_to_limits() -> None:
    pod = _pod({"limits": {"nvidia.com/gpu": "1"}, "requests": {"cpu": "250m"}})
    pod["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]  # type: ignore[index]
    assert pod_requests(pod) == {"cpu": Fraction(1), "nvidia.com/gpu": Fraction(1)}


def test_fit_counts_bound_pods_and_extended_resources() -> None:
    gpu = _pod({"limits": {"nvidia.com/gpu": "1"}})
    assert insufficient(gpu, NODE, []) == ["Insufficient nvidia.com/gpu"]
    half = _pod({"requests": {"cpu": "1500m", "memory": "3Gi"}})
    assert insufficient(half, NODE, []) == []
    assert insufficient(half, NODE, [half]) == ["Insufficient cpu", "Insufficient memory"]
    assert insufficient(_pod(), NODE, [_pod(), _pod()]) == ["Too many pods"]


def test_node_selector_and_required_affinity() -> None:
    assert matches_node_affinity(_pod(nodeSelector={"kubernetes.io/os": "linux"}), NODE)
    assert not matches_node_affinity(_pod(nodeSelector={"nvidia.com/gpu.present": "true"}), NODE)
    term = {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["x"]}]}
    required = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    assert not matches_node_affinity(_pod(affinity={"nodeAffinity": required}), NODE)


def test_taints_need_a_toleration() -> None:
    taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    node = {**NODE, "spec": {"taints": [taint]}}
    assert untolerated_taint(_pod(), node) == taint
    exists = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert untolerated_taint(_pod(tolerations=[exists]), node) is None


def test_fit_error_wording_sorted() -> None:
    assert fit_error(["Insufficient memory", "Insufficient cpu"], resolvable=True) == (
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: "
        "0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )


# ---- the real kubectl against a sandbox


def _pod_manifest(name: str, resources: dict[str, object], **spec: object) -> str:
    container = {
        "name": "main",
        "image": "lab:1",
        "command": ["python", "-c", "import time; time.sleep(600)"],
        "resources": resources,
    }
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], **spec},
    }
    return json.dumps(manifest)


def _event_line(sandbox: SandboxProcess, namespace: str, pod: str, reason: str) -> str:
    described = sandbox.kubectl("describe", "pod", "-n", namespace, pod).stdout
    return next((line for line in described.splitlines() if f" {reason} " in line), "")


@pytest.mark.slow
def test_pod_waits_for_room_and_schedules_once_freed(sandbox: SandboxProcess) -> None:
    sandbox.kubectl("create", "namespace", "fit")
    node = json.loads(sandbox.kubectl("get", "node", "sandbox", "-o", "json").stdout)
    memory = quantity.parse(node["status"]["allocatable"]["memory"])
    most = f"{int(memory * 3 / 4) // 2**20}Mi"
    sandbox.kubectl(
        "apply", "-n", "fit", "-f", "-", input=_pod_manifest("big", {"requests": {"memory": most}})
    )
    eventually(lambda: _event_line(sandbox, "fit", "big", "Scheduled") != "", "big scheduled")
    sandbox.kubectl(
        "apply",
        "-n",
        "fit",
        "-f",
        "-",
        input=_pod_manifest("second", {"requests": {"memory": most}}),
    )
    message = (
        "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are "
        "available: 1 No preemption victims found for incoming pod."
    )
    eventually(
        lambda: message in _event_line(sandbox, "fit", "second", "FailedScheduling"),
        "FailedScheduling",
    )
    line = _event_line(sandbox, "fit", "second", "FailedScheduling")
    assert line.split()[0] == "Warning" and "default-scheduler" in line.split()
    row = sandbox.kubectl("get", "pod", "-n", "fit", "second", "--no-headers").stdout.split()
    assert row[:4] == ["second", "0/1", "Pending", "0"]
    reason = sandbox.kubectl(
        "get",
        "pod",
        "-n",
        "fit",
        "second",
        "-o",
        'jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}',
    ).stdout
    assert reason == "Unschedulable"
    sandbox.kubectl("delete", "pod", "-n", "fit", "big", "--wait=false")
    eventually(lambda: _event_line(sandbox, "fit", "second", "Scheduled") != "", "second scheduled")
    assert "Successfully assigned fit/second to sandbox" in _event_line(
        sandbox, "fit", "second", "Scheduled"
    )


def _train_pod(sandbox: SandboxProcess) -> str:
    return sandbox.kubectl(
        "get",
        "pods",
        "-n",
        "ml-course",
        "-l",
        "job-name=iris-train-job",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ).stdout


@pytest.mark.slow
def test_gpu_overlay_pending_without_gpus(sandbox: SandboxProcess) -> None:
    sandbox.kubectl("apply", "-k", str(ROOT / "overlays" / "gpu"))
    eventually(lambda: _train_pod(sandbox) != "", "the training pod")
    message = (
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )
    pod = _train_pod(sandbox)
    eventually(
        lambda: message in _event_line(sandbox, "ml-course", pod, "FailedScheduling"),
        "FailedScheduling",
    )
    row = sandbox.kubectl("get", "pod", "-n", "ml-course", pod, "--no-headers").stdout.split()
    assert row[2] == "Pending"


@pytest.mark.slow
def test_gpu_overlay_schedules_with_a_gpu_and_the_label(tmp_path: Path) -> None:
    with start_sandbox(tmp_path / "gpu", gpus=1) as sandbox:
        allocatable = sandbox.kubectl(
            "get", "node", "sandbox", "-o", "jsonpath={.status.allocatable.nvidia\\.com/gpu}"
        ).stdout
        assert allocatable == "1"
        sandbox.kubectl("label", "node", "sandbox", "nvidia.com/gpu.present=true")
        sandbox.kubectl("apply", "-k", str(ROOT / "overlays" / "gpu"))
        eventually(lambda: _train_pod(sandbox) != "", "the training pod")
        pod = _train_pod(sandbox)
        eventually(
            lambda: _event_line(sandbox, "ml-course", pod, "Scheduled") != "", "scheduled", 60
        )
        assert f"Successfully assigned ml-course/{pod} to sandbox" in _event_line(
            sandbox, "ml-course", pod, "Scheduled"
        )

        def started() -> bool:
            phase = sandbox.kubectl(
                "get", "pod", "-n", "ml-course", pod, "-o", "jsonpath={.status.phase}"
            ).stdout
            return phase in ("Running", "Succeeded")

        eventually(started, "the training pod to run", 60)


@pytest.mark.slow
def test_binding_assigns_a_pod_of_another_scheduler_once(shared_sandbox: SandboxProcess) -> None:
    sandbox = shared_sandbox
    sandbox.kubectl("create", "namespace", "bind")
    manifest = _pod_manifest("mine", {}, schedulerName="my-scheduler")
    sandbox.kubectl("apply", "-n", "bind", "-f", "-", input=manifest)
    binding = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "mine"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "sandbox"},
        }
    )
    path = "/api/v1/namespaces/bind/pods/mine/binding"
    sandbox.kubectl("create", "--raw", path, "-f", "-", input=binding)
    node = sandbox.kubectl("get", "pod", "-n", "bind", "mine", "-o", "jsonpath={.spec.nodeName}")
    assert node.stdout == "sandbox"
    again = sandbox.kubectl("create", "--raw", path, "-f", "-", input=binding, check=False)
    assert again.stderr.strip() == (
        'Error from server (Conflict): Operation cannot be fulfilled on pods/binding "mine": '
        'pod mine is already assigned to node "sandbox"'
    )
