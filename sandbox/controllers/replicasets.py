"""ReplicaSets -> Pods: keep ``spec.replicas`` active pods, named ``<replicaset>-<5 chars>``."""

from __future__ import annotations

import copy

from sandbox.controllers.base import (
    Controller,
    Obj,
    is_pod_active,
    is_pod_ready,
    owner_reference,
    random_suffix,
)


class ReplicaSetController(Controller):
    resource = "replicasets"
    kind = "ReplicaSet"
    watches = ("pods",)
    component = "replicaset-controller"

    def reconcile(self, namespace: str, name: str) -> float | None:
        rs = self.get("replicasets", namespace, name)
        if rs is None:
            return None
        if rs["metadata"].get("deletionTimestamp"):
            return None  # being deleted: the garbage collector now decides what its pods become
        self.adopt("pods", rs)
        spec = rs.get("spec") or {}
        pods = [pod for pod in self.owned("pods", rs) if is_pod_active(pod)]
        wanted = int(spec.get("replicas", 1))
        if len(pods) < wanted:
            for _ in range(wanted - len(pods)):
                pod = self._create_pod(rs)
                pods.append(pod)
        elif len(pods) > wanted:
            for pod in _deletion_order(pods)[: len(pods) - wanted]:
                # A graceful delete: the pod shows Terminating until its kubelet has stopped
                # it, and (no longer active) it counts no more as a replica.
                self.delete("pods", namespace, pod["metadata"]["name"])
                pods.remove(pod)
                self.event(rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
        ready = sum(1 for pod in pods if is_pod_ready(pod))
        counts = {"fullyLabeledReplicas": len(pods), "readyReplicas": ready}
        counts["availableReplicas"] = ready
        status: Obj = {"replicas": len(pods)}
        status.update({key: value for key, value in counts.items() if value})  # omitempty
        status["observedGeneration"] = rs["metadata"].get("generation", 1)

        def apply(obj: Obj) -> None:
            obj["status"] = status

        self.store.mutate("replicasets", namespace, name, apply, subresource="status")
        return None

    def _create_pod(self, rs: Obj) -> Obj:
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        meta = template.get("metadata") or {}
        name = f"{rs['metadata']['name']}-{random_suffix()}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                **meta,
                "name": name,
                "namespace": rs["metadata"]["namespace"],
                "generateName": f"{rs['metadata']['name']}-",
                "ownerReferences": [owner_reference(rs)],
            },
            "spec": template.get("spec") or {},
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        created = self.create("pods", pod)
        self.event(rs, "SuccessfulCreate", f"Created pod: {name}")
        return created


def _deletion_order(pods: list[Obj]) -> list[Obj]:
    """Pods to delete first: unscheduled, then not ready, then the newest."""
    newest_first = sorted(
        pods, key=lambda pod: pod["metadata"].get("creationTimestamp") or "", reverse=True
    )
    return sorted(
        newest_first,
        key=lambda pod: (bool((pod.get("spec") or {}).get("nodeName")), is_pod_ready(pod)),
    )
