"""Deploying overlays/minikube with the cluster layer, retraining, and predicting through the
Service's NodePort on the node's address (as on minikube) or, where that does not answer, the
API server's service proxy — all against the sandbox."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from sandbox.testing import SandboxProcess
from tui.cluster import actions, kinds, kustomize
from tui.cluster.connection import Connection, call_json, connect
from tui.cluster.predict import PredictClient, PredictError
from tui.cluster.watch import KINDS, ResourceWatcher, WatchEvent

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
MINIKUBE = REPO / "overlays" / "minikube"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def image_overlay(folder: Path, tag: str) -> Path:
    """An overlay that is overlays/minikube with another image tag."""
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        f"resources: [{os.path.relpath(MINIKUBE, folder)}]\n"
        f"images: [{{name: iris-ml, newTag: {tag}}}]\n"
    )
    return folder


def test_diff_apply_retrain_reapply_after_image_change_and_delete(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    conn = connect(None, "ml-course", str(sandbox.kubeconfig))
    call_json(
        client.CoreV1Api(conn.api_client).create_namespace, {"metadata": {"name": "ml-course"}}
    )

    before = kustomize.diff(conn, MINIKUBE)
    output = before.run()
    assert before.returncode == 1, output
    assert any(line.startswith("+") and "iris-api" in line for line in output)

    applied = kustomize.apply(conn, MINIKUBE)
    output = applied.run()
    assert applied.returncode == 0, output
    assert output[0].endswith("delete job iris-train-job --ignore-not-found")
    assert "deployment.apps/iris-api serverside-applied" in output
    assert "job.batch/iris-train-job serverside-applied" in output

    after = kustomize.diff(conn, MINIKUBE)
    output = after.run()
    assert after.returncode == 0, output

    # Retrain: a new Job from the training Job's template; the API then serves its model.
    assert actions.wait_for_job(conn, "iris-train-job", timeout=120) == "Complete"
    sandbox.kubectl("rollout", "status", "deployment/iris-api", "--timeout=120s", timeout=130)
    api = PredictClient.for_cluster(conn)
    try:
        first = api.predict(SETOSA).model_version
        result = actions.retrain(conn)
        assert actions.wait_for_job(conn, str(result.name), timeout=120) == "Complete"
        newer = api.wait_for_new_version(first, timeout=60)
        assert newer != first
        # Both replicas reload on their own within RELOAD_INTERVAL; then every answer is new.
        deadline = time.monotonic() + 30
        served = {api.predict(SETOSA).model_version for _ in range(6)}
        while served != {newer} and time.monotonic() < deadline:
            time.sleep(0.2)
            served = {api.predict(SETOSA).model_version for _ in range(6)}
        assert served == {newer}
    finally:
        api.close()

    # The training Job's template is immutable: a plain apply of a new image fails…
    newer_overlay = image_overlay(tmp_path / "newer", "0.2.0-dev")
    plain = sandbox.kubectl("apply", "--server-side", "-k", str(newer_overlay), check=False)
    assert plain.returncode != 0 and 'iris-train-job" is invalid' in plain.stderr
    # …kubectl diff fails the same way, and the TUI says what to do about it.
    refused = kustomize.diff(conn, newer_overlay)
    output = refused.run()
    assert refused.returncode == 2, output
    assert any("field is immutable" in line for line in output), output
    fix = kustomize.known_fix("\n".join(output))
    assert fix is not None and "Apply deletes the finished training Job" in fix
    # …and the TUI's apply, which deletes the completed Job first, works.
    changed = kustomize.apply(conn, newer_overlay)
    output = changed.run()
    assert changed.returncode == 0, output
    job = call_json(
        client.BatchV1Api(conn.api_client).read_namespaced_job, "iris-train-job", "ml-course"
    )
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "iris-ml:0.2.0-dev"

    removed = kustomize.delete(conn, MINIKUBE)
    output = removed.run()
    assert removed.returncode == 0, output
    deployments = sandbox.kubectl(
        "get", "deployments", "-n", "ml-course", "-o", "name", check=False
    )
    assert "iris-api" not in deployments.stdout


@pytest.fixture(scope="module")
def stack_conn(minikube_stack: SandboxProcess) -> Connection:
    return connect(None, "ml-course", str(minikube_stack.kubeconfig))


def test_predict_through_the_node_port(stack_conn: Connection) -> None:
    api = PredictClient.for_cluster(stack_conn)
    try:
        # the overlay's NodePort, where the sandbox's kube-proxy answers on the node address
        assert api.route.startswith("NodePort 127.") and api.route.endswith(":30080"), api.route
        assert api.predict(SETOSA).class_name == "setosa"
        assert api.command("/predict", SETOSA).endswith(f" {api.base_url}/predict")
    finally:
        api.close()


def test_predict_through_the_service_proxy(
    stack_conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No direct route answers (minikube's node address is out of reach on some drivers).
    monkeypatch.setattr("tui.cluster.predict._answers", lambda url: False)
    api = PredictClient.for_cluster(stack_conn)
    try:
        assert "proxy" in api.route
        result = api.predict(SETOSA)
        assert result.class_name == "setosa" and result.class_index == 0
        assert result.probabilities["setosa"] > 0.5
        info = api.model_info()
        assert info is not None and result.model_version == info["version"]
        batch = api.predict_rows([list(SETOSA.values()), list(VIRGINICA.values())])
        assert [p.class_name for p in batch] == ["setosa", "virginica"]
        with pytest.raises(PredictError, match=r"invalid input: .*sepal_length"):
            api.predict({**SETOSA, "sepal_length": 1000.0})
        assert (
            "create --raw /api/v1/namespaces/ml-course/services/iris-api-svc:http/proxy/predict"
            in (api.command("/predict", SETOSA))
        )
    finally:
        api.close()


def test_api_url_route_is_used_as_given(stack_conn: Connection) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = PredictClient.for_cluster(stack_conn, api_url=f"http://127.0.0.1:{port}")
    with pytest.raises(PredictError, match="cannot reach the API at --api-url"):
        api.predict(SETOSA)


def test_rows_of_the_deployed_stack(stack_conn: Connection) -> None:
    """Every object of the running stack makes a row; the key ones read as kubectl shows them."""
    tables: dict[str, dict[str, tuple[str, ...]]] = {}
    for kind in KINDS:
        recorder: list[WatchEvent] = []
        watcher = ResourceWatcher(stack_conn, kind, recorder.append, lambda *_: None)
        watcher.start()
        try:
            deadline = time.monotonic() + 10
            while not recorder and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            watcher.stop()
        assert recorder and recorder[0].type == "RESYNC", kind
        table = {}
        for obj in recorder[0].items or []:
            cells = kinds.row(kind, obj)
            assert len(cells) == len(kinds.KINDS[kind].columns)
            table[obj["metadata"]["name"]] = cells
        tables[kind] = table
    assert tables["deployments"]["iris-api"][1:4] == ("2/2", "2", "2")
    assert tables["jobs"]["iris-train-job"][1:3] == ("Complete", "1/1")
    assert tables["services"]["iris-api-svc"][1] == "NodePort"
    assert tables["services"]["iris-api-svc"][4] == "80:30080/TCP"
    assert tables["persistentvolumeclaims"]["ml-model-pvc"][1] == "Bound"
    schedule = yaml.safe_load(
        dict(kustomize.split_documents(kustomize.render(MINIKUBE)))["CronJob/iris-batch-predict"]
    )["spec"]["schedule"]
    assert tables["cronjobs"]["iris-batch-predict"][1:3] == (schedule, "False")
    api_pods = [cells for name, cells in tables["pods"].items() if name.startswith("iris-api-")]
    assert len(api_pods) == 2 and all(c[1:3] == ("1/1", "Running") for c in api_pods)
