"""The official kubernetes Python client against a running sandbox."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client, config, watch

from sandbox.testing import SandboxProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api(shared_sandbox: SandboxProcess) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(shared_sandbox.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        core.delete_namespace(name)


def wait_for(probe: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_list_then_watch_from_the_list_version(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}})
    listed = core.list_namespaced_config_map(namespace)
    assert [c.metadata.name for c in listed.items] == ["before"]

    def write_later() -> None:
        time.sleep(0.3)
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "after"}})
        core.patch_namespaced_config_map("after", namespace, {"data": {"k": "v"}})
        core.delete_namespaced_config_map("after", namespace)

    writer = threading.Thread(target=write_later)
    writer.start()
    seen = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=3,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            break
    writer.join()
    assert seen == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "after")]


def test_watch_reports_objects_entering_and_leaving_a_selector(
    api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    version = core.list_namespaced_config_map(namespace).metadata.resource_version

    def relabel(tier: str) -> None:
        core.patch_namespaced_config_map("c", namespace, {"metadata": {"labels": {"t": tier}}})

    for tier in ("api", "api", "db", "api"):
        relabel(tier)
    seen = [
        event["type"]
        for event in watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            label_selector="t=api",
            resource_version=version,
            timeout_seconds=1,
        )
    ]
    assert seen == ["ADDED", "DELETED", "ADDED"]


def test_watch_sends_bookmarks_when_asked(shared_sandbox: SandboxProcess, namespace: str) -> None:
    url = f"{shared_sandbox.url}/api/v1/namespaces/{namespace}/configmaps"
    version = httpx.get(url).json()["metadata"]["resourceVersion"]
    params = {
        "watch": "true",
        "resourceVersion": version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "6",
    }
    with httpx.stream("GET", url, params=params, timeout=10) as response:
        first = json.loads(next(response.iter_lines()))
    assert first["type"] == "BOOKMARK"
    assert int(first["object"]["metadata"]["resourceVersion"]) >= int(version)


def test_create_defaults_and_errors(api: client.ApiClient, namespace: str) -> None:
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    service = core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "svc"},
            "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]},
        },
    )
    assert service.spec.cluster_ip.startswith("10.")
    assert 30000 <= service.spec.ports[0].node_port <= 32767
    assert service.spec.ports[0].target_port == 80
    job = batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "job"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "i", "command": ["true"]}],
                    }
                }
            },
        },
    )
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels["controller-uid"] == uid
    assert job.status is not None
    with pytest.raises(client.ApiException) as conflict:
        again = {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 81}]}}
        core.create_namespaced_service(namespace, again)
    assert conflict.value.status == 409
    # Validation comes first, as on a real server: an invalid duplicate is a 422.
    with pytest.raises(client.ApiException) as invalid_duplicate:
        core.create_namespaced_service(namespace, {"metadata": {"name": "svc"}, "spec": {}})
    assert invalid_duplicate.value.status == 422
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_config_map("nope", namespace)
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["reason"] == "NotFound"
    with pytest.raises(client.ApiException) as invalid:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "Bad_Name"}})
    assert invalid.value.status == 422


def test_update_with_a_stale_version_is_409(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    core.patch_namespaced_config_map("c", namespace, {"data": {"a": "1"}})
    first.data = {"b": "2"}
    with pytest.raises(client.ApiException) as stale:
        core.replace_namespaced_config_map("c", namespace, first)
    assert stale.value.status == 409


def test_patch_in_all_four_types(
    api: client.ApiClient, shared_sandbox: SandboxProcess, namespace: str
) -> None:
    apps = client.AppsV1Api(api)
    body = {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}
                    ]
                },
            },
        },
    }
    apps.create_namespaced_deployment(namespace, body)
    # The client sends a dict body as a strategic merge patch: env merges by name.
    apps.patch_namespaced_deployment(
        "web",
        namespace,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]}
                }
            }
        },
    )
    url = f"{shared_sandbox.url}/apis/apps/v1/namespaces/{namespace}/deployments/web"
    merge = httpx.patch(
        url,
        json={"metadata": {"labels": {"extra": "yes"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert merge.status_code == 200
    json_patch = httpx.patch(
        url,
        content=json.dumps(
            [
                {"op": "replace", "path": "/spec/replicas", "value": 0},
                {"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}},
            ]
        ),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert json_patch.status_code == 200
    applied = httpx.patch(
        url,
        params={"fieldManager": "test"},
        content=json.dumps(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"replicas": 0, "minReadySeconds": 3},
            }
        ),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert applied.status_code == 200
    deployment = apps.read_namespaced_deployment("web", namespace)
    env = deployment.spec.template.spec.containers[0].env
    assert [(e.name, e.value) for e in env] == [("A", "1"), ("B", "2")]
    assert deployment.metadata.labels == {"app": "web", "extra": "yes"}
    assert deployment.metadata.annotations["note"] == "x"
    assert deployment.spec.min_ready_seconds == 3
    assert deployment.metadata.generation == 3
    bad = httpx.patch(url, content="{}", headers={"Content-Type": "application/xml"})
    assert bad.status_code == 415


def test_server_side_apply_creates_when_absent(
    shared_sandbox: SandboxProcess, namespace: str
) -> None:
    url = f"{shared_sandbox.url}/api/v1/namespaces/{namespace}/configmaps/applied"
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: '1'\n"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    created = httpx.patch(url, params={"fieldManager": "me"}, content=manifest, headers=headers)
    assert created.status_code == 201
    again = httpx.patch(
        url,
        params={"fieldManager": "me"},
        content=manifest.replace("a: '1'", "b: '2'"),
        headers=headers,
    )
    assert again.json()["data"] == {"b": "2"}
    assert [e["manager"] for e in again.json()["metadata"]["managedFields"]] == ["me"]


def test_dry_run_writes_nothing(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "real"}, "data": {"a": "1"}})
    patched = core.patch_namespaced_config_map(
        "real", namespace, {"data": {"a": "2"}}, dry_run="All"
    )
    assert patched.data == {"a": "2"}
    core.delete_namespaced_config_map("real", namespace, dry_run="All")
    names = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert names == ["real"]
    assert core.read_namespaced_config_map("real", namespace).data == {"a": "1"}


def test_delete_cascades_or_orphans(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    for propagation, survives in (("Background", False), ("Orphan", True)):
        owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": "dependent", "ownerReferences": [ref]}}
        )
        core.delete_namespaced_config_map("owner", namespace, propagation_policy=propagation)
        names = {c.metadata.name for c in core.list_namespaced_config_map(namespace).items}
        assert ("dependent" in names) == survives
        if survives:
            orphan = core.read_namespaced_config_map("dependent", namespace)
            assert orphan.metadata.owner_references is None


def test_selectors_on_list(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    for name, tier in (("a", "api"), ("b", "db")):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "labels": {"tier": tier}}}
        )
    by_label = core.list_namespaced_config_map(namespace, label_selector="tier in (db)")
    by_field = core.list_namespaced_config_map(namespace, field_selector="metadata.name=a")
    assert [c.metadata.name for c in by_label.items] == ["b"]
    assert [c.metadata.name for c in by_field.items] == ["a"]
    with pytest.raises(client.ApiException) as bad:
        core.list_namespaced_config_map(namespace, label_selector="tier in (")
    assert bad.value.status == 400


ECHO_SERVER = """
import http.server, os
class Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"echo " + self.path.encode() + b" " + body)
    def do_GET(self):
        self.do_POST()
http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Echo).serve_forever()
"""


def test_service_proxy_forwards_to_a_ready_pod(
    api: client.ApiClient, shared_sandbox: SandboxProcess, namespace: str
) -> None:
    shared_sandbox.load_image("python:3.12")
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "echo", "labels": {"app": "echo"}},
            "spec": {
                "containers": [
                    {
                        "name": "echo",
                        "image": "python:3.12",
                        "command": ["python", "-c", ECHO_SERVER],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1},
                    }
                ]
            },
        },
    )
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "echo"},
            "spec": {
                "selector": {"app": "echo"},
                "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
            },
        },
    )
    wait_for(
        lambda: any(
            c.type == "Ready" and c.status == "True"
            for c in core.read_namespaced_pod("echo", namespace).status.conditions or []
        ),
        "the echo pod to be ready",
    )
    answer = core.connect_post_namespaced_service_proxy_with_path(
        "echo:web", namespace, "hello", path2="hello", _preload_content=False
    )
    assert answer.status == 200
    assert answer.data.startswith(b"echo /hello")
    direct = core.connect_get_namespaced_pod_proxy_with_path(
        "echo:8080", namespace, "direct", path2="direct", _preload_content=False
    )
    assert direct.data.startswith(b"echo /direct")
