"""The services/NAME[:PORT]/proxy and pods/NAME[:PORT]/proxy subresources.

A service port resolves to one of the ready addresses its Endpoints list for that port (round
robin); a pod port (number or container port name) to that containerPort at the pod's own
address (status.podIP, a loopback address of its own); the request is forwarded with httpx.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from sandbox.apimachinery.errors import ApiError
from sandbox.storage.store import Store

Obj = dict[str, Any]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
    "content-encoding",
}
_round_robin = itertools.count()


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def pod_address(pod: Obj, target: Any) -> tuple[str, int] | None:
    """(podIP, containerPort) of a port number or container port name; None before the pod
    has an address, or for a name none of its containers declares."""
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        return None
    container_port = target
    if isinstance(target, str) and not target.isdigit():
        container_port = next(
            (
                port.get("containerPort")
                for container in (pod.get("spec") or {}).get("containers") or []
                for port in container.get("ports") or []
                if port.get("name") == target
            ),
            None,
        )
    if container_port is None:
        return None
    return ip, int(container_port)


def _split(name_and_port: str) -> tuple[str, str | None]:
    name, _, port = name_and_port.partition(":")
    return name, port or None


def ready_endpoints(endpoints: Obj, port_name: str) -> list[tuple[str, int]]:
    """(ip, port) of each ready address an Endpoints object lists for the service port named
    ``port_name`` ("" for an unnamed one)."""
    return [
        (address["ip"], int(endpoint_port["port"]))
        for subset in endpoints.get("subsets") or []
        for endpoint_port in subset.get("ports") or []
        if (endpoint_port.get("name") or "") == port_name
        for address in subset.get("addresses") or []
    ]


def service_upstream(store: Store, namespace: str, name_and_port: str) -> str:
    """The local base URL that serves a service port: one of the ready addresses of its
    Endpoints, round robin, as kube-apiserver's ResourceLocation picks one (the endpoints
    controller decides who is in them: Ready pods that are not Terminating)."""
    name, port_ref = _split(name_and_port)
    service = store.get("services", namespace, name)
    ports = (service.get("spec") or {}).get("ports") or []
    port = next((p for p in ports if port_ref in (None, str(p.get("port")), p.get("name"))), None)
    if port is None:
        raise ApiError.not_found("services", name_and_port)
    endpoints = store.get("endpoints", namespace, name)
    candidates = ready_endpoints(endpoints, port.get("name") or "")
    if not candidates:
        raise _unavailable(f'no endpoints available for service "{name}"')
    ip, number = candidates[next(_round_robin) % len(candidates)]
    return f"http://{ip}:{number}"


def pod_upstream(store: Store, namespace: str, name_and_port: str) -> str:
    name, port_ref = _split(name_and_port)
    pod = store.get("pods", namespace, name)
    if port_ref is None:
        port_ref = next(
            (
                str(port.get("containerPort"))
                for container in (pod.get("spec") or {}).get("containers") or []
                for port in container.get("ports") or []
            ),
            None,
        )
    address = pod_address(pod, port_ref) if port_ref else None
    if address is None:
        raise _unavailable(f'pod "{name}" has no running process listening on that port')
    return f"http://{address[0]}:{address[1]}"


async def forward(
    client: httpx.AsyncClient,
    base: str,
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send the request on to the pod and return its status, headers and body."""
    url = f"{base}/{path.lstrip('/')}" + (f"?{query}" if query else "")
    sent_headers = [
        (k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() != "authorization"
    ]
    try:
        response = await client.request(method, url, headers=sent_headers, content=body)
    except httpx.HTTPError as error:
        raise _unavailable(f"error trying to reach the pod: {error}") from error
    kept = [(k, v) for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP]
    return response.status_code, kept, response.content
