"""Refusals of invalid objects, as the real kubectl prints them against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path as PathLib

import pytest

from sandbox.apimachinery.field import (
    GoValue,
    Path,
    aggregate,
    go_quote,
    go_value,
    invalid,
    required,
)
from sandbox.testing import SandboxProcess, start_sandbox

NS = "validation"
REPO_ROOT = PathLib(__file__).resolve().parents[2]

_JOB = """
apiVersion: batch/v1
kind: Job
metadata: {{name: iris-train-job, namespace: validation}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: train, image: "{image}", command: [sleep, "1"]}}]
"""


@pytest.fixture(scope="module")
def cluster(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.kubectl("create", "namespace", NS)
    return shared_sandbox


def _refusal(cluster: SandboxProcess, *args: str, manifest: str | None = None) -> str:
    result = cluster.kubectl(*args, check=False, input=manifest)
    assert result.returncode == 1, result
    return result.stderr.strip()


def test_a_bad_name_is_refused_with_the_subdomain_rule(cluster: SandboxProcess) -> None:
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "UPPER"}})
    stderr = _refusal(cluster, "apply", "-n", NS, "-f", "-", manifest=manifest)
    assert stderr == (
        'The ConfigMap "UPPER" is invalid: metadata.name: Invalid value: "UPPER": a lowercase '
        "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
        "must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )


def test_a_selector_that_misses_the_template_labels(cluster: SandboxProcess) -> None:
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mismatch, namespace: validation}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: busybox}]}
"""
    stderr = _refusal(cluster, "apply", "-f", "-", manifest=manifest)
    assert stderr == (
        'The Deployment "mismatch" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"b"}: `selector` does not match template `labels`'
    )


def test_changing_a_job_template_is_refused_as_immutable(cluster: SandboxProcess) -> None:
    cluster.kubectl("apply", "-f", "-", input=_JOB.format(image="busybox:1"))
    result = cluster.kubectl(
        "apply", "-f", "-", "-o", "json", check=False, input=_JOB.format(image="busybox:2")
    )
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith('The Job "iris-train-job" is invalid: spec.template: Invalid value: ')
    assert first.endswith(": field is immutable")
    raw = cluster.kubectl(
        "get", "--raw", f"/apis/batch/v1/namespaces/{NS}/jobs/iris-train-job"
    ).stdout
    assert json.loads(raw)["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1"


def test_the_422_status_names_the_kind_and_its_causes(cluster: SandboxProcess) -> None:
    manifest = json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty"}, "spec": {}}
    )
    result = cluster.kubectl("create", "-n", NS, "-f", "-", "-v=8", check=False, input=manifest)
    assert 'The Pod "empty" is invalid: spec.containers: Required value' in result.stderr
    # -v=8 logs each response body as a Go-quoted string: body="{...}".
    logged = next(
        line for line in result.stderr.splitlines() if '"Response Body"' in line and "empty" in line
    )
    status = json.loads(json.loads(logged.split("body=", 1)[1]))
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["details"] == {
        "name": "empty",
        "kind": "Pod",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": "spec.containers",
            }
        ],
    }


def test_values_print_as_go_prints_them() -> None:
    assert go_value(-1) == "-1"
    assert go_value(True) == "true"
    assert go_value(None) == "null"
    assert go_quote('a"b\n\x01é') == '"a\\"b\\n\\x01é"'
    assert GoValue.string_map({"b": "2", "a": "1"}).text == 'map[string]string{"a":"1", "b":"2"}'
    assert str(Path("spec").child("containers").index(0).child("image")) == (
        "spec.containers[0].image"
    )


def test_several_errors_aggregate_in_brackets_once_each() -> None:
    replicas = invalid(Path("spec.replicas"), -1, "must be greater than or equal to 0")
    selector = required(Path("spec.selector"))
    assert aggregate([replicas]) == (
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    )
    assert aggregate([replicas, selector, replicas]) == (
        "[spec.replicas: Invalid value: -1: must be greater than or equal to 0, "
        "spec.selector: Required value]"
    )


@pytest.mark.parametrize(
    "kustomization",
    sorted(
        str(path.parent)
        for path in REPO_ROOT.glob("*/*/kustomization.yaml")
        if path.parent.parent.name in ("overlays", "examples")
    ),
)
def test_every_overlay_still_applies_cleanly(kustomization: str, tmp_path: PathLib) -> None:
    with start_sandbox(tmp_path / "sandbox", run_pods=False) as cluster:
        result = cluster.kubectl("apply", "--server-side", "-k", kustomization, check=False)
        assert (result.returncode, result.stderr) == (0, "")


def test_duplicate_container_names_and_a_missing_image(cluster: SandboxProcess) -> None:
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: twins, namespace: validation}
spec:
  selector: {matchLabels: {app: t}}
  template:
    metadata: {labels: {app: t}}
    spec: {containers: [{name: c, image: busybox}, {name: c}]}
"""
    stderr = _refusal(cluster, "apply", "-f", "-", manifest=manifest)
    assert stderr.splitlines() == [
        'The Deployment "twins" is invalid: ',
        "* spec.template.spec.containers[1].image: Required value",
        '* spec.template.spec.containers[1].name: Duplicate value: "c"',
    ]


def test_negative_replicas_are_refused(cluster: SandboxProcess) -> None:
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: negative, namespace: validation}
spec:
  replicas: -1
  selector: {matchLabels: {app: "n"}}
  template:
    metadata: {labels: {app: "n"}}
    spec: {containers: [{name: c, image: busybox}]}
"""
    stderr = _refusal(cluster, "apply", "-f", "-", manifest=manifest)
    assert stderr == (
        'The Deployment "negative" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )
