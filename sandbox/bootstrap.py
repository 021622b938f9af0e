"""What every sandbox has from the start: system namespaces, one node, one storage class."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psutil

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver import registry
from sandbox.apiserver.discovery import VERSION_INFO
from sandbox.apiserver.objects import SYSTEM_NAMESPACES
from sandbox.controllers.volumes import DEFAULT_STORAGE_CLASS, PROVISIONER
from sandbox.kubelet import images, podnetwork
from sandbox.resources import BY_PLURAL, NODE_NAME
from sandbox.storage.store import Store, now_rfc3339


def _node_status(gpus: int, internal_ip: str) -> dict[str, Any]:
    now = now_rfc3339()
    capacity = {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{psutil.virtual_memory().total // 1024}Ki",
        "pods": "110",
        "ephemeral-storage": f"{psutil.disk_usage('/').total // 1024}Ki",
    }
    if gpus:
        capacity["nvidia.com/gpu"] = str(gpus)
    return {
        "capacity": capacity,
        "allocatable": capacity,
        # The conditions, reasons and messages a healthy node's kubelet reports.
        "conditions": [
            {
                "type": type_,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for type_, status, reason, message in (
                (
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                (
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                (
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            )
        ],
        "addresses": [
            {"type": "InternalIP", "address": internal_ip},
            {"type": "Hostname", "address": NODE_NAME},
        ],
        "nodeInfo": {
            "kubeletVersion": VERSION_INFO["gitVersion"],
            "kubeProxyVersion": VERSION_INFO["gitVersion"],
            "operatingSystem": "linux",
            "architecture": "amd64",
            "containerRuntimeVersion": "sandbox://local-processes",
            "osImage": "local processes (simulated node)",
            "kernelVersion": os.uname().release,
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
        },
    }


def default_storage_class() -> dict[str, Any]:
    """The class every claim without one gets, as on minikube: a folder per claim, provisioned
    at once and deleted with its claim."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": DEFAULT_STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def bootstrap(store: Store, state_dir: Path | None = None, *, gpus: int = 0) -> None:
    """Create the system namespaces and the node if a fresh (or older) state lacks them.

    The node reports ``gpus`` nvidia.com/gpu devices (none unless the sandbox was given some).

    Namespaces a previous run left Terminating stay so: the namespace controller finishes them.
    """
    for name in SYSTEM_NAMESPACES:
        try:
            store.get("namespaces", None, name)
        except ApiError:
            namespace = {"metadata": {"name": name}}
            store.create(
                "namespaces", registry.prepare(BY_PLURAL["namespaces"], namespace, None, store)
            )
    try:
        known = store.get("storageclasses", None, DEFAULT_STORAGE_CLASS)
    except ApiError:
        store.create("storageclasses", default_storage_class())
    else:
        if known.get("provisioner") != PROVISIONER:
            # A state from before the class named minikube's provisioner.
            store.mutate(
                "storageclasses",
                None,
                DEFAULT_STORAGE_CLASS,
                lambda sc: sc.update(provisioner=PROVISIONER),
            )
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "",
                "node.kubernetes.io/exclude-from-external-load-balancers": "",
            },
        },
        "spec": {},
    }
    try:
        known_node = store.get("nodes", None, NODE_NAME)
    except ApiError:
        cidr = podnetwork.random_cidr()
        node["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
        store.create("nodes", node)
    else:
        if not (known_node.get("spec") or {}).get("podCIDR"):
            # A state from before pods had addresses of their own.
            cidr = podnetwork.random_cidr()
            store.mutate(
                "nodes",
                None,
                NODE_NAME,
                lambda obj: obj.setdefault("spec", {}).update(podCIDR=cidr, podCIDRs=[cidr]),
            )

    def refresh(obj: dict[str, Any]) -> None:
        cidr = (obj.get("spec") or {}).get("podCIDR") or podnetwork.DEFAULT_CIDR
        obj["status"] = _node_status(gpus, podnetwork.node_address(cidr))
        if state_dir is not None:
            obj["status"]["images"] = images.node_images(state_dir)

    store.mutate("nodes", None, NODE_NAME, refresh)
