"""The Service proxy forwards to the service's endpoints, as kube-apiserver's does: the ready
addresses the endpoints controller lists (so never a Terminating pod), at the port the
service port names."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver.proxy import service_upstream
from sandbox.controllers.endpoints import EndpointsController
from sandbox.resources import NODE_NAME
from tests.sandbox.unit import NAMESPACE, Bench, bench, ready

Obj = dict[str, Any]


def _pod(unit: Bench, name: str, ip: str, *, is_ready: bool = True) -> None:
    unit.create(
        "pods",
        {
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {
                "nodeName": NODE_NAME,
                "containers": [
                    {
                        "name": "web",
                        "image": "lab:1",
                        "ports": [{"name": "http", "containerPort": 8000}],
                    }
                ],
            },
        },
    )
    unit.set_status("pods", name, **ready(is_ready), podIP=ip, podIPs=[{"ip": ip}])


@pytest.fixture
def unit() -> Bench:
    unit = bench()
    unit.create(
        "services",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    )
    return unit


def _sync(unit: Bench) -> None:
    EndpointsController(unit.ctx).reconcile(NAMESPACE, "web")


def test_requests_go_to_ready_endpoints_only(unit: Bench) -> None:
    _pod(unit, "old", "127.1.0.2")
    _pod(unit, "new", "127.1.0.3")
    _pod(unit, "starting", "127.1.0.4", is_ready=False)
    unit.store.mutate(
        "pods",
        NAMESPACE,
        "old",
        lambda pod: pod["metadata"].update(deletionTimestamp="2026-12-02T12:00:00Z"),
    )
    _sync(unit)
    upstreams = {service_upstream(unit.store, NAMESPACE, "web:80") for _ in range(6)}
    assert upstreams == {"http://127.1.0.3:8000"}


def test_no_ready_endpoint_is_a_503(unit: Bench) -> None:
    _pod(unit, "starting", "127.1.0.4", is_ready=False)
    _sync(unit)
    with pytest.raises(ApiError) as refused:
        service_upstream(unit.store, NAMESPACE, "web")
    assert (refused.value.code, refused.value.message) == (
        503,
        'no endpoints available for service "web"',
    )


def test_a_service_without_a_selector_uses_the_endpoints_its_owner_wrote() -> None:
    unit = bench()
    unit.create("services", {"metadata": {"name": "db"}, "spec": {"ports": [{"port": 5432}]}})
    unit.create(
        "endpoints",
        {
            "metadata": {"name": "db"},
            "subsets": [{"addresses": [{"ip": "127.1.0.9"}], "ports": [{"port": 15432}]}],
        },
    )
    assert service_upstream(unit.store, NAMESPACE, "db") == "http://127.1.0.9:15432"
