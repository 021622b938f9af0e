"""One controller on a bare store, as Kubernetes' controller unit tests use a fake clientset.

Objects are created as through the API server (its defaulting), the controller's
``reconcile`` is called directly, and the sandbox clock moves only when the test moves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver import registry
from sandbox.bootstrap import bootstrap
from sandbox.clock import Clock
from sandbox.controllers.base import Context
from sandbox.events import EventRecorder
from sandbox.resources import BY_PLURAL
from sandbox.storage.store import Store

Obj = dict[str, Any]

NAMESPACE = "lab"


class ManualClock(Clock):
    """Sandbox time that stands still until the test advances it."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        self._now = (start or datetime.now(UTC)).timestamp()

    def timestamp(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, moment: datetime) -> None:
        self._now = moment.timestamp()

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


@dataclass
class Bench:
    store: Store
    clock: ManualClock
    state_dir: Path
    ctx: Context = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = Context(
            store=self.store,
            state_dir=self.state_dir,
            clock=self.clock,
            events=EventRecorder(self.store),
        )

    def create(self, resource: str, obj: Obj) -> Obj:
        """Create as through the API server: with its defaulting."""
        if BY_PLURAL[resource].namespaced:
            obj.setdefault("metadata", {}).setdefault("namespace", NAMESPACE)
        registry.prepare(BY_PLURAL[resource], obj, None, self.store)
        return self.store.create(resource, obj)

    def get(self, resource: str, name: str, namespace: str | None = NAMESPACE) -> Obj | None:
        try:
            return self.store.get(resource, namespace, name)
        except ApiError:
            return None

    def status(self, resource: str, name: str) -> Obj:
        return dict((self.get(resource, name) or {}).get("status") or {})

    def set_status(self, resource: str, name: str, **status: Any) -> Obj:
        """Write status fields, as the kubelet or another controller would."""
        return self.store.mutate(
            resource,
            NAMESPACE,
            name,
            lambda obj: obj.setdefault("status", {}).update(status),
            subresource="status",
        )

    def list(self, resource: str, labels: str | None = None) -> list[Obj]:
        return self.store.list(resource, NAMESPACE, label_selector=labels)[0]

    def events(self, reason: str) -> list[Obj]:
        return [event for event in self.list("events") if event["reason"] == reason]

    def messages(self, reason: str) -> list[str]:
        return sorted(event["message"] for event in self.events(reason))


def bench(
    *, node: bool = False, start: datetime | None = None, state_dir: Path | None = None
) -> Bench:
    """A store with the test namespace (and, with ``node``, the node and system namespaces)."""
    store = Store(None)
    if node:
        bootstrap(store)
    # controllers that keep no files never look at the state directory
    created = Bench(store, ManualClock(start), state_dir or Path("/nonexistent"))
    created.create("namespaces", {"metadata": {"name": NAMESPACE}})
    return created


def ready(status: bool = True) -> Obj:
    """A pod status as the kubelet writes it for a running pod, Ready or not."""
    flag = "True" if status else "False"
    return {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": flag},
            {"type": "ContainersReady", "status": flag},
        ],
    }
