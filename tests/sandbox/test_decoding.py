"""Structural decoding of writes: what kubectl prints for bodies that do not fit the kind's type,
and what the decoder itself answers."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from sandbox.apimachinery import quantity
from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.field import go_quote
from sandbox.apiserver import decoding
from sandbox.resources import BY_PLURAL
from sandbox.testing import SandboxProcess
from tests.sandbox.inprocess import NAMESPACE, Cluster

NS = "decoding"
QUANTITY = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


def _deployment(name: str, replicas: str = "1", container: str = "") -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {NS}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - {{name: c, image: busybox{container}}}
"""


@pytest.fixture(scope="module")
def kube(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.kubectl("create", "namespace", NS)
    return shared_sandbox


def _fails(kube: SandboxProcess, *args: str, manifest: str | None = None) -> str:
    result = kube.kubectl(*args, check=False, input=manifest)
    assert result.returncode == 1, result
    return result.stderr.strip()


def _get(kube: SandboxProcess, kind: str, name: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(
        kube.kubectl("-n", NS, "get", kind, name, "-o", "json").stdout
    )
    return found


# ---------------------------------------------------------------- with kubectl


def test_an_unknown_field_is_refused_on_create(kube: SandboxProcess) -> None:
    manifest = _deployment("typo", container=", imagePullPolice: Always")
    unknown = 'unknown field "spec.template.spec.containers[0].imagePullPolice"'
    for verb in ("apply", "create"):
        stderr = _fails(kube, verb, "-f", "-", manifest=manifest)
        assert stderr == (
            'Error from server (BadRequest): error when creating "STDIN": Deployment in version '
            f'"v1" cannot be handled as a Deployment: strict decoding error: {unknown}'
        )
    assert kube.kubectl("-n", NS, "get", "deploy", "typo", check=False).returncode == 1


def test_several_unknown_fields_are_joined_in_one_message(kube: SandboxProcess) -> None:
    manifest = _deployment("typos", container=", imagePullPolice: Always, cpu: 1")
    stderr = _fails(kube, "create", "-f", "-", manifest=manifest)
    assert stderr.endswith(
        'strict decoding error: unknown field "spec.template.spec.containers[0].cpu", '
        'unknown field "spec.template.spec.containers[0].imagePullPolice"'
    )


def test_a_wrong_type_is_refused_as_go_decodes_it(kube: SandboxProcess) -> None:
    stderr = _fails(kube, "apply", "-f", "-", manifest=_deployment("two", replicas='"two"'))
    assert stderr == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" '
        "cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field "
        "DeploymentSpec.spec.replicas of type int32"
    )


@pytest.mark.parametrize(
    ("container", "error"),
    [
        (", resources: {limits: {cpu: abc}}", QUANTITY),
        (
            ", ports: [{containerPort: 80, hostPort: 1.5}]",
            "json: cannot unmarshal number 1.5 into Go struct field ContainerPort.spec.template"
            ".spec.containers.ports.hostPort of type int32",
        ),
        (
            ", ports: {containerPort: 80}",
            "json: cannot unmarshal object into Go struct field Container.spec.template.spec"
            ".containers.ports of type []v1.ContainerPort",
        ),
        (
            ", stdin: maybe",
            "json: cannot unmarshal string into Go struct field Container.spec.template.spec"
            ".containers.stdin of type bool",
        ),
        (
            ", env: [{name: A, value: 1}]",
            "json: cannot unmarshal number into Go struct field EnvVar.spec.template.spec"
            ".containers.env.value of type string",
        ),
    ],
)
def test_field_types_of_a_pod_template(kube: SandboxProcess, container: str, error: str) -> None:
    stderr = _fails(kube, "create", "-f", "-", manifest=_deployment("t", container=container))
    assert stderr == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" '
        f"cannot be handled as a Deployment: {error}"
    )


