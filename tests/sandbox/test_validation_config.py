"""ConfigMaps, Secrets and request sizes refused as kube-apiserver 1.32 refuses them, checked
with the real kubectl's printed message."""

from __future__ import annotations

import json

import pytest

from sandbox.testing import SandboxProcess
from tests.sandbox.refusals import accepted, refused

NS = "v-config"
KEY_RULE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
IMMUTABLE = "Forbidden: field is immutable when `immutable` is set"


@pytest.fixture(scope="module")
def cluster(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.kubectl("create", "namespace", NS)
    return shared_sandbox


def _object(kind: str, name: str, **fields: object) -> str:
    body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": NS}}
    return json.dumps({**body, **fields})


def test_data_keys_are_config_keys(cluster: SandboxProcess) -> None:
    manifest = _object("ConfigMap", "keys", data={"bad key": "1", "..x": "2"})
    header, *causes = refused(cluster, manifest)
    assert header == 'The ConfigMap "keys" is invalid: '
    # Go ranges over the map in no fixed order: so does the list of causes.
    assert sorted(causes) == [
        "* data[..x]: Invalid value: \"..x\": must not start with '..'",
        f'* data[bad key]: Invalid value: "bad key": {KEY_RULE}',
    ]
    secret = _object("Secret", "keys", stringData={"bad key": "1"})
    assert refused(cluster, secret) == [
        f'The Secret "keys" is invalid: data[bad key]: Invalid value: "bad key": {KEY_RULE}'
    ]


def test_an_immutable_config_map_keeps_its_data(cluster: SandboxProcess) -> None:
    accepted(cluster, _object("ConfigMap", "frozen", immutable=True, data={"a": "1"}))
    assert refused(cluster, _object("ConfigMap", "frozen", immutable=False, data={"a": "2"})) == [
        'The ConfigMap "frozen" is invalid: ',
        f"* immutable: {IMMUTABLE}",
        f"* data: {IMMUTABLE}",
    ]
    accepted(cluster, _object("Secret", "sealed", immutable=True, stringData={"a": "1"}))
    assert refused(cluster, _object("Secret", "sealed", immutable=True, stringData={"a": "2"})) == [
        f'The Secret "sealed" is invalid: data: {IMMUTABLE}'
    ]


def test_a_secrets_type_is_fixed_and_brings_required_keys(cluster: SandboxProcess) -> None:
    accepted(cluster, _object("Secret", "plain", stringData={"a": "x"}))
    basic = _object("Secret", "plain", type="kubernetes.io/basic-auth", stringData={"a": "x"})
    assert refused(cluster, basic) == [
        'The Secret "plain" is invalid: ',
        '* type: Invalid value: "kubernetes.io/basic-auth": field is immutable',
        "* data[username]: Required value",
        "* data[password]: Required value",
    ]
    tls = _object("Secret", "tls", type="kubernetes.io/tls", stringData={"tls.crt": "x"})
    assert refused(cluster, tls) == ['The Secret "tls" is invalid: data[tls.key]: Required value']
    docker = _object(
        "Secret",
        "pull",
        type="kubernetes.io/dockerconfigjson",
        stringData={".dockerconfigjson": "x"},
    )
    assert refused(cluster, docker) == [
        'The Secret "pull" is invalid: data[.dockerconfigjson]: Invalid value: '
        "\"<secret contents redacted>\": invalid character 'x' looking for beginning of value"
    ]


def test_data_over_one_mebibyte_is_too_long(cluster: SandboxProcess) -> None:
    big = "x" * (1024 * 1024 + 1)
    create = ("create", "-f", "-")
    assert refused(cluster, _object("ConfigMap", "big", data={"a": big}), *create) == [
        'The ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes'
    ]
    assert refused(cluster, _object("Secret", "big", stringData={"a": big}), *create) == [
        'The Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes'
    ]
    # kubectl apply keeps the whole object in an annotation, which has its own limit.
    assert refused(cluster, _object("ConfigMap", "big", data={"a": big})) == [
        'The ConfigMap "big" is invalid: ',
        "* metadata.annotations: Too long: may not be more than 262144 bytes",
        "* []: Too long: may not be more than 1048576 bytes",
    ]


def test_a_request_over_three_mebibytes_is_refused_unread(cluster: SandboxProcess) -> None:
    huge = _object("ConfigMap", "huge", data={"a": "x" * (3 * 1024 * 1024)})
    assert refused(cluster, huge, "create", "-f", "-") == [
        'Error from server (RequestEntityTooLarge): error when creating "STDIN": Request entity '
        "too large: limit is 3145728"
    ]
