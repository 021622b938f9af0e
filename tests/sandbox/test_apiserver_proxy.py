"""The Service proxy picks among the service's endpoints: Ready pods that are not Terminating."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver.proxy import service_upstream
from sandbox.storage.store import Store

Obj = dict[str, Any]


def _pod(name: str, ip: str, *, ready: bool = True) -> Obj:
    meta: Obj = {"name": name, "namespace": "lab", "labels": {"app": "web"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 8000}]}]},
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _terminating(store: Store, pod: Obj) -> None:
    """Created, then marked as DELETE marks a pod with a grace period."""
    store.create("pods", pod)

    def mark(obj: Obj) -> None:
        obj["metadata"]["deletionTimestamp"] = "2026-12-02T12:00:00Z"

    store.mutate("pods", "lab", pod["metadata"]["name"], mark)


@pytest.fixture
def store() -> Store:
    store = Store(None)
    store.create(
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "lab"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]},
        },
    )
    return store


def test_a_terminating_pod_still_ready_gets_no_requests(store: Store) -> None:
    _terminating(store, _pod("old", "127.1.0.2"))
    store.create("pods", _pod("new", "127.1.0.3"))
    store.create("pods", _pod("starting", "127.1.0.4", ready=False))
    assert {service_upstream(store, "lab", "web:80") for _ in range(6)} == {"http://127.1.0.3:8000"}


def test_no_endpoint_left_is_a_503(store: Store) -> None:
    _terminating(store, _pod("old", "127.1.0.2"))
    with pytest.raises(ApiError) as refused:
        service_upstream(store, "lab", "web")
    assert (refused.value.code, refused.value.message) == (
        503,
        'no endpoints available for service "web"',
    )