def test_labels_are_strings_and_targetports_int_or_string(kube: SandboxProcess) -> None:
    manifest = f"""
apiVersion: v1
kind: Service
metadata: {{name: s, namespace: {NS}, labels: {{tier: 1}}}}
spec: {{ports: [{{port: 80, targetPort: true}}]}}
"""
    stderr = _fails(kube, "create", "-f", "-", manifest=manifest)
    assert stderr.endswith(
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type "
        "string"
    )
    stderr = _fails(kube, "create", "-f", "-", manifest=manifest.replace("tier: 1", "t: a"))
    assert stderr.endswith(
        "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of "
        "type int32"
    )
    fine = manifest.replace("tier: 1", "t: a").replace("true", "http")
    assert "created" in kube.kubectl("create", "-f", "-", input=fine).stdout


def test_warn_stores_without_the_field_and_says_so(kube: SandboxProcess) -> None:
    manifest = _deployment("warned", container=", imagePullPolice: Always")
    result = kube.kubectl("apply", "--validate=warn", "-f", "-", input=manifest)
    assert result.stderr == (
        'Warning: unknown field "spec.template.spec.containers[0].imagePullPolice"\n'
    )
    assert result.stdout == "deployment.apps/warned created\n"
    stored = kube.kubectl(
        "-n", NS, "get", "deploy", "warned", "-o", "jsonpath={.spec.template.spec.containers[0]}"
    ).stdout
    assert "imagePullPolice" not in stored and json.loads(stored)["image"] == "busybox"


def test_ignore_stores_without_the_field_silently(kube: SandboxProcess) -> None:
    manifest = _deployment("ignored", container=", imagePullPolice: Always")
    result = kube.kubectl("create", "--validate=false", "-f", "-", input=manifest)
    assert (result.returncode, result.stderr) == (0, "")
    assert "imagePullPolice" not in json.dumps(_get(kube, "deploy", "ignored"))


def test_replace_decodes_as_create_does(kube: SandboxProcess) -> None:
    kube.kubectl("apply", "-f", "-", input=_deployment("replaced"))
    stderr = _fails(
        kube, "replace", "-f", "-", manifest=_deployment("replaced", container=", foo: 1")
    )
    assert stderr == (
        'Error from server (BadRequest): error when replacing "STDIN": Deployment in version '
        '"v1" cannot be handled as a Deployment: strict decoding error: unknown field '
        '"spec.template.spec.containers[0].foo"'
    )


def test_server_side_apply_refuses_in_the_field_managers_words(kube: SandboxProcess) -> None:
    stderr = _fails(
        kube,
        "apply",
        "--server-side",
        "-f",
        "-",
        manifest=_deployment("ssa", container=", imagePullPolice: Always"),
    )
    assert stderr == (
        "Error from server: failed to create typed patch object (decoding/ssa; apps/v1, "
        'Kind=Deployment): .spec.template.spec.containers[name="c"].imagePullPolice: field not '
        "declared in schema"
    )
    stderr = _fails(kube, "apply", "--server-side", "-f", "-", manifest=_deployment("ssa", '"two"'))
    assert stderr == (
        "Error from server: failed to create typed patch object (decoding/ssa; apps/v1, "
        "Kind=Deployment): .spec.replicas: expected numeric (int or float), got string"
    )
    for dry_run in ([], ["--dry-run=server"]):
        assert kube.kubectl(
            "apply", "--server-side", *dry_run, "-f", "-", input=_deployment("ssa")
        ).stdout.startswith("deployment.apps/ssa serverside-applied")


