"""The registry: one strategy per kind, as kube-apiserver's pkg/registry has them.

``prepare`` is what a create or an update does to an object between decoding and storing it:
identity and metadata bookkeeping, the kind's defaults, its validation (every problem
collected into one 422, as kube-apiserver reports them), then its allocators and its
validating admission plugins (whose refusal is a 403).
``prepare_status`` is a write to the status subresource. ``warnings`` are the kind's warnings
for a write that ``prepare`` let through.
"""

from __future__ import annotations

import random
import uuid

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver.registry.apps import DeploymentStrategy, ReplicaSetStrategy
from sandbox.apiserver.registry.autoscaling import AutoscalerStrategy
from sandbox.apiserver.registry.batch import CronJobStrategy, JobStrategy
from sandbox.apiserver.registry.config import ConfigMapStrategy, SecretStrategy
from sandbox.apiserver.registry.namespaces import NamespaceStrategy
from sandbox.apiserver.registry.networking import NetworkPolicyStrategy
from sandbox.apiserver.registry.pods import PodStrategy
from sandbox.apiserver.registry.policy import DisruptionBudgetStrategy
from sandbox.apiserver.registry.services import ServiceStrategy
from sandbox.apiserver.registry.storage import (
    PV_PROTECTION,
    PVC_PROTECTION,
    ClaimStrategy,
    VolumeStrategy,
)
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, child, text
from sandbox.resources import Resource
from sandbox.storage.store import Store

__all__ = [
    "PVC_PROTECTION",
    "PV_PROTECTION",
    "STRATEGIES",
    "prepare",
    "prepare_status",
    "strategy",
    "warnings",
]

STRATEGIES: dict[str, Strategy] = {
    "pods": PodStrategy(),
    "deployments": DeploymentStrategy(),
    "replicasets": ReplicaSetStrategy(),
    "jobs": JobStrategy(),
    "cronjobs": CronJobStrategy(),
    "services": ServiceStrategy(),
    "configmaps": ConfigMapStrategy(),
    "secrets": SecretStrategy(),
    "persistentvolumeclaims": ClaimStrategy(),
    "persistentvolumes": VolumeStrategy(),
    "namespaces": NamespaceStrategy(),
    "horizontalpodautoscalers": AutoscalerStrategy(),
    "poddisruptionbudgets": DisruptionBudgetStrategy(),
    "networkpolicies": NetworkPolicyStrategy(),
}
_DEFAULT = Strategy()
# names.SimpleNameGenerator: five characters that cannot spell words, after at most 58.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_GENERATED_PREFIX_MAX = 63 - 5


def strategy(resource: Resource) -> Strategy:
    return STRATEGIES.get(resource.plural, _DEFAULT)


def prepare(resource: Resource, obj: Obj, old: Obj | None, store: Store) -> Obj:
    """Default, validate and allocate ``obj`` before it is written (``old``: the stored one).

    Raises the 422 ApiError kube-apiserver would, naming every invalid field at once.
    """
    kind = strategy(resource)
    obj["apiVersion"] = resource.api_version
    obj["kind"] = resource.kind
    meta = child(obj, "metadata")
    if old is None:
        meta.pop("resourceVersion", None)
        meta["uid"] = str(uuid.uuid4())
        prefix = text(meta.get("generateName"))
        if prefix and not text(meta.get("name")):
            # BeforeCreate names the object before validating it.
            suffix = "".join(random.choices(_NAME_ALPHABET, k=5))
            meta["name"] = prefix[:_GENERATED_PREFIX_MAX] + suffix
    else:
        for kept in ("uid", "creationTimestamp"):
            meta[kept] = old["metadata"].get(kept)
        kind.prepare_for_update(obj, old)
    # Go's omitempty drops empty maps and lists: a patch leaving "annotations: {}" must not
    # show up as a difference.
    for optional in ("labels", "annotations", "ownerReferences", "finalizers"):
        if optional in meta and not meta[optional]:
            del meta[optional]
    kind.default(obj, old, store)
    errors = kind.validate(obj) if old is None else kind.validate_update(obj, old)
    if not errors:
        errors = kind.allocate(obj, old, store)
    if errors:
        raise ApiError.invalid(resource.plural, text(meta.get("name")), errors)
    kind.admit(obj, old, store)
    return obj


def warnings(resource: Resource, obj: Obj, old: Obj | None) -> list[str]:
    """The warnings of a write of ``obj`` (over the stored ``old``) that ``prepare`` accepted."""
    kind = strategy(resource)
    return kind.warnings_on_create(obj) if old is None else kind.warnings_on_update(obj, old)


def prepare_status(resource: Resource, obj: Obj, old: Obj) -> Obj:
    """The object a write of ``obj`` to the status subresource of ``old`` stores."""
    return strategy(resource).prepare_for_status(obj, old)
