"""The node's address answers on every NodePort, as kube-proxy makes it answer on minikube.

kube-proxy writes iptables rules that send a connection to the node's InternalIP at a
nodePort on to one of the service's ready endpoints, picked at random, and REJECT it (the
client sees "connection refused") while there is none. Here the node is this machine's
loopback, so a listening socket per nodePort on the node's InternalIP does the same: it is
open only while the port has a ready endpoint, and each connection it accepts is piped to a
randomly picked one. Services come and go through the same informer loop as the controllers'.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.apiserver.proxy import ready_endpoints
from sandbox.controllers.base import Controller, Key, key_of
from sandbox.resources import NODE_NAME

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Address = tuple[str, int]

_WITH_NODE_PORTS = ("NodePort", "LoadBalancer")
RETRY_SECONDS = 5.0  # a port held by another process on this machine is tried again
_CHUNK = 65536


class NodePortListener:
    """One nodePort on the node's address; each accepted connection goes to ``pick()``."""

    def __init__(self, address: Address, port_name: str, pick: Callable[[], Address | None]):
        self.address = address
        self.port_name = port_name
        self._pick = pick
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind(address)
            self._socket.listen(64)
        except OSError:
            self._socket.close()
            raise
        self._thread = threading.Thread(
            target=self._accept, name=f"nodeport-{address[1]}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop listening (connections already piped carry on, as conntrack keeps them)."""
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
        self._socket.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream_address = self._pick()
        try:
            if upstream_address is None:
                raise ConnectionRefusedError
            upstream = socket.create_connection(upstream_address, timeout=5)
        except OSError:
            # The endpoint left between the rules' update and this connection: reset it.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        upstream.settimeout(None)
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until ``source`` ends, then pass the end on (half-close, as TCP through NAT does)."""
    try:
        while chunk := source.recv(_CHUNK):
            sink.sendall(chunk)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class KubeProxy(Controller):
    """Keeps one listener per (service, nodePort) that has a ready endpoint."""

    resource = "services"
    kind = "Service"
    watches = ("endpoints", "nodes")
    component = "kube-proxy"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listeners: dict[Key, dict[int, NodePortListener]] = {}

    def keys_for(self, resource: str, obj: Obj) -> Iterable[Key]:
        if resource == "endpoints":
            yield key_of(obj)  # an Endpoints object is named after its service
        else:  # the node's address may have moved: every service's listeners follow
            services, _ = self.store.list("services")
            yield from (key_of(service) for service in services)

    def stop(self) -> None:
        super().stop()
        for listeners in self._listeners.values():
            for listener in listeners.values():
                listener.close()
        self._listeners.clear()

    def _node_ip(self) -> str | None:
        node = self.get("nodes", "", NODE_NAME)
        for address in ((node or {}).get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                ip = str(address.get("address") or "")
                # The node is this machine's loopback: never listen on a shared address.
                if ip and ipaddress.ip_address(ip).is_loopback:
                    return ip
                log.warning("node InternalIP %s is not a loopback address; not listening", ip)
        return None

    def _endpoints(self, namespace: str, name: str, port_name: str) -> list[Address]:
        endpoints = self.get("endpoints", namespace, name)
        return ready_endpoints(endpoints, port_name) if endpoints else []

    def _wanted(self, namespace: str, name: str) -> dict[int, str]:
        """nodePort -> service port name, for the ports that have a ready endpoint."""
        service = self.get("services", namespace, name)
        spec = (service or {}).get("spec") or {}
        if spec.get("type") not in _WITH_NODE_PORTS:
            return {}
        return {
            int(port["nodePort"]): port.get("name") or ""
            for port in spec.get("ports") or []
            if port.get("nodePort")
            and (port.get("protocol") or "TCP") == "TCP"
            and self._endpoints(namespace, name, port.get("name") or "")
        }

    def reconcile(self, namespace: str, name: str) -> float | None:
        key = (namespace, name)
        node_ip = self._node_ip()
        wanted = self._wanted(namespace, name) if node_ip else {}
        current = self._listeners.setdefault(key, {})
        for node_port, listener in list(current.items()):
            if wanted.get(node_port) != listener.port_name or listener.address[0] != node_ip:
                listener.close()
                del current[node_port]
        again = None
        for node_port, port_name in wanted.items():
            if node_port in current or node_ip is None:
                continue

            def pick(port_name: str = port_name) -> Address | None:
                candidates = self._endpoints(namespace, name, port_name)
                return random.choice(candidates) if candidates else None

            try:
                current[node_port] = NodePortListener((node_ip, node_port), port_name, pick)
            except OSError as error:
                # another process holds the port: said in the log, tried again later
                log.warning(
                    'can\'t open port "nodePort for %s/%s" (%s:%d/tcp): %s',
                    namespace,
                    name,
                    node_ip,
                    node_port,
                    error,
                )
                again = RETRY_SECONDS
        if not current:
            del self._listeners[key]
        return again
