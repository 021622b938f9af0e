"""The controller manager: one controller per module, each reconciling one kind of object.

``CONTROLLERS`` is what kube-controller-manager would run here; ``sandbox.cluster`` starts
them beside the scheduler and the kubelet.
"""

from __future__ import annotations

from sandbox.controllers.base import Controller
from sandbox.controllers.cronjobs import CronJobController
from sandbox.controllers.deployments import DeploymentController
from sandbox.controllers.disruption import DisruptionBudgetController
from sandbox.controllers.endpoints import EndpointsController
from sandbox.controllers.garbagecollector import GarbageCollector
from sandbox.controllers.hpa import HorizontalPodAutoscalerController
from sandbox.controllers.jobs import JobController
from sandbox.controllers.namespaces import NamespaceController
from sandbox.controllers.pvcprotection import PvcProtectionController
from sandbox.controllers.pvprotection import PvProtectionController
from sandbox.controllers.replicasets import ReplicaSetController
from sandbox.controllers.volumes import VolumeClaimController

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
