"""The pod-spec-to-docker-run translation, on small specs written here (no Docker needed),
and on every workload of overlays/minikube, which it must translate without a refusal."""

from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.image.conftest import OVERLAY
from tests.image.podspec import Unsupported, host_path, pod_run, quantity_bytes, quantity_cpus
from tests.manifests.rendering import Rendering, render

CONTAINER: dict[str, Any] = {
    "name": "app",
    "image": "app:1",
    "command": ["serve", "--fast"],
    "args": ["--port", "9000"],
    "ports": [{"name": "http", "containerPort": 9000}],
    "envFrom": [
        {"configMapRef": {"name": "settings-abc"}},
        {"secretRef": {"name": "key", "optional": True}},
    ],
    "env": [{"name": "LEVEL", "value": "debug"}],
    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
    "resources": {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1500m", "memory": "1Gi"},
    },
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    },
    "volumeMounts": [
        {"name": "store", "mountPath": "/models", "readOnly": True},
        {"name": "store", "mountPath": "/data", "subPath": "batch"},
        {"name": "scratch", "mountPath": "/tmp"},
    ],
}
POD_SPEC: dict[str, Any] = {
    "terminationGracePeriodSeconds": 12,
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 2000,
        "fsGroup": 3000,
    },
    "containers": [CONTAINER],
    "volumes": [
        {"name": "store", "persistentVolumeClaim": {"claimName": "claim"}},
        {"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}},
    ],
}
CONFIG_MAP = {
    "kind": "ConfigMap",
    "metadata": {"name": "settings-abc"},
    "data": {"LEVEL": "info", "DIR": "/data/in"},
}


def rendering(spec: dict[str, Any] = POD_SPEC) -> Rendering:
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {"template": {"spec": spec}},
    }
    return Rendering(target="here", text="", objects=(deployment, CONFIG_MAP))


def pairs(options: list[str]) -> list[tuple[str, str]]:
    """The options that take a value, as (option, value), in order."""
    flags = {"--read-only", "--privileged"}
    out, i = [], 0
    while i < len(options):
        if options[i] in flags:
            i += 1
            continue
        out.append((options[i], options[i + 1]))
        i += 2
    return out


def test_a_pod_spec_becomes_docker_run_options(tmp_path: Path) -> None:
    run = pod_run(rendering(), "Deployment", "app", {"claim": tmp_path})
    assert "--read-only" in run.options and "--privileged" not in run.options
    assert pairs(run.options) == [
        ("--user", "1000:2000"),
        ("--group-add", "3000"),
        ("--cap-drop", "ALL"),
        ("--cap-add", "NET_BIND_SERVICE"),
        ("--security-opt", "no-new-privileges"),
        ("--cpus", "1.5"),
        ("--memory", str(2**30)),
        ("--memory-swap", str(2**30)),
        ("--cpu-shares", "256"),
        ("--mount", f"type=bind,source={tmp_path},target=/models,readonly"),
        ("--mount", f"type=bind,source={tmp_path / 'batch'},target=/data"),
        ("--tmpfs", f"/tmp:rw,exec,mode=1777,size={64 * 2**20}"),
        # The ConfigMap, then env on top; the optional Secret is absent.
        ("--env", "LEVEL=debug"),
        ("--env", "DIR=/data/in"),
        ("--stop-timeout", "12"),
        ("--entrypoint", "serve"),
    ]
    assert run.argv == ["--fast", "--port", "9000"]
    assert run.ports == {"http": 9000}
    assert run.grace_seconds == 12
    ready = run.probes["readiness"]
    assert (ready.path, ready.port, ready.budget) == ("/ready", 9000, 15)


def test_the_volume_is_prepared_as_the_kubelet_does_for_fsgroup(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    pod_run(rendering(), "Deployment", "app", {"claim": volume})
    mode = stat.S_IMODE(volume.stat().st_mode)
    if volume.stat().st_gid == 3000:
        assert mode & 0o2770 == 0o2770
    else:  # not root: no chown, so anyone may write
        assert mode == 0o777
    # The missing subPath is created with the root's mode.
    assert stat.S_IMODE((volume / "batch").stat().st_mode) == mode


def test_a_secret_and_kubectl_set_env(tmp_path: Path) -> None:
    run = pod_run(
        rendering(),
        "Deployment",
        "app",
        {"claim": tmp_path},
        secrets={"key": {"API_KEY": "s3cret", "LEVEL": "warning"}},
        env_set={"DIR": "/elsewhere"},
    )
    assert run.env == {"LEVEL": "debug", "DIR": "/elsewhere", "API_KEY": "s3cret"}


def test_args_alone_keep_the_entrypoint(tmp_path: Path) -> None:
    spec = copy.deepcopy(POD_SPEC)
    del spec["containers"][0]["command"]
    run = pod_run(rendering(spec), "Deployment", "app", {"claim": tmp_path})
    assert "--entrypoint" not in run.options
    assert run.argv == ["--port", "9000"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["containers"][0]["envFrom"][1]["secretRef"].update(optional=False), "'key'"),
        (lambda s: s["volumes"].append({"name": "x", "hostPath": {"path": "/"}}), "'x'"),
        (lambda s: s["securityContext"].update(runAsUser=0), "runAsNonRoot"),
        (lambda s: s["securityContext"].update(seccompProfile={"type": "Localhost"}), "Localhost"),
        (lambda s: s["containers"][0].update(env=[{"name": "A", "valueFrom": {}}]), "env A"),
    ],
)
def test_what_docker_cannot_do_is_refused(tmp_path: Path, change: Any, message: str) -> None:
    spec = copy.deepcopy(POD_SPEC)
    change(spec)
    if message == "'x'":
        spec["containers"][0]["volumeMounts"].append({"name": "x", "mountPath": "/x"})
    with pytest.raises(Unsupported, match=message):
        pod_run(rendering(spec), "Deployment", "app", {"claim": tmp_path})


def test_host_path_follows_the_deepest_mount(tmp_path: Path) -> None:
    claims = {"claim": tmp_path}
    assert host_path(rendering(), "Deployment", "app", claims, "/data/in") == tmp_path / "batch/in"
    assert host_path(rendering(), "Deployment", "app", claims, "/models") == tmp_path
    with pytest.raises(Unsupported, match="/tmp/x is on no volume claim"):
        host_path(rendering(), "Deployment", "app", claims, "/tmp/x")


def test_quantities() -> None:
    assert [quantity_cpus(q) for q in ("500m", "1", "2.5")] == ["0.5", "1", "2.5"]
    assert [quantity_bytes(q) for q in ("512Mi", "1G", "1000", "1.5Ki")] == [
        512 * 2**20,
        10**9,
        1000,
        1536,
    ]


def test_every_minikube_workload_translates(tmp_path: Path) -> None:
    minikube = render(OVERLAY)
    workloads = [(obj["kind"], obj["metadata"]["name"]) for obj, _ in minikube.workloads()]
    assert len(workloads) == 3
    for kind, name in workloads:
        claims = {
            volume["persistentVolumeClaim"]["claimName"]: tmp_path / name
            for volume in minikube.pod_template(kind, name)["spec"].get("volumes", [])
            if "persistentVolumeClaim" in volume
        }
        run = pod_run(minikube, kind, name, claims, secrets={})
        assert "--read-only" in run.options, name
