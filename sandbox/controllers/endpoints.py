"""Services -> Endpoints: the ready (and not-ready) pods that match each service's selector."""

from __future__ import annotations

from collections.abc import Iterable

from sandbox.apimachinery.selectors import match_labels
from sandbox.controllers.base import (
    Controller,
    Key,
    Obj,
    is_pod_active,
    is_pod_ready,
    is_pod_running_or_pending,
    owner_reference,
    random_suffix,
)
from sandbox.resources import NODE_NAME


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
        # a Terminating pod leaves the Endpoints at once (unless the service publishes
        # not-ready addresses) but stays in its slice, terminating (ShouldPodBeInEndpoints
        # with includeTerminating = publishNotReadyAddresses / true); a pod without an
        # address yet is in neither
        candidates = [
            pod
            for pod in pods
            if match_labels({"matchLabels": selector}, pod["metadata"].get("labels"))
            and is_pod_running_or_pending(pod)
            and (pod.get("spec") or {}).get("nodeName")
            and _pod_ip(pod)
        ]
        publish = bool(service["spec"].get("publishNotReadyAddresses"))
        matching = [pod for pod in candidates if publish or is_pod_active(pod)]
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
            self.create("endpoints", wanted)
        elif existing.get("subsets") != subsets:

            def replace(endpoints: Obj) -> None:
                endpoints["subsets"] = subsets

            self.store.mutate("endpoints", namespace, name, replace)
        self._sync_slices(service, candidates)
        return None

    def _sync_slices(self, service: Obj, pods: list[Obj]) -> None:
        """The EndpointSlices (discovery.k8s.io/v1) that newer clients read instead."""
        groups = _slice_groups(service, pods) or [{"endpoints": []}]
        existing = sorted(
            self.owned("endpointslices", service), key=lambda s: s["metadata"]["name"]
        )
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        for index, body in enumerate(groups):
            body = {"addressType": "IPv4", **body}
            if index < len(existing):

                def replace(obj: Obj, body: Obj = body) -> None:
                    for key in ("endpoints", "ports"):
                        obj.pop(key, None)
                    obj.update(body)

                self.store.mutate(
                    "endpointslices", namespace, existing[index]["metadata"]["name"], replace
                )
                continue
            labels = {
                **(service["metadata"].get("labels") or {}),
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            }
            self.create(
                "endpointslices",
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": f"{name}-{random_suffix()}",
                        "generateName": f"{name}-",
                        "namespace": namespace,
                        "labels": labels,
                        "ownerReferences": [owner_reference(service)],
                    },
                    **body,
                },
            )
        for extra in existing[len(groups) :]:
            self.store.delete("endpointslices", namespace, extra["metadata"]["name"])


def _target_port(port: Obj, pod: Obj) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or str(target).isdigit():
        return int(str(target))
    for container in pod["spec"].get("containers") or []:
        for container_port in container.get("ports") or []:
            if container_port.get("name") == target:
                return int(container_port["containerPort"])
    return None


def _pod_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The service's ports as they land on ``pod`` (named target ports resolved)."""
    ports = []
    for port in service["spec"].get("ports") or []:
        number = _target_port(port, pod)
        if number is None:
            continue
        entry: Obj = {"port": number, "protocol": port.get("protocol", "TCP")}
        if port.get("name"):
            entry["name"] = port["name"]
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        ports.append(entry)
    return ports


def _pod_ip(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("podIP") or "")


def _target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def _slice_groups(service: Obj, pods: list[Obj]) -> list[Obj]:
    """Slice bodies (endpoints + ports), one per distinct port set."""
    groups: dict[str, Obj] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        # a slice's port name is a pointer the controller always sets: "" when unnamed
        ports = [{"name": "", **port} for port in _pod_ports(service, pod)]
        if not ports:
            continue
        group = groups.setdefault(repr(ports), {"endpoints": [], "ports": ports})
        # endpointslice podToEndpoint: a terminating pod may still serve but is never ready
        serving = is_pod_ready(pod)
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        ready = publish or (serving and not terminating)
        group["endpoints"].append(
            {
                "addresses": [_pod_ip(pod)],
                "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
                "nodeName": NODE_NAME,
                "targetRef": _target_ref(pod),
            }
        )
    return list(groups.values())


def _subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """One subset per distinct port set, as the endpoints controller packs them (RepackSubsets:
    addresses in order of IP, then uid)."""
    groups: dict[str, Obj] = {}
    publish = bool(service["spec"].get("publishNotReadyAddresses"))
    for pod in sorted(pods, key=lambda p: (_pod_ip(p), p["metadata"]["uid"])):
        ports = _pod_ports(service, pod)
        if not ports:
            continue
        subset = groups.setdefault(
            repr(ports), {"addresses": [], "notReadyAddresses": [], "ports": ports}
        )
        address = {"ip": _pod_ip(pod), "nodeName": NODE_NAME, "targetRef": _target_ref(pod)}
        ready = publish or is_pod_ready(pod)  # addEndpointSubset's tolerateUnreadyEndpoints
        subset["addresses" if ready else "notReadyAddresses"].append(address)
    return [{key: value for key, value in s.items() if value} for s in groups.values()]
