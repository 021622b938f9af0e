"""The sandbox's node as kubectl describes it: this machine's resources, 110 pods, the kubelet's
conditions, and what the pods bound to it request."""

from __future__ import annotations

import json
import os
import time

import pytest

from sandbox.testing import SandboxProcess

pytestmark = pytest.mark.slow

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "q"},
    "spec": {
        "containers": [
            {
                "name": "q",
                "image": "lab:1",
                "command": ["python", "-c", "import time; time.sleep(600)"],
                "resources": {"requests": {"cpu": "250m", "memory": "100Mi"}},
            }
        ]
    },
}


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(title)
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace())
    return lines[start + 1 : end]


def test_describe_node(sandbox: SandboxProcess) -> None:
    sandbox.kubectl("create", "namespace", "x")
    sandbox.kubectl("apply", "-n", "x", "-f", "-", input=json.dumps(POD))
    deadline = time.monotonic() + 30
    while "x                           q" not in (
        text := sandbox.kubectl("describe", "node", "sandbox").stdout
    ):
        assert time.monotonic() < deadline, text
        time.sleep(0.3)
    assert "  pods:               110" in _section(text, "Capacity:")
    assert "  pods:               110" in _section(text, "Allocatable:")
    assert f"  cpu:                {os.cpu_count()}" in _section(text, "Capacity:")
    conditions = [line.split()[0:2] for line in _section(text, "Conditions:")[2:]]
    assert conditions == [
        ["MemoryPressure", "False"],
        ["DiskPressure", "False"],
        ["PIDPressure", "False"],
        ["Ready", "True"],
    ]
    assert _section(text, "Conditions:")[-1].endswith(
        "KubeletReady                 kubelet is posting ready status"
    )
    percent = int(250 / ((os.cpu_count() or 1) * 1000) * 100)
    allocated = _section(text, "Allocated resources:")
    assert f"  cpu                250m ({percent}%)  0 (0%)".split() == allocated[3].split()
    labels = sandbox.kubectl("get", "node", "sandbox", "--show-labels", "--no-headers").stdout
    for label in (
        "kubernetes.io/arch=amd64",
        "kubernetes.io/os=linux",
        "kubernetes.io/hostname=sandbox",
    ):
        assert label in labels


def test_node_lease_is_renewed(sandbox: SandboxProcess) -> None:
    row = sandbox.kubectl("get", "lease", "-n", "kube-node-lease", "--no-headers").stdout.split()
    assert row[:2] == ["sandbox", "sandbox"]
    renewed = "jsonpath={.spec.renewTime}"
    first = sandbox.kubectl("get", "lease", "-n", "kube-node-lease", "sandbox", "-o", renewed)
    time.sleep(10.5)
    second = sandbox.kubectl("get", "lease", "-n", "kube-node-lease", "sandbox", "-o", renewed)
    assert second.stdout > first.stdout
    header = sandbox.kubectl("get", "lease", "-n", "kube-node-lease").stdout.splitlines()[0]
    assert header.split() == ["NAME", "HOLDER", "AGE"]
