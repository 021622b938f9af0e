"""Pod addresses: each pod gets its own loopback address from the node's pod CIDR.

Linux routes all of 127.0.0.0/8 to the loopback interface with no setup, so a /24 in it serves
as the node's podCIDR (as 10.244.0.0/24 is on minikube), and the IPAM hands its addresses out
as host-local IPAM does: round robin from .2, never one a live pod holds. The .1, the bridge's
on a real node, is the node's own address (its InternalIP, where kube-proxy answers on the
nodePorts). The range is drawn at random when the node is first created, so that sandboxes side
by side on one machine (or a leftover process of another) rarely meet, node addresses
included; an address whose declared ports are taken on this machine is passed over all the
same.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import threading

DEFAULT_CIDR = "127.244.0.0/24"


class NoAddressError(Exception):
    """Every address of the range is taken (the CNI plugin's words)."""


def random_cidr() -> str:
    """A fresh /24 of 127.0.0.0/8, away from 127.0.0.x where the host's own services sit."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.0/24"


def node_address(cidr: str) -> str:
    """The node's address on its pod network: the range's first host."""
    return str(next(ipaddress.ip_network(cidr, strict=False).hosts()))


def _ports_free(address: str, ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


class PodNetwork:
    """Allocates and releases pod addresses, one per pod uid."""

    def __init__(self, cidr: str) -> None:
        network = ipaddress.ip_network(cidr, strict=False)
        if not network.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
            raise ValueError(f"the pod CIDR {cidr} is not in 127.0.0.0/8")
        self.cidr = str(network)
        self.node_address = node_address(self.cidr)
        # .1 is the bridge's on a real node; the first and last are the network's own
        self._range = [str(a) for a in network.hosts()][1:]
        self._next = 0
        self._held: dict[str, str] = {}  # address -> uid
        self._lock = threading.Lock()

    def allocate(self, uid: str, ports: list[int], preferred: str = "") -> str:
        """An address for pod ``uid`` (``preferred`` if it is free: a pod carried on)."""
        with self._lock:
            for address, owner in self._held.items():
                if owner == uid:
                    return address
            free = preferred in self._range and preferred not in self._held
            if free and _ports_free(preferred, ports):
                self._held[preferred] = uid
                return preferred
            for step in range(len(self._range)):
                index = (self._next + step) % len(self._range)
                address = self._range[index]
                if address in self._held or not _ports_free(address, ports):
                    continue
                self._next = index + 1
                self._held[address] = uid
                return address
        first, last = self._range[0], self._range[-1]
        raise NoAddressError(
            f"failed to allocate for range 0: no IP addresses available in range set: "
            f"{first}-{last}"
        )

    def release(self, uid: str) -> None:
        with self._lock:
            for address in [a for a, owner in self._held.items() if owner == uid]:
                del self._held[address]
