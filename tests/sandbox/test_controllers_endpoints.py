"""The endpoints controller alone: Endpoints and EndpointSlices from a service's pods."""

from __future__ import annotations

from typing import Any

from sandbox.controllers.endpoints import EndpointsController
from sandbox.resources import NODE_NAME
from tests.sandbox.unit import NAMESPACE, Bench, bench, ready

Obj = dict[str, Any]


def service(name: str = "web", *ports: Obj, **spec: Any) -> Obj:
    return {
        "metadata": {"name": name, "labels": {"team": "ml"}},
        "spec": {
            "selector": {"app": "web"},
            "ports": list(ports) or [{"name": "http", "port": 80, "targetPort": "http"}],
            **spec,
        },
    }


def web_pod(unit: Bench, name: str, *, is_ready: bool = True, port: int = 8000) -> Obj:
    """A pod of the service, bound to the node and running (Ready or not)."""
    container = {
        "name": "web",
        "image": "lab:1",
        "ports": [{"name": "http", "containerPort": port}],
    }
    unit.create(
        "pods",
        {
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [container], "nodeName": NODE_NAME},
        },
    )
    # the kubelet's address for the pod: one per pod, in the order they start
    ip = f"127.1.0.{len(unit.list('pods')) + 1}"
    return unit.set_status("pods", name, **ready(is_ready), podIP=ip, podIPs=[{"ip": ip}])


def target(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": NAMESPACE, "name": meta["name"], "uid": meta["uid"]}


def address(pod: Obj) -> Obj:
    return {"ip": pod["status"]["podIP"], "nodeName": NODE_NAME, "targetRef": target(pod)}


def slices(unit: Bench, name: str = "web") -> list[Obj]:
    return unit.list("endpointslices", labels=f"kubernetes.io/service-name={name}")


def conditions(unit: Bench) -> dict[str, Obj]:
    """Each endpoint's conditions in the service's slices, by pod name."""
    return {
        endpoint["targetRef"]["name"]: endpoint["conditions"]
        for piece in slices(unit)
        for endpoint in piece["endpoints"]
    }


def deleting(unit: Bench, name: str) -> None:
    """Begin the pod's deletion and hold it there, as the kubelet's grace period does."""
    unit.store.mutate("pods", NAMESPACE, name, lambda p: p["metadata"].update(finalizers=["t/h"]))
    unit.store.delete("pods", NAMESPACE, name)


def test_ready_pods_are_addresses_and_unready_ones_not_ready_addresses() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    good = web_pod(unit, "web-a")
    starting = web_pod(unit, "web-b", is_ready=False)
    unit.create("services", service())
    controller.reconcile(NAMESPACE, "web")
    endpoints = unit.get("endpoints", "web") or {}
    assert endpoints["metadata"]["labels"] == {"team": "ml"}
    assert endpoints["subsets"] == [
        {
            "addresses": [address(good)],
            "notReadyAddresses": [address(starting)],
            # the named targetPort resolved to the pod's containerPort
            "ports": [{"port": 8000, "protocol": "TCP", "name": "http"}],
        }
    ]


def test_unbound_and_finished_pods_and_other_labels_are_left_out() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    kept = web_pod(unit, "web-a")
    web_pod(unit, "web-done")
    unit.set_status("pods", "web-done", phase="Succeeded")
    unit.create(
        "pods",
        {
            "metadata": {"name": "web-pending", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "lab:1"}]},
        },
    )
    unit.create(
        "pods",
        {
            "metadata": {"name": "db", "labels": {"app": "db"}},
            "spec": {"containers": [{"name": "db", "image": "lab:1"}], "nodeName": NODE_NAME},
        },
    )
    unit.create("services", service())
    controller.reconcile(NAMESPACE, "web")
    endpoints = unit.get("endpoints", "web") or {}
    assert [a["targetRef"]["name"] for a in endpoints["subsets"][0]["addresses"]] == ["web-a"]
    assert "notReadyAddresses" not in endpoints["subsets"][0]
    assert set(conditions(unit)) == {kept["metadata"]["name"]}


def test_a_terminating_pod_leaves_the_endpoints_but_stays_in_its_slice() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    web_pod(unit, "web-a")
    web_pod(unit, "web-b")
    unit.create("services", service())
    deleting(unit, "web-b")
    controller.reconcile(NAMESPACE, "web")
    endpoints = unit.get("endpoints", "web") or {}
    assert [a["targetRef"]["name"] for a in endpoints["subsets"][0]["addresses"]] == ["web-a"]
    assert conditions(unit) == {
        "web-a": {"ready": True, "serving": True, "terminating": False},
        # still serving while it shuts down, but never ready
        "web-b": {"ready": False, "serving": True, "terminating": True},
    }


