"""Render a kustomization with `kubectl kustomize` and look things up in the result."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("minikube", "cloud-loadbalancer", "gpu", "autoscale")
EXAMPLES = ("cloud-autoscale-gpu",)
# Every kustomization a user can apply, by the path they would type.
TARGETS = tuple(f"overlays/{name}" for name in OVERLAYS) + tuple(
    f"examples/{name}" for name in EXAMPLES
)
WORKLOAD_KINDS = ("Deployment", "Job", "CronJob")

Manifest = dict[str, Any]


def kubectl() -> str:
    """The kubectl binary, or a test failure that says how to get it."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail(
            "kubectl is required to render the overlays: https://kubernetes.io/docs/tasks/tools/"
        )
    return found


@dataclass(frozen=True)
class Rendering:
    """The objects one kustomization renders to, and the YAML text they came from."""

    target: str
    text: str
    objects: tuple[Manifest, ...]

    def all(self, kind: str) -> list[Manifest]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def names(self, kind: str) -> set[str]:
        return {obj["metadata"]["name"] for obj in self.all(kind)}

    def get(self, kind: str, name: str) -> Manifest:
        for obj in self.all(kind):
            if obj["metadata"]["name"] == name:
                return obj
        raise AssertionError(f"{self.target}: no {kind} {name!r} in {sorted(self.names(kind))}")

    def workloads(self) -> Iterator[tuple[Manifest, Manifest]]:
        """Each Deployment, Job and CronJob with its pod template."""
        for obj in self.objects:
            if obj["kind"] in ("Deployment", "Job"):
                yield obj, obj["spec"]["template"]
            elif obj["kind"] == "CronJob":
                yield obj, obj["spec"]["jobTemplate"]["spec"]["template"]

    def pod_template(self, kind: str, name: str) -> Manifest:
        for obj, template in self.workloads():
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return template
        raise AssertionError(f"{self.target}: no {kind} {name!r}")

    def container(self, kind: str, name: str) -> Manifest:
        containers = self.pod_template(kind, name)["spec"]["containers"]
        assert len(containers) == 1, f"{kind}/{name} should run one container"
        return containers[0]


def render(target: str) -> Rendering:
    """`kubectl kustomize <target>` (relative to the repository, or absolute); fails the test
    with kustomize's message on error.
    """
    result = subprocess.run(
        [kubectl(), "kustomize", str(REPO / target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {target} failed:\n{result.stderr}")
    objects = tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)
    return Rendering(target=target, text=result.stdout, objects=objects)
