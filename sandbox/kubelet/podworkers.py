"""The kubelet's informer: every pod change goes to the runtime, which runs or stops it."""

from __future__ import annotations

from sandbox.controllers.base import Context, Controller
from sandbox.kubelet.runtime import Kubelet


class PodController(Controller):
    resource = "pods"
    kind = "Pod"
    component = "kubelet"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.kubelet = Kubelet(ctx.store, ctx.state_dir, ctx.clock, ctx.events)

    def reconcile(self, namespace: str, name: str) -> float | None:
        self.kubelet.sync(namespace, name, self.get("pods", namespace, name))
        return None

    def stop(self) -> None:
        super().stop()
        self.kubelet.stop()
