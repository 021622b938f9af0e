"""A store with the controllers running in this process: the runtime's tests drive it directly."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver import registry
from sandbox.bootstrap import bootstrap
from sandbox.clock import Clock
from sandbox.cluster import Components, start_components
from sandbox.kubelet.images import ImageStore
from sandbox.resources import BY_PLURAL
from sandbox.storage.store import Store

Obj = dict[str, Any]
T = TypeVar("T")

NAMESPACE = "lab"


@dataclass
class Cluster:
    store: Store
    state_dir: Path
    controllers: Components

    def create(self, resource: str, obj: Obj) -> Obj:
        """Create as through the API server: with its defaulting."""
        obj.setdefault("metadata", {}).setdefault("namespace", NAMESPACE)
        registry.prepare(BY_PLURAL[resource], obj, None, self.store)
        return self.store.create(resource, obj)

    def get(self, resource: str, name: str, namespace: str = NAMESPACE) -> Obj | None:
        try:
            return self.store.get(resource, namespace, name)
        except ApiError:
            return None

    def pods(self, namespace: str = NAMESPACE, labels: str | None = None) -> list[Obj]:
        return self.store.list("pods", namespace, label_selector=labels)[0]

    def events(self, reason: str, namespace: str = NAMESPACE) -> list[Obj]:
        items = self.store.list("events", namespace)[0]
        return [event for event in items if event["reason"] == reason]

    def wait_for(self, probe: Callable[[], T], what: str, timeout: float = 20.0) -> T:
        """Poll until ``probe()`` is truthy and return it; fail with ``what`` otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextlib.contextmanager
def running_cluster(state_dir: Path, clock_speed: float = 1.0) -> Iterator[Cluster]:
    store = Store(None)
    # what python_container runs "is" lab:1: the test built it onto the node
    ImageStore(state_dir).load("lab:1")
    bootstrap(store)  # the node the scheduler binds pods to, the default storage class
    controllers = start_components(store, state_dir, clock=Clock(clock_speed))
    try:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        store.create(
            "namespaces", registry.prepare(BY_PLURAL["namespaces"], namespace, None, store)
        )
        yield Cluster(store, state_dir, controllers)
    finally:
        controllers.stop()


def python_container(name: str, code: str, **extra: Any) -> Obj:
    """A container that runs a Python snippet with the project's own interpreter."""
    return {"name": name, "image": "lab:1", "command": ["python", "-c", code], **extra}


def pod(name: str, *containers: Obj, restart: str = "Never", **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {"restartPolicy": restart, "containers": list(containers), **spec},
    }


def phase(cluster: Cluster, name: str) -> str:
    obj = cluster.get("pods", name)
    return (obj or {}).get("status", {}).get("phase", "")


def container_status(obj: Obj | None, index: int = 0) -> Obj:
    statuses = ((obj or {}).get("status") or {}).get("containerStatuses") or []
    return statuses[index] if len(statuses) > index else {}
