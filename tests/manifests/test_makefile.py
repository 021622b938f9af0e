"""The cluster targets of the Makefile: the commands they run, and that they name real overlays.

No cluster runs here, so `make -n` shows what `make up` would type; `make secret` runs for
real against a stand-in kubectl that records its calls.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.manifests.rendering import OVERLAYS, REPO, kubectl, render

FAKE_KUBECTL = """#!/usr/bin/env bash
# Records each call; `get` finds the namespace, and the Secret only when SECRET_EXISTS=1.
echo "$*" >> "$KUBECTL_CALLS"
case "$*" in
  *"get secret"*) [ "$SECRET_EXISTS" = 1 ] ;;
  *"get namespace"*) exit 0 ;;
  *"apply -f -"*) cat > "$APPLIED" ;;
  *) exec "$REAL_KUBECTL" "$@" ;;
esac
"""


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.fail("make is required")
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def dry_run(*args: str) -> list[str]:
    result = make("-n", *args)
    assert result.returncode == 0, result.stderr
    return [line.strip() for line in result.stdout.splitlines()]


def position(lines: list[str], command: str) -> int:
    for index, line in enumerate(lines):
        if command in line:
            return index
    raise AssertionError(f"{command!r} not in:\n" + "\n".join(lines))


def makefile_default(variable: str) -> str:
    match = re.search(rf"^{variable}\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.M)
    assert match, f"no {variable} ?= in the Makefile"
    return match[1]


def test_up_on_minikube_builds_deploys_waits_and_prints_the_url() -> None:
    lines = dry_run("up")
    steps = [
        "minikube start",
        "minikube image build -t iris-ml:0.1.0-dev .",
        "create secret generic iris-api-secret",
        "kubectl -n ml-course delete job/iris-train-job --ignore-not-found",
        "kubectl apply --server-side --force-conflicts -k overlays/minikube",
        "kubectl -n ml-course wait --for=condition=complete --timeout=600s job/iris-train-job",
        "kubectl -n ml-course rollout status deploy/iris-api",
        "minikube service iris-api-svc -n ml-course --url",
    ]
    order = [position(lines, step) for step in steps]
    assert order == sorted(order), "the steps run out of order"
    assert not any(line.startswith(("kind ", "docker ")) for line in lines)


def test_up_on_kind_loads_the_image_and_hints_a_port_forward() -> None:
    lines = dry_run("up", "CLUSTER=kind")
    steps = [
        "kind create cluster",
        "docker build -t iris-ml:0.1.0-dev .",
        "kind load docker-image iris-ml:0.1.0-dev",
        "kubectl apply --server-side --force-conflicts -k overlays/minikube",
        "port-forward svc/iris-api-svc 8080:80",
    ]
    order = [position(lines, step) for step in steps]
    assert order == sorted(order)
    assert not any(line.startswith("minikube ") for line in lines)


def test_up_refuses_an_unknown_cluster() -> None:
    result = make("-n", "up", "CLUSTER=k3s")
    assert result.returncode != 0
    assert "CLUSTER must be minikube or kind, not 'k3s'" in result.stderr


def test_down_deletes_the_namespace() -> None:
    assert "kubectl delete namespace ml-course --ignore-not-found" in dry_run("down")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apply_deploys_an_existing_overlay(overlay: str) -> None:
    lines = dry_run("apply", f"OVERLAY={overlay}")
    [applied] = [line for line in lines if line.startswith("kubectl apply")]
    target = applied.split(" -k ", 1)[1]
    assert (REPO / target / "kustomization.yaml").is_file()
    assert position(lines, "delete job/iris-train-job") < lines.index(applied)


def test_the_default_overlay_renders_the_image_make_up_builds() -> None:
    overlay = makefile_default("OVERLAY")
    image = f"{makefile_default('IMAGE')}:{makefile_default('TAG')}"
    rendering = render(f"overlays/{overlay}")
    images = {
        container["image"]
        for _, template in rendering.workloads()
        for container in template["spec"]["containers"]
    }
    assert images == {image}


@pytest.fixture
def fake_kubectl(tmp_path: Path) -> dict[str, str]:
    script = tmp_path / "bin" / "kubectl"
    script.parent.mkdir()
    script.write_text(FAKE_KUBECTL)
    script.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{script.parent}{os.pathsep}{os.environ['PATH']}",
        "REAL_KUBECTL": kubectl(),
        "KUBECTL_CALLS": str(tmp_path / "calls"),
        "APPLIED": str(tmp_path / "applied.yaml"),
    }


def applied_key(env: dict[str, str]) -> str:
    secret = yaml.safe_load(Path(env["APPLIED"]).read_text())
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", "iris-api-secret")
    assert secret["metadata"]["namespace"] == "ml-course"
    return base64.b64decode(secret["data"]["API_KEY"]).decode()


def test_secret_is_created_with_a_fresh_random_key(fake_kubectl: dict[str, str]) -> None:
    keys = []
    for _ in range(2):
        result = make("secret", env={**fake_kubectl, "SECRET_EXISTS": "0"})
        assert result.returncode == 0, result.stderr
        keys.append(applied_key(fake_kubectl))
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", key) for key in keys), keys
    assert keys[0] != keys[1]


def test_secret_keeps_an_existing_key(fake_kubectl: dict[str, str]) -> None:
    result = make("secret", env={**fake_kubectl, "SECRET_EXISTS": "1"})
    assert result.returncode == 0, result.stderr
    calls = Path(fake_kubectl["KUBECTL_CALLS"]).read_text()
    assert "get secret iris-api-secret" in calls
    assert "create secret" not in calls and "apply" not in calls
    assert not Path(fake_kubectl["APPLIED"]).exists()
