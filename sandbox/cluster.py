"""The cluster's components started together: the controller manager, the scheduler, the
kubelet and kube-proxy, all over one store (what ``minikube start`` brings up besides the API
server).

``start_components`` starts one informer-like thread per component; ``Components.stop()``
stops them and ends every pod process.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.clock import Clock
from sandbox.controllers import CONTROLLERS
from sandbox.controllers.base import Context, Controller
from sandbox.events import EventRecorder
from sandbox.kubelet.nodelease import NodeLeaseController
from sandbox.kubelet.podworkers import PodController
from sandbox.kubeproxy.proxier import KubeProxy
from sandbox.scheduler.scheduler import Scheduler
from sandbox.storage.store import Store

# Only where pods run: the scheduler binds them; the kubelet heartbeats and runs what is bound;
# kube-proxy makes the node's address answer on the services' nodePorts.
POD_RUNNERS: tuple[type[Controller], ...] = (
    Scheduler,
    NodeLeaseController,
    PodController,
    KubeProxy,
)


class Components:
    """The running components; ``stop()`` leaves no thread and no pod process behind."""

    def __init__(self, controllers: list[Controller]) -> None:
        self.controllers = controllers

    def stop(self) -> None:
        for controller in reversed(self.controllers):
            controller.stop()


def start_components(
    store: Store, state_dir: Path, *, clock: Clock, run_pods: bool = True
) -> Components:
    """Start every controller, and the node's components unless ``run_pods`` is False."""
    ctx = Context(store=store, state_dir=state_dir, clock=clock, events=EventRecorder(store))
    kinds = [*CONTROLLERS, *(POD_RUNNERS if run_pods else ())]
    controllers = [kind(ctx) for kind in kinds]
    for controller in controllers:
        controller.start()
    return Components(controllers)
