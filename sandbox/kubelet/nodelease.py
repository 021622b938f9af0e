"""The kubelet's heartbeat: the node's Lease in kube-node-lease, renewed every 10 seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from sandbox.clock import parse_time
from sandbox.controllers.base import Controller, Obj
from sandbox.resources import NODE_NAME

NAMESPACE = "kube-node-lease"
RENEW_SECONDS = 10.0  # the kubelet renews at a quarter of the 40 s lease duration
LEASE_SECONDS = 40


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeLeaseController(Controller):
    resource = "leases"
    kind = "Lease"
    component = "kubelet"
    resync_seconds = 3600.0  # the renewal reschedules itself

    def start(self) -> None:
        self.queue.add((NAMESPACE, NODE_NAME))
        super().start()

    def reconcile(self, namespace: str, name: str) -> float | None:
        if (namespace, name) != (NAMESPACE, NODE_NAME):
            return None
        node = self.get("nodes", "", NODE_NAME)
        if node is None:
            return RENEW_SECONDS

        def renew(lease: Obj) -> None:
            lease["spec"] = {
                "holderIdentity": NODE_NAME,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro_time(),
            }

        current = self.get("leases", NAMESPACE, NODE_NAME)
        if current is not None:
            # Its own write brings the key back at once: renew only when a renewal is due.
            renewed = (current.get("spec") or {}).get("renewTime")
            if renewed:
                age = (datetime.now(UTC) - parse_time(renewed)).total_seconds()
                if age < RENEW_SECONDS:
                    return RENEW_SECONDS - age
        if current is None:
            lease: Obj = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": NODE_NAME,
                    "namespace": NAMESPACE,
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Node",
                            "name": NODE_NAME,
                            "uid": node["metadata"]["uid"],
                        }
                    ],
                },
            }
            renew(lease)
            self.create("leases", lease)
        else:
            self.store.mutate("leases", NAMESPACE, NODE_NAME, renew)
        return RENEW_SECONDS
