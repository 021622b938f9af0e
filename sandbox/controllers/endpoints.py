"""Services -> Endpoints: the ready (and not-ready) pods that match each service's selector."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.controllers.base import Controller, Key, Obj, is_pod_active, is_pod_ready
from sandbox.runtime import NODE_NAME
from sandbox.selectors import match_labels


class EndpointsController(Controller):
    resource = "services"
    kind = "Service"
    watches = ("pods",)
    component = "endpoint-controller"

    def keys_for(self, resource: str, obj: Obj) -> Iterable[Key]:
        namespace = obj["metadata"].get("namespace") or ""
        services, _ = self.store.list("services", namespace)
        labels = obj["metadata"].get("labels") or {}
        for service in services:
            selector = (service.get("spec") or {}).get("selector")
            if selector and match_labels({"matchLabels": selector}, labels):
                yield (namespace, service["metadata"]["name"])

    def reconcile(self, namespace: str, name: str) -> float | None:
        service = self.get("services", namespace, name)
        existing = self.get("endpoints", namespace, name)
        if service is None:
            if existing is not None:
                self.store.delete("endpoints", namespace, name)
            return None
        selector = (service.get("spec") or {}).get("selector")
        if not selector:
            return None  # endpoints of selector-less services are the user's to manage
        pods, _ = self.store.list("pods", namespace)
        matching = [
            pod
            for pod in pods
            if match_labels({"matchLabels": selector}, pod["metadata"].get("labels"))
            and is_pod_active(pod)
            and (pod.get("spec") or {}).get("nodeName")
        ]
        subsets = _subsets(service, matching)
        wanted: Obj = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(service["metadata"].get("labels") or {}),
            },
            "subsets": subsets,
        }
        if existing is None:
            self.store.create("endpoints", wanted)
        elif existing.get("subsets") != subsets:

            def replace(endpoints: Obj) -> None:
                endpoints["subsets"] = subsets

            self.store.mutate("endpoints", namespace, name, replace)
        return None


def _target_port(port: Obj, pod: Obj) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or str(target).isdigit():
        return int(str(target))
    for container in pod["spec"].get("containers") or []:
        for container_port in container.get("ports") or []:
            if container_port.get("name") == target:
                return int(container_port["containerPort"])
    return None


def _subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """One subset per distinct port set, as the endpoints controller packs them."""
    groups: dict[tuple[Any, ...], Obj] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        ports = []
        for port in service["spec"].get("ports") or []:
            number = _target_port(port, pod)
            if number is None:
                continue
            entry: Obj = {"port": number, "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)
        if not ports:
            continue
        key = tuple(sorted((p.get("name", ""), p["port"]) for p in ports))
        subset = groups.setdefault(key, {"addresses": [], "notReadyAddresses": [], "ports": ports})
        address = {
            "ip": "127.0.0.1",
            "nodeName": NODE_NAME,
            "targetRef": {
                "kind": "Pod",
                "namespace": pod["metadata"]["namespace"],
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
            },
        }
        subset["addresses" if is_pod_ready(pod) else "notReadyAddresses"].append(address)
    subsets = []
    for subset in groups.values():
        subsets.append({k: v for k, v in subset.items() if v})
    return subsets