def test_publish_not_ready_addresses_lists_every_pod_as_ready() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    starting = web_pod(unit, "web-a", is_ready=False)
    stopping = web_pod(unit, "web-b")
    unit.create("services", service(publishNotReadyAddresses=True))
    deleting(unit, "web-b")
    controller.reconcile(NAMESPACE, "web")
    endpoints = unit.get("endpoints", "web") or {}
    stopping = unit.get("pods", "web-b") or stopping
    assert endpoints["subsets"] == [
        {
            "addresses": [address(starting), address(stopping)],
            "ports": [{"port": 8000, "protocol": "TCP", "name": "http"}],
        }
    ]
    assert conditions(unit) == {
        "web-a": {"ready": True, "serving": False, "terminating": False},
        "web-b": {"ready": True, "serving": True, "terminating": True},
    }


def test_pods_on_different_ports_get_a_subset_and_a_slice_each() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    old = web_pod(unit, "web-a", port=8000)
    new = web_pod(unit, "web-b", port=9000)
    unit.create("services", service())
    controller.reconcile(NAMESPACE, "web")
    subsets = (unit.get("endpoints", "web") or {})["subsets"]
    assert sorted(
        (s["ports"][0]["port"], s["addresses"][0]["targetRef"]["name"]) for s in subsets
    ) == [
        (8000, old["metadata"]["name"]),
        (9000, new["metadata"]["name"]),
    ]
    assert sorted(
        (piece["ports"][0]["port"], [e["targetRef"]["name"] for e in piece["endpoints"]])
        for piece in slices(unit)
    ) == [(8000, ["web-a"]), (9000, ["web-b"])]


def test_a_slice_is_labelled_owned_and_names_every_port() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    pod = web_pod(unit, "web-a")
    svc = unit.create(
        "services",
        service(
            "web",
            {"name": "web", "port": 80, "targetPort": 8000},
            {"name": "grpc", "port": 81, "targetPort": 8000, "appProtocol": "kubernetes.io/h2c"},
        ),
    )
    controller.reconcile(NAMESPACE, "web")
    (piece,) = slices(unit)
    meta = piece["metadata"]
    assert meta["name"].startswith("web-") and meta["generateName"] == "web-"
    assert meta["labels"] == {
        "team": "ml",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    assert meta["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert piece["addressType"] == "IPv4"
    assert piece["ports"] == [
        {"name": "web", "port": 8000, "protocol": "TCP"},
        {"name": "grpc", "port": 8000, "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"},
    ]
    assert piece["endpoints"] == [
        {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": NODE_NAME,
            "targetRef": target(pod),
        }
    ]
    endpoints = unit.get("endpoints", "web") or {}
    assert endpoints["subsets"][0]["ports"] == [
        {"port": 8000, "protocol": "TCP", "name": "web"},
        {"port": 8000, "protocol": "TCP", "name": "grpc", "appProtocol": "kubernetes.io/h2c"},
    ]


def test_an_unnamed_port_is_named_empty_in_the_slice_and_omitted_in_endpoints() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    web_pod(unit, "web-a")
    unit.create("services", service("web", {"port": 80, "targetPort": 8000}))
    controller.reconcile(NAMESPACE, "web")
    (piece,) = slices(unit)
    # a pointer the slice controller always sets, a field Endpoints leaves out when empty
    assert piece["ports"] == [{"name": "", "port": 8000, "protocol": "TCP"}]
    endpoints = unit.get("endpoints", "web") or {}
    assert endpoints["subsets"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]


def test_the_slice_is_kept_and_updated_in_place_and_emptied_when_pods_go() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    web_pod(unit, "web-a")
    unit.create("services", service())
    controller.reconcile(NAMESPACE, "web")
    (first,) = slices(unit)
    unit.set_status("pods", "web-a", **ready(False))
    controller.reconcile(NAMESPACE, "web")
    (second,) = slices(unit)
    assert second["metadata"]["name"] == first["metadata"]["name"]
    assert second["endpoints"][0]["conditions"]["ready"] is False
    unit.store.delete("pods", NAMESPACE, "web-a")
    controller.reconcile(NAMESPACE, "web")
    (emptied,) = slices(unit)
    assert emptied["metadata"]["name"] == first["metadata"]["name"]
    assert emptied["endpoints"] == [] and "ports" not in emptied
    assert (unit.get("endpoints", "web") or {})["subsets"] == []


def test_a_pod_change_queues_the_services_that_select_it() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    unit.create("services", service())
    unit.create("services", service("other", selector={"app": "other"}))
    unit.create("services", {"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 80}]}})
    pod = web_pod(unit, "web-a")
    assert list(controller.keys_for("pods", pod)) == [(NAMESPACE, "web")]


def test_a_selectorless_service_is_left_alone_and_a_deleted_one_loses_its_endpoints() -> None:
    unit = bench()
    controller = EndpointsController(unit.ctx)
    unit.create("services", {"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 80}]}})
    controller.reconcile(NAMESPACE, "manual")
    assert unit.get("endpoints", "manual") is None
    web_pod(unit, "web-a")
    unit.create("services", service())
    controller.reconcile(NAMESPACE, "web")
    assert unit.get("endpoints", "web") is not None
    unit.store.delete("services", NAMESPACE, "web")
    controller.reconcile(NAMESPACE, "web")
    assert unit.get("endpoints", "web") is None
