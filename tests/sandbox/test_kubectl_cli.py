"""The real kubectl (and the kustomize inside it) against a running sandbox."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, watch

from sandbox.testing import SandboxProcess, start_sandbox

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
APP = str(DATA / "app")
MINIKUBE = str(Path(__file__).resolve().parents[2] / "overlays" / "minikube")
NS = "kt-app"


@pytest.fixture(scope="module")
def app(shared_sandbox: SandboxProcess) -> SandboxProcess:
    """The small test application, applied once with server-side apply."""
    shared_sandbox.load_image("python:3.11")
    shared_sandbox.kubectl("apply", "--server-side", "-k", APP)
    return shared_sandbox


@pytest.fixture(scope="module")
def quiet_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox that never starts pods, for apply/diff/delete of the real overlays."""
    process = start_sandbox(tmp_path_factory.mktemp("quiet"), run_pods=False)
    try:
        yield process
    finally:
        process.stop()


def test_version_discovery_and_the_node(shared_sandbox: SandboxProcess) -> None:
    version = json.loads(shared_sandbox.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["minor"] == "32"
    resources = shared_sandbox.kubectl("api-resources", "--no-headers").stdout
    rows = {line.split()[0]: line.split() for line in resources.splitlines()}
    assert rows["deployments"][1] == "deploy"
    assert rows["horizontalpodautoscalers"][2] == "autoscaling/v2"
    nodes = shared_sandbox.kubectl("get", "nodes").stdout.split()
    assert nodes[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[5:7] == ["sandbox", "Ready"]


def test_get_prints_the_columns_kubectl_shows(app: SandboxProcess) -> None:
    headers = {
        "deployments": "NAME READY UP-TO-DATE AVAILABLE AGE",
        "services": "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE",
        "jobs": "NAME STATUS COMPLETIONS DURATION AGE",
        "cronjobs": "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE",
        "configmaps": "NAME DATA AGE",
        "pods": "NAME READY STATUS RESTARTS AGE",
    }
    for kind, header in headers.items():
        output = app.kubectl("get", kind, "-n", NS).stdout.splitlines()
        assert " ".join(output[0].split()) == header, kind
    cronjob = app.kubectl("get", "cj", "ticker", "-n", NS, "--no-headers").stdout.split()
    assert cronjob[1:8] == ["0", "0", "1", "1", "*", "<none>", "True"]
    service = app.kubectl("get", "svc", "sleeper", "-n", NS, "--no-headers").stdout.split()
    assert service[1] == "ClusterIP" and service[4] == "80/TCP"
    wide = app.kubectl("get", "pods", "-n", NS, "-o", "wide").stdout.split("\n")[0]
    assert "IP" in wide.split() and "NODE" in wide.split()


def test_get_sort_by_a_field_outside_the_columns(app: SandboxProcess) -> None:
    # --sort-by asks for Tables whose rows carry the whole object (includeObject=Object).
    for name, order in [("sort-b", "3"), ("sort-a", "2"), ("sort-c", "1")]:
        app.kubectl("create", "configmap", name, "-n", NS, f"--from-literal=order={order}")
    listed = app.kubectl(
        "get", "configmaps", "-n", NS, "-l", "!kube-root", "--sort-by=.data.order", "-o", "name"
    )
    names = [line for line in listed.stdout.splitlines() if "/sort-" in line]
    assert names == ["configmap/sort-c", "configmap/sort-a", "configmap/sort-b"]
    table = app.kubectl("get", "configmaps", "-n", NS, "--sort-by=.data.order", "--no-headers")
    rows = [line.split()[0] for line in table.stdout.splitlines() if line.startswith("sort-")]
    assert rows == ["sort-c", "sort-a", "sort-b"]
    request = urllib.request.Request(
        f"{app.url}/api/v1/namespaces/{NS}/configmaps?includeObject=All",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert "includeObject must be one of None, Metadata, Object" in refused.value.read().decode()


def test_get_watch_streams_changes(app: SandboxProcess) -> None:
    watcher = subprocess.Popen(
        ["kubectl", "get", "configmaps", "-n", NS, "-w", "--output-watch-events"],
        env=app.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        header = watcher.stdout.readline()
        assert header.split()[:2] == ["EVENT", "NAME"]
        app.kubectl("create", "configmap", "watched", "-n", NS, "--from-literal=a=b")
        deadline = time.monotonic() + 20
        lines = []
        while time.monotonic() < deadline:
            line = watcher.stdout.readline()
            lines.append(line)
            if "watched" in line:
                break
        assert lines[-1].split()[:2] == ["ADDED", "watched"], lines
    finally:
        watcher.kill()
        watcher.wait()
        app.kubectl("delete", "configmap", "watched", "-n", NS)


def test_job_runs_and_its_logs_come_back(app: SandboxProcess) -> None:
    app.kubectl(
        "wait", "--for=condition=complete", "job/hello", "-n", NS, "--timeout=60s", timeout=70
    )
    assert app.kubectl("logs", "job/hello", "-n", NS).stdout == "hello from the job\n"
    followed = app.kubectl("logs", "-f", "job/hello", "-n", NS, "--timestamps", timeout=30)
    stamp, text = followed.stdout.rstrip("\n").split(" ", 1)
    assert text == "hello from the job" and stamp.endswith("Z")
    job = app.kubectl("get", "job", "hello", "-n", NS, "--no-headers").stdout.split()
    assert job[1:3] == ["Complete", "1/1"]


def test_scale_rollout_restart_status_and_describe(app: SandboxProcess) -> None:
    app.kubectl("scale", "deployment/sleeper", "-n", NS, "--replicas=2")
    app.kubectl("rollout", "status", "deployment/sleeper", "-n", NS, "--timeout=60s", timeout=70)
    ready = app.kubectl("get", "deploy", "sleeper", "-n", NS, "--no-headers").stdout.split()
    assert ready[1] == "2/2"
    before = set(
        app.kubectl("get", "pods", "-n", NS, "-l", "app=sleeper", "-o", "name").stdout.split()
    )
    app.kubectl("rollout", "restart", "deployment/sleeper", "-n", NS)
    status = app.kubectl(
        "rollout", "status", "deployment/sleeper", "-n", NS, "--timeout=60s", timeout=70
    )
    assert "successfully rolled out" in status.stdout
    template = json.loads(app.kubectl("get", "deploy", "sleeper", "-n", NS, "-o", "json").stdout)[
        "spec"
    ]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    after = set(
        app.kubectl(
            "get",
            "pods",
            "-n",
            NS,
            "-l",
            "app=sleeper",
            "-o",
            "name",
            "--field-selector=status.phase=Running",
        ).stdout.split()
    )
    assert after and not after & before
    described = app.kubectl("describe", "deployment", "sleeper", "-n", NS).stdout
    assert "Replicas:" in described and "ScalingReplicaSet" in described


def test_kubectl_create_sends_protobuf_and_works(app: SandboxProcess) -> None:
    app.kubectl("create", "job", "--from=cronjob/ticker", "manual", "-n", NS)
    job = json.loads(app.kubectl("get", "job", "manual", "-n", NS, "-o", "json").stdout)
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["name"] == "ticker"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-c", "print('tick')"]
    app.kubectl("create", "secret", "generic", "key", "-n", NS, "--from-literal=API_KEY=s3cret")
    encoded = app.kubectl("get", "secret", "key", "-n", NS, "-o", "jsonpath={.data.API_KEY}")
    assert encoded.stdout == "czNjcmV0"
    app.kubectl("create", "deployment", "zero", "-n", NS, "--image=x", "--replicas=0")
    replicas = app.kubectl("get", "deploy", "zero", "-n", NS, "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "0"


def test_server_side_apply_of_the_overlay_repeats_and_forces(
    quiet_sandbox: SandboxProcess,
) -> None:
    first = quiet_sandbox.kubectl("apply", "--server-side", "-k", MINIKUBE).stdout
    assert "deployment.apps/iris-api serverside-applied" in first
    quiet_sandbox.kubectl("apply", "--server-side", "-k", MINIKUBE)
    forced = quiet_sandbox.kubectl("apply", "--server-side", "--force-conflicts", "-k", MINIKUBE)
    assert "job.batch/iris-train-job serverside-applied" in forced.stdout
    assert quiet_sandbox.kubectl("diff", "-k", MINIKUBE, check=False).returncode == 0
    quiet_sandbox.kubectl("apply", "-k", MINIKUBE)
    assert quiet_sandbox.kubectl("diff", "-k", MINIKUBE, check=False).returncode == 0
    quiet_sandbox.kubectl("scale", "deployment/iris-api", "-n", "ml-course", "--replicas=5")
    changed = quiet_sandbox.kubectl("diff", "-k", MINIKUBE, check=False)
    assert changed.returncode == 1
    assert "-  replicas: 5" in changed.stdout
    deleted = quiet_sandbox.kubectl("delete", "-k", MINIKUBE).stdout
    assert 'deployment.apps "iris-api" deleted' in deleted
    left = quiet_sandbox.kubectl("get", "all", "-n", "ml-course", check=False)
    assert "iris-api" not in left.stdout


def test_server_side_apply_removes_a_dropped_env_var(
    quiet_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    manifest = (DATA / "app" / "sleeper.yaml").read_text().split("---")[0]
    quiet_sandbox.kubectl("create", "namespace", "ssa")
    quiet_sandbox.kubectl("apply", "--server-side", "-n", "ssa", "-f", "-", input=manifest)
    trimmed = manifest.replace("            - name: MODE\n              value: test\n", "")
    trimmed = trimmed.replace("          env:\n", "")
    quiet_sandbox.kubectl("apply", "--server-side", "-n", "ssa", "-f", "-", input=trimmed)
    live = json.loads(
        quiet_sandbox.kubectl("get", "deploy", "sleeper", "-n", "ssa", "-o", "json").stdout
    )
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert "env" not in container
    assert container["envFrom"] == [{"configMapRef": {"name": "sleeper-config"}}]


def test_restart_keeps_objects_and_old_watches_expire(sandbox: SandboxProcess) -> None:
    sandbox.kubectl("create", "namespace", "keep")
    sandbox.kubectl("create", "configmap", "kept", "-n", "keep", "--from-literal=a=b")
    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    core = client.CoreV1Api(api)
    old_version = core.list_namespaced_config_map("keep").metadata.resource_version
    sandbox.kubectl("create", "configmap", "between", "-n", "keep")
    sandbox.restart()
    assert "kept" in sandbox.kubectl("get", "configmaps", "-n", "keep").stdout
    sandbox.kubectl("create", "configmap", "newer", "-n", "keep")
    with pytest.raises(client.ApiException) as expired:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "keep", resource_version=old_version, timeout_seconds=2
        ):
            pass
    assert expired.value.status == 410
    relisted = core.list_namespaced_config_map("keep")
    assert sorted(c.metadata.name for c in relisted.items) == ["between", "kept", "newer"]
    api.close()


def test_server_side_apply_conflicts_with_another_manager_unless_forced(
    quiet_sandbox: SandboxProcess,
) -> None:
    manifest = (DATA / "app" / "sleeper.yaml").read_text().split("---")[0]
    quiet_sandbox.kubectl("create", "namespace", "owners")
    apply = ["apply", "--server-side", "-n", "owners", "-f", "-"]
    quiet_sandbox.kubectl(*apply, input=manifest)
    quiet_sandbox.kubectl("scale", "deployment/sleeper", "-n", "owners", "--replicas=3")
    refused = quiet_sandbox.kubectl(*apply, input=manifest, check=False)
    assert refused.returncode != 0
    assert 'conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas' in (
        refused.stderr
    )
    quiet_sandbox.kubectl(*apply, "--force-conflicts", input=manifest)
    replicas = quiet_sandbox.kubectl(
        "get", "deploy", "sleeper", "-n", "owners", "-o", "jsonpath={.spec.replicas}"
    )
    assert replicas.stdout == "1"
    quiet_sandbox.kubectl(*apply, input=manifest)
