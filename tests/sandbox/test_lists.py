"""Chunked lists and field selectors, as the real kubectl and the Python client see them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client, config

from sandbox.apimachinery.field import go_quote
from sandbox.apiserver.listing import encode_continue
from sandbox.testing import SandboxProcess, start_sandbox

NS = "lists"
NAMES = [f"cm-{index}" for index in range(7)]
PATH = f"/api/v1/namespaces/{NS}/configmaps"


@pytest.fixture(scope="module")
def cluster(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.kubectl("create", "namespace", NS)
    for name in NAMES:
        shared_sandbox.kubectl("create", "configmap", name, "-n", NS, f"--from-literal=n={name}")
    return shared_sandbox


def _raw(cluster: SandboxProcess, url: str) -> dict:
    return json.loads(cluster.kubectl("get", "--raw", url).stdout)


def _refusal(cluster: SandboxProcess, *args: str) -> str:
    result = cluster.kubectl(*args, check=False)
    assert result.returncode == 1, result
    return result.stderr.strip()


def _token(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_kubectl_chunk_size_pages_through_every_object(cluster: SandboxProcess) -> None:
    result = cluster.kubectl("get", "configmaps", "-n", NS, "--chunk-size=2", "-o", "name", "-v=6")
    assert result.stdout.split() == [f"configmap/{name}" for name in NAMES]
    lists = [line for line in result.stderr.splitlines() if f"GET {cluster.url}{PATH}?" in line]
    assert len(lists) == 4  # 7 objects, 2 a page
    assert all("limit=2" in line for line in lists)
    assert all("continue=" in line for line in lists[1:])


def test_kubectl_get_tables_page_too(cluster: SandboxProcess) -> None:
    table = cluster.kubectl("get", "configmaps", "-n", NS, "--chunk-size=3").stdout
    assert [line.split()[0] for line in table.splitlines()[1:]] == NAMES


def test_a_page_carries_a_continue_token_and_the_remaining_count(cluster: SandboxProcess) -> None:
    first = _raw(cluster, f"{PATH}?limit=3")
    assert [item["metadata"]["name"] for item in first["items"]] == NAMES[:3]
    assert first["metadata"]["remainingItemCount"] == 4
    token = json.loads(base64.urlsafe_b64decode(first["metadata"]["continue"] + "=="))
    version = int(first["metadata"]["resourceVersion"])
    assert token == {"v": "meta.k8s.io/v1", "rv": version, "start": "cm-2\x00"}
    last = _raw(cluster, f"{PATH}?limit=4&continue={first['metadata']['continue']}")
    assert [item["metadata"]["name"] for item in last["items"]] == NAMES[3:]
    assert "continue" not in last["metadata"] and "remainingItemCount" not in last["metadata"]
    # a continue token without a limit: the rest, from the same snapshot
    rest = _raw(cluster, f"{PATH}?continue={first['metadata']['continue']}")
    assert [item["metadata"]["name"] for item in rest["items"]] == NAMES[3:]
    assert rest["metadata"]["resourceVersion"] == str(version)
    # A selector hides how many remain, as etcd's count includes what it would filter out.
    selected = _raw(cluster, f"{PATH}?limit=2&labelSelector=missing!%3Dx")
    assert "continue" in selected["metadata"]
    assert "remainingItemCount" not in selected["metadata"]


def test_later_pages_read_the_first_pages_snapshot(cluster: SandboxProcess) -> None:
    first = _raw(cluster, f"{PATH}?limit=2")
    cluster.kubectl("create", "configmap", "cm-9-late", "-n", NS)
    cluster.kubectl("delete", "configmap", NAMES[4], "-n", NS)
    cluster.kubectl("patch", "configmap", NAMES[5], "-n", NS, "-p", '{"data":{"n":"changed"}}')
    try:
        rest = _raw(cluster, f"{PATH}?continue={first['metadata']['continue']}&limit=100")
        assert [item["metadata"]["name"] for item in rest["items"]] == NAMES[2:]
        assert rest["items"][3]["data"] == {"n": NAMES[5]}
        assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        # a limit with a resourceVersion reads that version too (the legacy exact match)
        then = _raw(
            cluster, f"{PATH}?limit=100&resourceVersion={first['metadata']['resourceVersion']}"
        )
        assert [item["metadata"]["name"] for item in then["items"]] == NAMES
        fresh = _raw(cluster, f"{PATH}?limit=100")
        names = [item["metadata"]["name"] for item in fresh["items"]]
        assert NAMES[4] not in names and "cm-9-late" in names
    finally:
        cluster.kubectl("delete", "configmap", "cm-9-late", "-n", NS)
        cluster.kubectl("create", "configmap", NAMES[4], "-n", NS, f"--from-literal=n={NAMES[4]}")
        cluster.kubectl("patch", "configmap", NAMES[5], "-n", NS, "-p", '{"data":{"n":"cm-5"}}')


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("bogus", "illegal base64 data at input byte 4"),
        ("ab$d", "illegal base64 data at input byte 2"),
        (_token({"v": "meta.k8s.io/v2", "rv": 5, "start": "a"}),
         "server does not recognize this encoded version meta.k8s.io/v2"),
        (_token({"v": "meta.k8s.io/v1", "rv": 0, "start": "a"}),
         "incorrect encoded start resourceVersion (version meta.k8s.io/v1)"),
        (_token({"v": "meta.k8s.io/v1", "rv": 5, "start": ""}),
         "encoded start key empty (version meta.k8s.io/v1)"),
        (_token({"v": "meta.k8s.io/v1", "rv": 5, "start": "../kube-system/x"}),
         "../kube-system/x"),
        (_token({"v": "meta.k8s.io/v1", "rv": "5", "start": "a"}),
         "json: cannot unmarshal string into Go struct field continueToken.rv of type int64"),
        (base64.urlsafe_b64encode(b"[1]").decode().rstrip("="),
         "json: cannot unmarshal array into Go value of type storage.continueToken"),
        (base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v1"').decode().rstrip("="),
         "unexpected end of JSON input"),
    ],
)  # fmt: skip
def test_a_bad_continue_token_is_a_400(cluster: SandboxProcess, token: str, message: str) -> None:
    stderr = _refusal(cluster, "get", "--raw", f"{PATH}?limit=1&continue={token}")
    assert stderr == (
        f"Error from server (BadRequest): invalid continue token: continue key is not valid: "
        f"{message}"
    )


def test_a_continue_token_with_a_resource_version_is_a_400(cluster: SandboxProcess) -> None:
    token = _raw(cluster, f"{PATH}?limit=1")["metadata"]["continue"]
    stderr = _refusal(cluster, "get", "--raw", f"{PATH}?limit=1&continue={token}&resourceVersion=5")
    assert stderr == (
        "Error from server (BadRequest): specifying resource version is not allowed when "
        "using continue"
    )


def test_resource_version_zero_is_served_whole_from_the_cache(cluster: SandboxProcess) -> None:
    listed = _raw(cluster, f"{PATH}?limit=2&resourceVersion=0")
    assert [item["metadata"]["name"] for item in listed["items"]] == NAMES
    assert "continue" not in listed["metadata"]


def test_the_python_client_pages_with_limit(cluster: SandboxProcess) -> None:
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        core = client.CoreV1Api(api)
        names, token, pages = [], None, 0
        while True:
            page = core.list_namespaced_config_map(NS, limit=3, _continue=token)
            pages += 1
            names += [item.metadata.name for item in page.items]
            token = page.metadata._continue
            if not token:
                break
            assert page.metadata.remaining_item_count == len(NAMES) - len(names)
        assert names == NAMES and pages == 3
    finally:
        api.close()


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox restarted after some writes: its history (etcd's, compacted) starts anew."""
    sandbox = start_sandbox(Path(tmp_path_factory.mktemp("lists-restarted")), run_pods=False)
    try:
        sandbox.kubectl("create", "namespace", NS)
        for name in NAMES[:3]:
            sandbox.kubectl("create", "configmap", name, "-n", NS)
        yield sandbox.restart()
    finally:
        sandbox.stop()


