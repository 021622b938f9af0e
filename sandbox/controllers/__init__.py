"""The sandbox's controller manager and kubelet: what makes stored objects run.

``start_controllers`` starts one informer-like thread per controller (one module each);
``Controllers.stop()`` stops them and ends every pod process.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.clock import Clock
from sandbox.controllers.base import Context, Controller
from sandbox.controllers.cronjobs import CronJobController
from sandbox.controllers.deployments import DeploymentController
from sandbox.controllers.disruption import DisruptionBudgetController
from sandbox.controllers.endpoints import EndpointsController
from sandbox.controllers.garbagecollector import GarbageCollector
from sandbox.controllers.hpa import HorizontalPodAutoscalerController
from sandbox.controllers.jobs import JobController
from sandbox.controllers.namespaces import NamespaceController
from sandbox.controllers.nodelease import NodeLeaseController
from sandbox.controllers.pods import PodController
from sandbox.controllers.pvcprotection import PvcProtectionController
from sandbox.controllers.pvprotection import PvProtectionController
from sandbox.controllers.replicasets import ReplicaSetController
from sandbox.controllers.scheduler import Scheduler
from sandbox.controllers.volumes import VolumeClaimController
from sandbox.events import EventRecorder
from sandbox.store import Store

CONTROLLERS: tuple[type[Controller], ...] = (
    GarbageCollector,
    NamespaceController,
    VolumeClaimController,
    PvcProtectionController,
    PvProtectionController,
    DeploymentController,
    ReplicaSetController,
    JobController,
    CronJobController,
    EndpointsController,
    HorizontalPodAutoscalerController,
    DisruptionBudgetController,
)

# Only where pods run: the scheduler binds them; the kubelet heartbeats and runs what is bound.
POD_RUNNERS: tuple[type[Controller], ...] = (Scheduler, NodeLeaseController, PodController)


class Controllers:
    """The running controllers; ``stop()`` leaves no thread and no pod process behind."""

    def __init__(self, controllers: list[Controller]) -> None:
        self.controllers = controllers

    def stop(self) -> None:
        for controller in reversed(self.controllers):
            controller.stop()


def start_controllers(
    store: Store, state_dir: Path, *, clock: Clock, run_pods: bool = True
) -> Controllers:
    """Start every controller (and the kubelet unless ``run_pods`` is False)."""
    ctx = Context(store=store, state_dir=state_dir, clock=clock, events=EventRecorder(store))
    kinds = [*CONTROLLERS, *(POD_RUNNERS if run_pods else ())]
    controllers = [kind(ctx) for kind in kinds]
    for controller in controllers:
        controller.start()
    return Controllers(controllers)