def test_client_side_apply_to_an_existing_object_refuses_the_patch(
    kube: SandboxProcess,
) -> None:
    kube.kubectl("apply", "-f", "-", input=_deployment("csa"))
    stderr = _fails(
        kube, "apply", "-f", "-", manifest=_deployment("csa", container=", imagePullPolice: A")
    )
    assert stderr.startswith(
        'The request is invalid: patch: Invalid value: "map[metadata:map[annotations:map['
        "kubectl.kubernetes.io/last-applied-configuration:"
    )
    assert stderr.endswith(
        '": strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolice"'
    )
    stderr = _fails(kube, "apply", "-f", "-", manifest=_deployment("csa", '"two"'))
    assert stderr.endswith('": unrecognized type: int32')
    assert _get(kube, "deploy", "csa")["spec"]["replicas"] == 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("patch_type", "patch", "ending"),
    [
        (
            "merge",
            '{"spec":{"replicas":"two"}}',
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of "
            "type int32",
        ),
        (
            "json",
            '[{"op":"replace","path":"/spec/replicas","value":"two"}]',
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of "
            "type int32",
        ),
        (
            "merge",
            '{"metadata":{"labels":{"n":1}}}',
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of "
            "type string",
        ),
    ],
)
def test_a_json_or_merge_patch_with_a_badly_typed_result(
    kube: SandboxProcess, patch_type: str, patch: str, ending: str
) -> None:
    kube.kubectl("apply", "-f", "-", input=_deployment("patched"))
    stderr = _fails(kube, "-n", NS, "patch", "deploy", "patched", "--type", patch_type, "-p", patch)
    # The object is quoted as Go encodes a map: sorted keys, no spaces.
    assert stderr.startswith(
        'The request is invalid: patch: Invalid value: "{\\"apiVersion\\":\\"apps/v1\\",'
        '\\"kind\\":\\"Deployment\\",\\"metadata\\":{'
    )
    assert stderr.endswith(f'": {ending}')


@pytest.mark.parametrize(
    ("patch", "error"),
    [
        ('{"spec":{"replicas":"two"}}', "unrecognized type: int32"),
        ('{"metadata":{"labels":{"n":1}}}', "cannot convert int64 to string"),
        ('{"spec":{"paused":"yes"}}', "unrecognized type: bool"),
        (
            '{"spec":{"template":{"spec":{"containers":{"name":"c"}}}}}',
            "cannot restore slice from map",
        ),
    ],
)
def test_a_strategic_patch_with_a_badly_typed_result(
    kube: SandboxProcess, patch: str, error: str
) -> None:
    kube.kubectl("apply", "-f", "-", input=_deployment("smp"))
    stderr = _fails(kube, "-n", NS, "patch", "deploy", "smp", "-p", patch)
    shown = decoding.go_print(json.loads(patch))
    assert stderr == f"The request is invalid: patch: Invalid value: {go_quote(shown)}: {error}"


def test_kubectl_patch_warns_of_unknown_fields(kube: SandboxProcess) -> None:
    """kubectl patch sends no fieldValidation: the server's default, Warn, drops and says."""
    kube.kubectl("apply", "-f", "-", input=_deployment("pw"))
    for patch_type, patch in [
        ("merge", '{"spec":{"foo":1}}'),
        ("strategic", '{"spec":{"foo":1}}'),
        ("json", '[{"op":"add","path":"/spec/foo","value":1}]'),
    ]:
        result = kube.kubectl("-n", NS, "patch", "deploy", "pw", "--type", patch_type, "-p", patch)
        assert result.stderr == 'Warning: unknown field "spec.foo"\n'
        assert result.stdout == "deployment.apps/pw patched (no change)\n"


def test_json_patch_operations_are_decoded_strictly_too(kube: SandboxProcess) -> None:
    kube.kubectl("apply", "-f", "-", input=_deployment("ops"))
    kube.kubectl("-n", NS, "label", "deploy", "ops", "x=y")
    remove = '[{"op":"remove","path":"/metadata/labels/x","vaule":1}]'
    result = kube.kubectl("-n", NS, "patch", "deploy", "ops", "--type", "json", "-p", remove)
    assert result.stderr == 'Warning: json patch unknown field "[0].vaule"\n'
    assert "labels" not in _get(kube, "deploy", "ops")["metadata"]  # type: ignore[operator]
    _, strict = decoding.load_patch(
        b'[{"op":"add","op":"add","path":"/a","value":1,"Value":2}]',
        "application/json-patch+json",
        decoding.STRICT,
    )
    assert strict == [
        'json patch duplicate field "[0].op"',
        'json patch unknown field "[0].Value"',
    ]
    assert decoding.load_patch(remove.encode(), "application/json-patch+json", "Ignore")[1] == []


def test_malformed_patch_bodies(kube: SandboxProcess) -> None:
    kube.kubectl("apply", "-f", "-", input=_deployment("mal"))
    patch = ["-n", NS, "patch", "deploy", "mal"]
    assert _fails(kube, *patch, "--type", "json", "-p", '{"op":"add"}') == (
        "Error from server (BadRequest): error decoding patch: json: cannot unmarshal object "
        "into Go value of type []handlers.jsonPatchOp"
    )


