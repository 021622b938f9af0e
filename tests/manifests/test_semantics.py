"""What each overlay must mean once applied: exposure, scaling, GPUs, probes, security, wiring.

Schema validation says the objects are well formed; these tests say they fit together (every
reference resolves, every selector selects) and that each overlay does what it promises.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.rendering import REPO, Manifest, Rendering, render

LOCAL = {"overlays/minikube", "overlays/gpu", "overlays/autoscale"}
CLOUD = {"overlays/cloud-loadbalancer", "examples/cloud-autoscale-gpu"}
WITH_GPU = {"overlays/gpu", "examples/cloud-autoscale-gpu"}
WITH_HPA = {"overlays/autoscale", "examples/cloud-autoscale-gpu"}
COMMANDS = {
    ("Job", "iris-train-job"): ["iris-train"],
    ("Deployment", "iris-api"): ["iris-serve"],
    ("CronJob", "iris-batch-predict"): ["iris-batch"],
}
UID = 10001


def test_the_target_sets_cover_every_rendering(renderings: dict[str, Rendering]) -> None:
    assert set(renderings) == LOCAL | CLOUD


def config_map(rendering: Rendering) -> Manifest:
    maps = rendering.all("ConfigMap")
    assert len(maps) == 1
    return maps[0]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


# --- exposure ---------------------------------------------------------------------------


def test_service_type_and_port(rendering: Rendering) -> None:
    service = rendering.get("Service", "iris-api-svc")
    [port] = service["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http", 80, "http")
    if rendering.target in LOCAL:
        assert service["spec"]["type"] == "NodePort"
        assert port["nodePort"] == 30080
    else:
        assert service["spec"]["type"] == "LoadBalancer"
        assert "nodePort" not in port, "let the cloud pick the node port"


def test_service_target_port_is_the_api_container_port(rendering: Rendering) -> None:
    api = rendering.container("Deployment", "iris-api")
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_service_selects_the_api_pods_only(rendering: Rendering) -> None:
    selector = rendering.get("Service", "iris-api-svc")["spec"]["selector"]
    for obj, template in rendering.workloads():
        selected = matches(selector, template["metadata"]["labels"])
        assert selected == (obj["metadata"]["name"] == "iris-api"), obj["metadata"]["name"]


# --- scaling ----------------------------------------------------------------------------


def test_autoscaling_owns_the_replica_count(rendering: Rendering) -> None:
    deployment = rendering.get("Deployment", "iris-api")
    hpas = rendering.all("HorizontalPodAutoscaler")
    if rendering.target not in WITH_HPA:
        assert hpas == []
        assert deployment["spec"]["replicas"] == 2
        return
    assert "replicas" not in deployment["spec"], "an apply would reset what the HPA chose"
    [hpa] = hpas
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["name"] == "iris-api-hpa"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "iris-api",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)
    [metric] = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 60}
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0


def test_api_rolls_without_losing_capacity_and_survives_drains(rendering: Rendering) -> None:
    spec = rendering.get("Deployment", "iris-api")["spec"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["strategy"]["rollingUpdate"]["maxSurge"] >= 1
    [pdb] = rendering.all("PodDisruptionBudget")
    assert matches(pdb["spec"]["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])


def test_api_drains_before_it_stops(rendering: Rendering) -> None:
    pod = rendering.pod_template("Deployment", "iris-api")["spec"]
    delay = float(config_map(rendering)["data"]["SHUTDOWN_DELAY"])
    assert delay > 0
    # The delay, then time to finish in-flight requests, before SIGKILL.
    assert pod["terminationGracePeriodSeconds"] >= delay + 10
    assert "lifecycle" not in rendering.container("Deployment", "iris-api")


def test_api_is_scraped_by_prometheus(rendering: Rendering) -> None:
    annotations = rendering.pod_template("Deployment", "iris-api")["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8000"
    assert annotations["prometheus.io/path"] == "/metrics"


# --- GPU --------------------------------------------------------------------------------


def test_only_training_gets_a_gpu(rendering: Rendering) -> None:
    for obj, template in rendering.workloads():
        pod = template["spec"]
        limits = pod["containers"][0]["resources"]["limits"]
        wants_gpu = rendering.target in WITH_GPU and obj["metadata"]["name"] == "iris-train-job"
        if wants_gpu:
            assert limits["nvidia.com/gpu"] == 1
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
                "tolerations"
            ]
            assert pod["nodeSelector"], "training must select GPU nodes"
        else:
            assert "nvidia.com/gpu" not in limits, obj["metadata"]["name"]
            assert "tolerations" not in pod and "nodeSelector" not in pod, obj["metadata"]["name"]


# --- every pod and container ------------------------------------------------------------


def test_workloads_run_their_entry_point(rendering: Rendering) -> None:
    for (kind, name), command in COMMANDS.items():
        container = rendering.container(kind, name)
        assert container["command"] == command
        assert "args" not in container


def test_api_probes(rendering: Rendering) -> None:
    api = rendering.container("Deployment", "iris-api")
    expected = {
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
        "startupProbe": "/healthz",
    }
    for probe, path in expected.items():
        assert api[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    # The startup probe must give the interpreter more time than liveness would.
    startup, liveness = api["startupProbe"], api["livenessProbe"]
    startup_budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert startup_budget > liveness["periodSeconds"] * liveness["failureThreshold"]


def test_every_container_has_requests_and_limits(rendering: Rendering) -> None:
    for obj, template in rendering.workloads():
        for container in template["spec"]["containers"]:
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= resources[bound].keys(), obj["metadata"]["name"]


def test_every_pod_is_locked_down(rendering: Rendering) -> None:
    accounts = {sa["metadata"]["name"]: sa for sa in rendering.all("ServiceAccount")}
    for obj, template in rendering.workloads():
        name = obj["metadata"]["name"]
        pod = template["spec"]
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        }, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["enableServiceLinks"] is False, name
        account = accounts[pod["serviceAccountName"]]
        assert account["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] != "default"
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security.get("privileged", False) is False, name


def test_every_pod_has_a_writable_tmp(rendering: Rendering) -> None:
    for obj, template in rendering.workloads():
        pod = template["spec"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        [container] = pod["containers"]
        [tmp] = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp"]
        assert "emptyDir" in volumes[tmp["name"]], obj["metadata"]["name"]
        assert not tmp.get("readOnly", False)


def test_images_are_pinned(rendering: Rendering) -> None:
    for obj, template in rendering.workloads():
        [container] = template["spec"]["containers"]
        image = container["image"]
        if rendering.target in LOCAL:
            assert image == "iris-ml:0.1.0-dev", obj["metadata"]["name"]
            assert container["imagePullPolicy"] == "IfNotPresent"
        else:
            repository, _, digest = image.partition("@sha256:")
            assert repository.endswith("/iris-ml") and len(digest) == 64, image


def test_no_manifest_sets_host_or_port(rendering: Rendering) -> None:
    assert not {"HOST", "PORT"} & config_map(rendering)["data"].keys()
    for _, template in rendering.workloads():
        for container in template["spec"]["containers"]:
            names = {variable["name"] for variable in container.get("env", [])}
            assert not {"HOST", "PORT"} & names


# --- configuration and storage ----------------------------------------------------------


def test_config_map_is_generated_and_referenced_by_its_hashed_name(rendering: Rendering) -> None:
    generated = config_map(rendering)
    name = generated["metadata"]["name"]
    prefix, _, suffix = name.rpartition("-")
    assert prefix == "iris-api-config" and len(suffix) >= 8, name
    required = {
        "MODEL_DIR": "/models",
        "INPUT_DIR": "/data/input",
        "OUTPUT_DIR": "/data/output",
        "LOG_LEVEL": "info",
    }
    assert generated["data"].items() >= required.items()
    for obj, template in rendering.workloads():
        refs = [
            source["configMapRef"]["name"]
            for source in template["spec"]["containers"][0]["envFrom"]
            if "configMapRef" in source
        ]
        assert refs == [name], obj["metadata"]["name"]


def secret_refs(rendering: Rendering) -> list[tuple[str, dict[str, Any]]]:
    return [
        (obj["metadata"]["name"], source["secretRef"])
        for obj, template in rendering.workloads()
        for container in template["spec"]["containers"]
        for source in container.get("envFrom", [])
        if "secretRef" in source
    ]


def test_the_api_key_is_optional_only_on_a_local_cluster(rendering: Rendering) -> None:
    assert rendering.all("Secret") == [], "no secret is committed; `make secret` creates it"
    assert [(owner, ref["name"]) for owner, ref in secret_refs(rendering)] == [
        ("iris-api", "iris-api-secret")
    ]
    [(_, ref)] = secret_refs(rendering)
    assert ref["optional"] is (rendering.target in LOCAL)


def test_every_reference_resolves(rendering: Rendering) -> None:
    claims = rendering.names("PersistentVolumeClaim")
    config_maps = rendering.names("ConfigMap")
    accounts = rendering.names("ServiceAccount")
    for _, template in rendering.workloads():
        pod = template["spec"]
        assert pod["serviceAccountName"] in accounts
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        for container in pod["containers"]:
            for mount in container["volumeMounts"]:
                assert mount["name"] in volumes, mount
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
    for hpa in rendering.all("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["name"] in rendering.names(target["kind"])


def test_workload_selectors_match_their_pods(rendering: Rendering) -> None:
    deployment = rendering.get("Deployment", "iris-api")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert matches(selector, deployment["spec"]["template"]["metadata"]["labels"])
    assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/component"}, (
        "a selector is immutable: only labels that never change belong in it"
    )


def model_mounts(pod: Manifest) -> dict[str, Manifest]:
    claim_volumes = {
        volume["name"] for volume in pod["volumes"] if "persistentVolumeClaim" in volume
    }
    [container] = pod["containers"]
    return {
        mount["mountPath"]: mount
        for mount in container["volumeMounts"]
        if mount["name"] in claim_volumes
    }


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("Job", "iris-train-job", {"/models": (False, None)}),
        ("Deployment", "iris-api", {"/models": (True, None)}),
        ("CronJob", "iris-batch-predict", {"/models": (True, None), "/data": (False, "batch")}),
    ],
)
def test_model_volume_mounts(
    rendering: Rendering, kind: str, name: str, expected: dict[str, tuple[bool, str | None]]
) -> None:
    mounts = model_mounts(rendering.pod_template(kind, name)["spec"])
    found = {
        path: (mount.get("readOnly", False), mount.get("subPath")) for path, mount in mounts.items()
    }
    assert found == expected


def test_model_storage_fits_the_cluster(rendering: Rendering) -> None:
    spec = rendering.get("PersistentVolumeClaim", "ml-model-pvc")["spec"]
    if rendering.target in LOCAL:
        assert spec["accessModes"] == ["ReadWriteOnce"]
        assert "storageClassName" not in spec, "a local cluster's default class"
    else:
        # API replicas on several nodes mount the claim at once.
        assert spec["accessModes"] == ["ReadWriteMany"]
        assert spec["storageClassName"]


# --- jobs -------------------------------------------------------------------------------


def test_training_job_limits_and_keeps_its_logs(rendering: Rendering) -> None:
    spec = rendering.get("Job", "iris-train-job")["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["backoffLimit"] >= 1
    assert spec["activeDeadlineSeconds"] > 0
    assert spec["ttlSecondsAfterFinished"] >= 24 * 3600


def test_batch_runs_one_at_a_time_on_a_utc_schedule(rendering: Rendering) -> None:
    spec = rendering.get("CronJob", "iris-batch-predict")["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 1
    assert 0 < job["activeDeadlineSeconds"] < 300, "a run ends before the next is due"
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def batch_pods(rendering: Rendering) -> int:
    """How many pods a batch run starts, checking that the three knobs agree."""
    job = rendering.get("CronJob", "iris-batch-predict")["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    env = {
        variable["name"]: variable["value"]
        for variable in rendering.container("CronJob", "iris-batch-predict")["env"]
    }
    assert "JOB_COMPLETION_INDEX" not in env, "Kubernetes sets it for Indexed Jobs"
    assert job["parallelism"] == job["completions"] == int(env["JOB_COMPLETION_COUNT"])
    return int(job["parallelism"])


def test_batch_runs_one_pod_by_default(rendering: Rendering) -> None:
    assert batch_pods(rendering) == 1


def documented_scale_out_patch() -> str:
    """The patch base/batch-cronjob.yaml tells users to copy, without the comment marks."""
    lines = (REPO / "base/batch-cronjob.yaml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "in one patch of your overlay" in line) + 1
    patch = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        patch.append(line.removeprefix("#   "))
    assert patch, "the scale-out patch is missing from base/batch-cronjob.yaml"
    return "\n".join(patch)


def test_the_documented_scale_out_patch_works(tmp_path: Path) -> None:
    overlay = tmp_path / "scaled"
    overlay.mkdir()
    kustomization = {
        "resources": [os.path.relpath(REPO / "overlays/minikube", overlay)],
        "patches": [
            {
                "target": {"kind": "CronJob", "name": "iris-batch-predict"},
                "patch": documented_scale_out_patch(),
            }
        ],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    assert batch_pods(render(str(overlay))) == 4


# --- network ----------------------------------------------------------------------------


def test_network_allows_only_ingress_to_the_api_port(rendering: Rendering) -> None:
    policies = {
        policy["metadata"]["name"]: policy["spec"] for policy in rendering.all("NetworkPolicy")
    }
    deny = policies.pop("default-deny-all")
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    api_labels = rendering.pod_template("Deployment", "iris-api")["metadata"]["labels"]
    for name, spec in policies.items():
        assert "egress" not in spec and "Egress" not in spec["policyTypes"], name
        assert matches(spec["podSelector"]["matchLabels"], api_labels), name
        for rule in spec["ingress"]:
            assert rule["ports"] == [{"port": "http", "protocol": "TCP"}], name
    assert policies, "nothing would reach the API"