def test_a_continue_token_older_than_the_history_is_410_gone(restarted: SandboxProcess) -> None:
    stale = encode_continue("cm-0\x00", 2)
    result = restarted.kubectl("get", "--raw", f"{PATH}?limit=1&continue={stale}", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error from server (Expired): The provided continue parameter is too old to display a "
        "consistent list result. You can start a new list without the continue parameter, or use "
        "the continue token in this response to retrieve the remainder of the results. "
        "Continuing with the provided token results in an inconsistent list - objects that were "
        "created, modified, or deleted between the time the first chunk was returned and now may "
        "show up in the list."
    )


def test_an_expired_status_carries_a_token_for_the_inconsistent_rest(
    restarted: SandboxProcess,
) -> None:
    stale = encode_continue("cm-0\x00", 2)
    response = httpx.get(f"{restarted.url}{PATH}", params={"limit": 1, "continue": stale})
    assert response.status_code == 410
    status = response.json()
    assert status["reason"] == "Expired"
    fresh = status["metadata"]["continue"]
    assert json.loads(base64.urlsafe_b64decode(fresh + "==")) == {
        "v": "meta.k8s.io/v1",
        "rv": -1,
        "start": "cm-0\x00",
    }
    rest = _raw(restarted, f"{PATH}?limit=5&continue={fresh}")
    assert [item["metadata"]["name"] for item in rest["items"]] == NAMES[1:3]