def test_a_failed_edit_is_reopened_with_the_reason(kube: SandboxProcess, tmp_path: Path) -> None:
    kube.kubectl("apply", "-f", "-", input=_deployment("edited"))
    reopened = tmp_path / "reopened.yaml"
    editor = tmp_path / "editor.sh"
    editor.write_text(
        "#!/bin/sh\n"
        f'if grep -q "was not valid" "$1"; then cp "$1" {reopened}; exit 0; fi\n'
        "sed -i '0,/^  replicas: 1$/s//  replicas: two/' \"$1\"\n"
    )
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    result = subprocess.run(
        ["kubectl", "-n", NS, "edit", "deploy", "edited"],
        env=dict(kube.env, EDITOR=str(editor), TMPDIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith('error: deployments.apps "edited" is invalid\n')
    reason = [line for line in reopened.read_text().splitlines() if line.startswith("# *")]
    assert reason == [
        '# * patch: Invalid value: "map[spec:map[replicas:two]]": unrecognized type: int32'
    ]


def test_duplicate_fields_in_a_raw_request(kube: SandboxProcess, tmp_path: Path) -> None:
    body = tmp_path / "dup.json"
    body.write_text(
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},'
        '"data":{"a":"1","a":"2"},"extra":{}}'
    )
    path = f"/api/v1/namespaces/{NS}/configmaps"
    stderr = _fails(kube, "create", "--raw", f"{path}?fieldValidation=Strict", "-f", str(body))
    assert stderr == (
        'Error from server (BadRequest): ConfigMap in version "v1" cannot be handled as a '
        'ConfigMap: strict decoding error: duplicate field "data.a", unknown field "extra"'
    )
    result = kube.kubectl("create", "--raw", path, "-f", str(body))
    assert result.stderr == 'Warning: duplicate field "data.a"\nWarning: unknown field "extra"\n'
    stored = json.loads(result.stdout)
    assert stored["data"] == {"a": "2"} and "extra" not in stored


def test_an_apply_patch_with_a_duplicated_key(kube: SandboxProcess) -> None:
    url = f"{kube.url}/api/v1/namespaces/{NS}/configmaps/yamldup"
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yamldup\ndata:\n  a: x\n  a: y\n"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    params = {"fieldManager": "test", "fieldValidation": "Strict"}
    refused = httpx.patch(url, content=body, headers=headers, params=params)
    assert (refused.status_code, refused.json()["message"]) == (
        400,
        "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n"
        '  line 7: key "a" already set in map',
    )
    warned = httpx.patch(url, content=body, headers=headers, params={"fieldManager": "test"})
    assert warned.status_code == 201
    assert warned.headers.get_list("warning") == ['299 - "line 7: key \\"a\\" already set in map"']
    assert warned.json()["data"] == {"a": "y"}


def test_an_unknown_field_validation_value_is_refused(kube: SandboxProcess) -> None:
    response = httpx.post(
        f"{kube.url}/api/v1/namespaces/{NS}/configmaps",
        params={"fieldValidation": "Loose"},
        json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "loose"}},
    )
    assert (response.status_code, response.json()["message"]) == (
        422,
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loose": '
        'supported values: "", "Ignore", "Strict", "Warn"',
    )


# ----------------------------------------------------------------- the decoder


def _decode(plural: str, obj: object, directive: str = decoding.STRICT) -> object:
    return decoding.decode_object(BY_PLURAL[plural], json.dumps(obj).encode(), directive)


def test_every_served_kind_has_a_struct_shape() -> None:
    plurals = [r.plural for r in BY_PLURAL.values() if not r.kind.endswith("Review")]
    shapes = {plural: decoding.kind_shape(plural) for plural in plurals}
    assert {plural: shape.kind for plural, shape in shapes.items()} == dict.fromkeys(
        plurals, "struct"
    )
    assert shapes["deployments"].go == "v1.Deployment"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("abc", QUANTITY),
        ("", QUANTITY),
        ("1x", QUANTITY),
        (True, QUANTITY),
        ({}, QUANTITY),
        ("1kk", "unable to parse quantity's suffix"),
        ("100m", None),
        ("1Gi", None),
        ("1.5", None),
        ("1e3", None),
        (" 2 ", None),
        (2, None),
        (0.5, None),
    ],
)
def test_quantities_as_parse_quantity_reads_them(value: object, problem: str | None) -> None:
    assert quantity.parse_error(value) == problem


