"""The cluster layer's parts that need no cluster: kubeconfig errors, kustomize, object
builders, input validation and the API error lines."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
import yaml
from kubernetes.client.rest import ApiException

from tui.cluster import actions, kustomize, predict
from tui.cluster.connection import ClusterError, check_reachable, cluster_error, connect

REPO = Path(__file__).resolve().parents[2]

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "http://127.0.0.1:%d"}
users:
- name: me
  user: {token: secret-token}
contexts:
- name: first
  context: {cluster: local, user: me, namespace: ml-course}
- name: second
  context: {cluster: local, user: me}
current-context: first
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG % closed_port())
    return path


def test_connect_uses_current_context_and_builds_kubectl_argv(kubeconfig: Path) -> None:
    conn = connect(None, "ml-course", str(kubeconfig))
    assert conn.context == "first"
    assert conn.server.startswith("http://127.0.0.1:")
    assert conn.kubectl("get", "pods") == [
        "kubectl",
        "--kubeconfig",
        str(kubeconfig),
        "--context",
        "first",
        "-n",
        "ml-course",
        "get",
        "pods",
    ]
    assert conn.configuration.api_key["BearerToken"] == "Bearer secret-token"


def test_connect_reads_kubeconfig_env(kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    conn = connect("second", "ml-course")
    assert conn.context == "second"
    assert "--kubeconfig" not in conn.kubectl_base


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no kubeconfig found"),
        ("{not: [valid", "cannot read the kubeconfig"),
        ("just text", "is not a kubeconfig"),
    ],
)
def test_connect_errors_are_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "config"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ClusterError) as caught:
        connect(None, "ml-course", str(path))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_context_lists_known_ones(kubeconfig: Path) -> None:
    with pytest.raises(ClusterError, match=r"no context 'prod'.*first, second"):
        connect("prod", "ml-course", str(kubeconfig))


def test_unreachable_server_is_a_readable_error(kubeconfig: Path) -> None:
    conn = connect(None, "ml-course", str(kubeconfig))
    with pytest.raises(ClusterError, match=r"cannot reach the cluster at .*connection refused"):
        check_reachable(conn)


def test_list_overlays_finds_every_overlay_folder(tmp_path: Path) -> None:
    found = kustomize.list_overlays(REPO, extra=[tmp_path])
    names = [p.name for p in found[:-1]]
    assert names == sorted(names)
    assert "minikube" in names
    assert all(kustomize.is_overlay(p) for p in found[:-1])
    assert found[-1] == tmp_path
    again = kustomize.list_overlays(
        REPO, extra=[REPO / "overlays" / ".." / "overlays" / "minikube"]
    )
    assert again == found[:-1]


def test_render_and_split_minikube_overlay() -> None:
    text = kustomize.render(REPO / "overlays" / "minikube")
    documents = dict(kustomize.split_documents(text))
    for key in (
        "Deployment/iris-api",
        "Job/iris-train-job",
        "CronJob/iris-batch-predict",
        "Service/iris-api-svc",
        "PersistentVolumeClaim/ml-model-pvc",
    ):
        assert key in documents
    deployment = yaml.safe_load(documents["Deployment/iris-api"])
    assert deployment["metadata"]["namespace"] == "ml-course"


def test_split_documents_keeps_text_and_drops_empty() -> None:
    text = (
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
        "---\n\n---\nkind: Pod\nmetadata: {name: b}\n"
    )
    parts = kustomize.split_documents(text)
    assert [key for key, _ in parts] == ["Service/a", "Pod/b"]
    assert parts[0][1] == "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"


def test_render_rejects_folder_without_kustomization(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="not a kustomize overlay"):
        kustomize.render(tmp_path)


def test_render_reports_kustomize_errors(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(ClusterError, match="cannot render"):
        kustomize.render(tmp_path)


def test_command_run_stops_at_first_failure(tmp_path: Path) -> None:
    run = kustomize.CommandRun(
        [["kubectl", "kustomize", str(tmp_path)], ["kubectl", "version", "--client"]]
    )
    lines = run.run()
    assert lines[0] == f"$ kubectl kustomize {tmp_path}"
    assert not any(line.startswith("$ kubectl version") for line in lines)
    assert run.returncode not in (None, 0)
    assert not run.succeeded


def test_command_run_streams_output_and_status() -> None:
    run = kustomize.CommandRun([["kubectl", "version", "--client"]])
    lines = run.run()
    assert any("Client Version" in line for line in lines)
    assert run.returncode == 0 and run.succeeded
    assert run.command == "kubectl version --client"


def test_apply_deletes_the_training_job_first(kubeconfig: Path) -> None:
    conn = connect(None, "ml-course", str(kubeconfig))
    run = kustomize.apply(conn, Path("overlays/minikube"))
    assert [c[7:] for c in run.commands] == [
        ["delete", "job", "iris-train-job", "--ignore-not-found"],
        ["apply", "--server-side", "--force-conflicts", "-k", "overlays/minikube"],
    ]
    assert " && " in run.command
    polite = kustomize.apply(conn, Path("overlays/minikube"), force_conflicts=False)
    assert "--force-conflicts" not in polite.command
    assert kustomize.diff(conn, Path("o")).ok_codes == {0, 1}


TRAINING_JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "name": "iris-train-job",
        "uid": "u-1",
        "resourceVersion": "7",
        "labels": {"app": "iris", "controller-uid": "u-1", "job-name": "iris-train-job"},
    },
    "spec": {
        "backoffLimit": 2,
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}},
        "template": {
            "metadata": {
                "labels": {
                    "app": "iris",
                    "batch.kubernetes.io/controller-uid": "u-1",
                    "batch.kubernetes.io/job-name": "iris-train-job",
                    "controller-uid": "u-1",
                    "job-name": "iris-train-job",
                }
            },
            "spec": {"containers": [{"name": "train", "command": ["iris-train"]}]},
        },
    },
    "status": {"succeeded": 1},
}


def test_job_copy_drops_selector_and_controller_labels() -> None:
    copy = actions.job_copy(TRAINING_JOB, "iris-train-20260101-000000")
    assert copy["metadata"] == {"name": "iris-train-20260101-000000", "labels": {"app": "iris"}}
    assert "selector" not in copy["spec"]
    assert copy["spec"]["template"]["metadata"]["labels"] == {"app": "iris"}
    assert copy["spec"]["template"]["spec"] == TRAINING_JOB["spec"]["template"]["spec"]
    assert "status" not in copy
    # The original is untouched.
    assert "selector" in TRAINING_JOB["spec"]


def test_job_from_cronjob_matches_kubectl_create_job_from() -> None:
    cronjob = {
        "metadata": {"name": "iris-batch-predict", "uid": "cj-9"},
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {
                "metadata": {"labels": {"app": "batch"}, "annotations": {"team": "ml"}},
                "spec": {"template": {"spec": {"containers": [{"name": "batch"}]}}},
            },
        },
    }
    job = actions.job_from_cronjob(cronjob, "iris-batch-predict-manual-1")
    assert job["metadata"]["annotations"] == {
        "cronjob.kubernetes.io/instantiate": "manual",
        "team": "ml",
    }
    assert job["metadata"]["labels"] == {"app": "batch"}
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "iris-batch-predict",
            "uid": "cj-9",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]


def test_scale_rejects_bad_replica_counts(kubeconfig: Path) -> None:
    conn = connect(None, "ml-course", str(kubeconfig))
    for bad in (-1, True, 1.5):
        with pytest.raises(ClusterError, match="whole number"):
            actions.scale(conn, "iris-api", bad)  # type: ignore[arg-type]


def test_the_iris_form_reports_each_bad_field() -> None:
    form = predict.IRIS_FORM
    problems = form.problems(
        {"sepal_length": "5.1", "sepal_width": "abc", "petal_length": "-1", "petal_width": ""}
    )
    assert problems == {
        "sepal_width": "'abc' is not a number",
        "petal_length": "must be between 0 and 100",
        "petal_width": "required",
    }
    assert form.problems(dict.fromkeys(form.names, "1")) == {}
    assert form.problems({**dict.fromkeys(form.names, "1"), "sepal_width": "nan"}) == {
        "sepal_width": "'nan' is not a finite number"
    }


CUSTOMERS_INFO = {
    "version": "v7",
    "task": "classification",
    "target": "churned",
    "class_names": ["no", "yes"],
    "features": [
        {"name": "tenure_months", "type": "numeric", "nullable": False, "min": 1, "max": 71},
        {"name": "monthly_charges", "type": "numeric", "nullable": True, "min": 20, "max": 99},
        {"name": "plan", "type": "categorical", "nullable": True, "categories": ["basic", "pro"]},
    ],
}


def test_a_form_from_get_model_checks_types_categories_and_empty_fields() -> None:
    form = predict.ModelForm.from_info(CUSTOMERS_INFO)
    assert (form.version, form.task, form.target, form.names) == (
        "v7",
        "classification",
        "churned",
        ("tenure_months", "monthly_charges", "plan"),
    )
    problems = form.problems({"tenure_months": "", "monthly_charges": "x", "plan": "gold"})
    assert problems == {
        "tenure_months": "required",
        "monthly_charges": "'x' is not a number",
        "plan": "'gold' is not one of basic, pro",
    }
    # Empty nullable fields are left out of the body: the API imputes them.
    texts = {"tenure_months": "12", "monthly_charges": " ", "plan": "pro"}
    assert form.problems(texts) == {}
    assert form.values(texts) == {"tenure_months": 12.0, "plan": "pro"}
    assert (
        form.signature == predict.ModelForm.from_info({**CUSTOMERS_INFO, "version": "v8"}).signature
    )
    assert form.signature != predict.IRIS_FORM.signature
    with pytest.raises(predict.PredictError, match="unexpected way"):
        predict.ModelForm.from_info({**CUSTOMERS_INFO, "features": [{"name": "a", "type": "date"}]})


def test_read_csv_rows_by_header_or_position(tmp_path: Path) -> None:
    named = tmp_path / "named.csv"
    named.write_text("petal_width,petal_length,sepal_width,sepal_length,label\n0.2,1.4,3.5,5.1,x\n")
    assert predict.read_csv_rows(named) == [
        {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    ]
    plain = tmp_path / "plain.csv"
    plain.write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    assert [list(row.values()) for row in predict.read_csv_rows(plain)] == [
        [5.1, 3.5, 1.4, 0.2],
        [6.7, 3.0, 5.2, 2.3],
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,x,0.2\n")
    with pytest.raises(predict.PredictError, match=r"bad.csv line 2: petal_length: 'x' is not"):
        predict.read_csv_rows(bad)
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("a,b,c,d\n5.1,3.5,1.4,0.2\n")
    with pytest.raises(predict.PredictError, match=r"the header names none of sepal_length"):
        predict.read_csv_rows(unnamed)


def test_csv_columns_by_name_leave_out_the_id_and_may_omit_a_nullable_one(
    tmp_path: Path,
) -> None:
    form = predict.ModelForm.from_info(CUSTOMERS_INFO)
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,plan,tenure_months\nC-1,basic,3\nC-2,,40\n")
    assert predict.read_csv_rows(customers, form) == [
        {"tenure_months": 3.0, "plan": "basic"},
        {"tenure_months": 40.0},
    ]
    customers.write_text("customer_id,plan\nC-1,basic\n")
    with pytest.raises(predict.PredictError, match=r"customers\.csv has no column tenure_months"):
        predict.read_csv_rows(customers, form)


def client_answering(status: int, body: object) -> predict.PredictClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return predict.PredictClient("http://api", "test", http=http)


FEATURES = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_prediction_parsed() -> None:
    answer = {
        "species_index": 0,
        "species_name": "setosa",
        "probabilities": {"setosa": 0.97, "versicolor": 0.03, "virginica": 0.0},
        "model_version": "v1",
    }
    result = client_answering(200, answer).predict(FEATURES)
    assert (result.class_name, result.class_index, result.model_version) == ("setosa", 0, "v1")
    assert result.probabilities["setosa"] == 0.97
    assert result.latency_ms >= 0


def test_regression_and_batch_answers_parsed() -> None:
    value = client_answering(200, {"alcohol": 13.2, "model_version": "v2"}).predict(
        {"hue": 1.0}, target="alcohol"
    )
    assert (value.value, value.class_name, value.probabilities) == (13.2, None, {})
    rows = client_answering(200, {"predictions": [12.5, 14.0], "model_version": "v2"})
    assert [p.value for p in rows.predict_rows([{"hue": 1.0}, [0.8]])] == [12.5, 14.0]
    classes = client_answering(
        200,
        {
            "predictions": [1, 0],
            "churned_names": ["yes", "no"],
            "probabilities": [[0.2, 0.8], [0.9, 0.1]],
            "class_names": ["no", "yes"],
            "model_version": "v3",
        },
    ).predict_rows([{"plan": "basic"}, {"plan": "pro"}])
    assert [(p.class_index, p.class_name, p.probabilities["yes"]) for p in classes] == [
        (1, "yes", 0.8),
        (0, "no", 0.1),
    ]
    with pytest.raises(predict.PredictError, match="unexpected prediction"):
        client_answering(200, {"model_version": "v2"}).predict({"hue": 1.0}, target="alcohol")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"detail": "missing API key"}, "requires an API key (401): set IRIS_API_KEY"),
        (
            422,
            {
                "detail": "invalid request",
                "errors": [{"field": "sepal_length", "message": "must be <= 100", "type": "x"}],
            },
            "invalid input: sepal_length: must be <= 100",
        ),
        (503, {"status": "unready", "detail": "no model loaded"}, "not ready: no model loaded"),
        (
            503,
            {"kind": "Status", "message": 'no endpoints available for service "iris-api-svc"'},
            'not ready: no endpoints available for service "iris-api-svc"',
        ),
        (500, {"detail": "boom"}, "answered 500: boom"),
    ],
)
def test_api_errors_are_one_line(status: int, body: object, expected: str) -> None:
    with pytest.raises(predict.PredictError) as caught:
        client_answering(status, body).predict(FEATURES)
    assert expected in str(caught.value)


def test_connection_error_names_the_route() -> None:
    port = closed_port()
    client = predict.PredictClient(f"http://127.0.0.1:{port}", f"--api-url :{port}")
    with pytest.raises(predict.PredictError, match=f"cannot reach the API at --api-url :{port}"):
        client.predict(FEATURES)


def test_curl_equivalent_never_shows_the_key() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    client = predict.PredictClient("http://api", "t", api_key="s3cret", http=http)
    line = client.command("/predict", FEATURES)
    assert "s3cret" not in line
    assert "$IRIS_API_KEY" in line
    assert json.dumps(FEATURES) in line


def test_api_errors_carry_the_status_causes_not_said_yet() -> None:
    invalid = ApiException(status=422, reason="Unprocessable Entity")
    invalid.body = json.dumps(
        {
            "kind": "Status",
            "message": 'Job.batch "iris-train-x" is invalid',
            "details": {
                "causes": [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value",
                        "field": "spec.template.spec.containers",
                    },
                    {"reason": "FieldValueInvalid", "message": 'Job.batch "iris-train-x"'},
                ]
            },
        }
    )
    assert str(cluster_error(invalid, "create job/iris-train-x")) == (
        'cannot create job/iris-train-x: Job.batch "iris-train-x" is invalid; '
        "spec.template.spec.containers: Required value"
    )


def test_known_kubectl_failures_come_with_what_to_do() -> None:
    assert kustomize.known_fix("error: the server doesn't have a resource type") is None
    assert "--force-conflicts" in str(
        kustomize.known_fix('error: Apply failed with 1 conflict: conflict with "kubectl-scale"')
    )


def test_api_errors_name_the_action() -> None:
    forbidden = ApiException(status=403, reason="Forbidden")
    forbidden.body = json.dumps(
        {"kind": "Status", "message": 'pods is forbidden: User "dev" cannot list resource "pods"'}
    )
    assert str(cluster_error(forbidden, "list pods in ml-course")) == (
        'no permission to list pods in ml-course (pods is forbidden: User "dev" cannot list '
        'resource "pods")'
    )
    unauthorized = ApiException(status=401, reason="Unauthorized")
    assert "rejected the credentials (401)" in str(cluster_error(unauthorized, "reach it"))
    missing = ApiException(status=404, reason="Not Found")
    missing.body = '{"message": "jobs.batch \\"x\\" not found"}'
    assert (
        str(cluster_error(missing, "read job/x")) == 'cannot read job/x: jobs.batch "x" not found'
    )


def test_missing_kubectl_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ClusterError, match="kubectl not found on PATH"):
        kustomize.render(REPO / "overlays" / "minikube")
    with pytest.raises(ClusterError, match="kubectl not found on PATH"):
        kustomize.CommandRun([["kubectl", "version", "--client"]]).run()


def test_proxy_requests_carry_the_kubeconfig_token(kubeconfig: Path) -> None:
    conn = connect(None, "ml-course", str(kubeconfig))
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(401, json={"kind": "Status", "code": 401, "message": "Unauthorized"})

    http = httpx.Client(
        transport=httpx.MockTransport(handler), auth=predict._ClusterAuth(conn.configuration)
    )
    api = predict.PredictClient(
        "http://server/api/v1/namespaces/ml-course/services/iris-api-svc:http/proxy",
        "proxy",
        http=http,
        proxy_path="/api/v1/namespaces/ml-course/services/iris-api-svc:http/proxy",
    )
    with pytest.raises(predict.PredictError, match="rejected the kubeconfig's credentials"):
        api.predict(FEATURES)
    assert seen == ["Bearer secret-token"]