def test_an_exact_resource_version_older_than_the_history_is_410(
    restarted: SandboxProcess,
) -> None:
    result = restarted.kubectl("get", "--raw", f"{PATH}?limit=1&resourceVersion=2", check=False)
    assert result.stderr.strip() == (
        "Error from server (Expired): The resourceVersion for the provided list is too old."
    )


# ---------------------------------------------------------------- field selectors


def _unable(resource: str, selector: str, message: str) -> str:
    """kubectl's wording (cli-runtime's Selector.Visit quotes with %q) around the server's."""
    return (
        f'Error from server (BadRequest): Unable to find "{resource}" that match label selector '
        f'"", field selector {go_quote(selector)}: {message}'
    )


@pytest.mark.parametrize(
    ("kind", "resource", "selector", "message"),
    [
        ("configmaps", "/v1, Resource=configmaps", "spec.foo=x",
         '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"'),
        ("deployments", "apps/v1, Resource=deployments", "status.replicas=1",
         '"status.replicas" is not a known field selector: only "metadata.name", '
         '"metadata.namespace"'),
        ("pods", "/v1, Resource=pods", "spec.foo=x", "field label not supported: spec.foo"),
        ("nodes", "/v1, Resource=nodes", "metadata.namespace=x",
         "field label not supported: metadata.namespace"),
        ("events", "/v1, Resource=events", "message=x", "field label not supported: message"),
        ("jobs", "batch/v1, Resource=jobs", "status.failed=1",
         'field label "status.failed" not supported for Job'),
        ("configmaps", "/v1, Resource=configmaps", "metadata.name",
         "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("configmaps", "/v1, Resource=configmaps", "metadata.name=a=b",
         "invalid field selector: unescaped character in value: 61"),
        ("configmaps", "/v1, Resource=configmaps", "metadata.name=a\\x",
         "invalid field selector: invalid escape sequence: \\x"),
    ],
)  # fmt: skip
def test_an_unsupported_field_selector_is_a_400(
    cluster: SandboxProcess, kind: str, resource: str, selector: str, message: str
) -> None:
    stderr = _refusal(cluster, "get", kind, "-n", NS, "--field-selector", selector)
    assert stderr == _unable(resource, selector, message)


def _names(cluster: SandboxProcess, *args: str) -> list[str]:
    return cluster.kubectl("get", *args, "-o", "jsonpath={.items[*].metadata.name}").stdout.split()


def test_field_selectors_select_on_each_kinds_fields(cluster: SandboxProcess) -> None:
    cluster.kubectl("create", "secret", "generic", "plain", "-n", NS, "--from-literal=a=b")
    cluster.kubectl(
        "create", "secret", "docker-registry", "registry", "-n", NS,
        "--docker-server=r.example", "--docker-username=u", "--docker-password=p",
    )  # fmt: skip
    assert _names(cluster, "secrets", "-n", NS, "--field-selector", "type=Opaque") == ["plain"]
    assert _names(cluster, "secrets", "-n", NS, "--field-selector", "type!=Opaque") == ["registry"]
    phase = f"status.phase==Active,metadata.name={NS}"
    assert _names(cluster, "namespaces", "--field-selector", phase) == [NS]
    assert _names(cluster, "nodes", "--field-selector", "spec.unschedulable=false") != []
    assert _names(cluster, "nodes", "--field-selector", "spec.unschedulable=true") == []
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "held", "namespace": NS},
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                }
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(job))
    assert _names(cluster, "jobs", "-n", NS, "--field-selector", "status.successful=0") == ["held"]
    assert _names(cluster, "jobs", "-n", NS, "--field-selector", "status.successful=1") == []
    # metadata.name and a value with an escaped comma
    assert _names(cluster, "configmaps", "-n", NS, "--field-selector", "metadata.name=cm-1") == [
        "cm-1"
    ]
    assert _names(cluster, "configmaps", "-n", NS, "--field-selector", "metadata.name=a\\,b") == []