def test_the_first_type_error_is_reported_unless_an_unmarshaler_fails_later() -> None:
    obj = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "p"},
        "spec": {
            "priority": "high",
            "containers": [{"name": "c", "resources": {"limits": {"cpu": "abc"}}}],
        },
    }
    with pytest.raises(ApiError) as caught:
        _decode("pods", obj)
    # Go returns an UnmarshalJSON's error at once, over the type error it had saved.
    assert caught.value.message == f'Pod in version "v1" cannot be handled as a Pod: {QUANTITY}'
    del obj["spec"]["containers"]  # type: ignore[attr-defined]
    with pytest.raises(ApiError) as caught:
        _decode("pods", obj)
    assert caught.value.message.endswith(
        "json: cannot unmarshal string into Go struct field PodSpec.spec.priority of type int32"
    )


def test_warn_collects_one_warning_per_field_and_drops_them() -> None:
    obj = {"kind": "ConfigMap", "metadata": {"name": "c", "nick": "x"}, "dta": {"a": "b"}}
    with decoding.collecting_warnings() as warnings:
        decoded = _decode("configmaps", obj, decoding.WARN)
    assert warnings == ['unknown field "metadata.nick"', 'unknown field "dta"']
    assert decoded == {"kind": "ConfigMap", "metadata": {"name": "c"}}
    with decoding.collecting_warnings() as warnings:
        assert _decode("configmaps", obj, decoding.IGNORE) == decoded
    assert warnings == []


def test_preserved_unknown_fields_and_raw_fields_are_kept() -> None:
    managed = [{"manager": "m", "operation": "Apply", "fieldsV1": {"f:data": {"f:a": {}}}}]
    obj = {"kind": "ConfigMap", "metadata": {"name": "c", "managedFields": managed}}
    assert _decode("configmaps", obj) == obj


def test_go_syntax_errors_for_bodies_that_are_not_json() -> None:
    cases = {
        b'{"a":': "unexpected end of JSON input",
        b'{"a" 1}': "invalid character '1' after object key",
        b'{"a":1 "b"}': "invalid character '\"' after object key:value pair",
        b"[1 2]": "invalid character '2' after array element",
        b"{x}": "invalid character 'x' looking for beginning of object key string",
        b"{} {}": "invalid character '{' after top-level value",
    }
    found = {}
    for body in cases:
        try:
            decoding.load_json(body)
        except ValueError as error:
            found[body] = str(error)
    assert found == cases


def test_maps_print_as_go_prints_them() -> None:
    value = {"b": [1, 1.5, 1e6, None, True, "x y"], "a": {"c": 1e-5}}
    assert decoding.go_print(value) == "map[a:map[c:1e-05] b:[1 1.5 1e+06 <nil> true x y]]"
    assert decoding.go_json({"b": "<&>", "a": 1}) == '{"a":1,"b":"\\u003c\\u0026\\u003e"}'


# ------------------------------------------------------------------ controllers


def test_the_deployment_controller_leaves_a_badly_typed_deployment_alone(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Stored before the API refused such things (or written to the store directly)."""
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bad", "namespace": NAMESPACE, "uid": "u", "generation": 1},
        "spec": {
            "replicas": "two",
            "selector": {"matchLabels": {"app": "bad"}},
            "template": {
                "metadata": {"labels": {"app": "bad"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    with caplog.at_level(logging.WARNING):
        cluster.store.create("deployments", bad)
        cluster.wait_for(
            lambda: "is not a valid Deployment" in caplog.text, "the controller's warning"
        )
    assert "Traceback" not in caplog.text and "failed on" not in caplog.text
    assert cluster.store.list("replicasets", NAMESPACE)[0] == []
