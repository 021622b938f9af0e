"""Pods (pkg/registry/core/pod): the pod spec's defaults, requests defaulted to limits, a new
pod Pending with its QoS class, ValidatePodCreate, and ValidatePodUpdate's few mutable fields
(images, a shorter deadline, added tolerations)."""

from __future__ import annotations

import copy
from fractions import Fraction

from sandbox.apimachinery import field, quantity
from sandbox.apimachinery.field import ErrorList, Path
from sandbox.apiserver.registry import meta, podspec, podwarnings
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, child, integer, mapping, objects, text
from sandbox.storage.store import Store

_QOS_RESOURCES = ("cpu", "memory")
SPEC = Path("spec")
_UPDATABLE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
    "to 1 if it was previously negative)"
)


def _default_requests(spec: Obj) -> None:
    """SetDefaults_Pod: a limit without a request is also the request (pods, not templates)."""
    for container in [*objects(spec.get("containers")), *objects(spec.get("initContainers"))]:
        resources = mapping(container.get("resources"))
        limits = mapping(resources.get("limits"))
        if limits:
            requests = child(resources, "requests")
            for name, value in limits.items():
                requests.setdefault(name, value)


def qos_class(spec: Obj) -> str:
    """ComputePodQOS: Guaranteed, Burstable or BestEffort, from cpu and memory only."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for container in [*objects(spec.get("containers")), *objects(spec.get("initContainers"))]:
        resources = mapping(container.get("resources"))
        for name, value in mapping(resources.get("requests")).items():
            amount = quantity.rounded(value)
            if name in _QOS_RESOURCES and amount:
                requests[name] = requests.get(name, Fraction(0)) + amount
        found = set()
        for name, value in mapping(resources.get("limits")).items():
            amount = quantity.rounded(value)
            if name in _QOS_RESOURCES and amount:
                found.add(name)
                limits[name] = limits.get(name, Fraction(0)) + amount
        if not found.issuperset(_QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    same = all(limits.get(name) == amount for name, amount in requests.items())
    if guaranteed and same and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


class PodStrategy(Strategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        podspec.default_pod_spec(spec)
        _default_requests(spec)
        if old is None:
            status = child(obj, "status")
            status.setdefault("phase", "Pending")
            status.setdefault("qosClass", qos_class(spec))

    def validate(self, obj: Obj) -> ErrorList:
        spec = mapping(obj.get("spec"))
        errors = super().validate(obj)
        errors.extend(podspec.validate_pod_spec(spec, Path("spec")))
        errors.extend(podspec.validate_pod_only(spec, Path("spec")))
        return errors

    def warnings_on_create(self, obj: Obj) -> list[str]:
        # No warnings on update: pods are rewritten often, and seldom by people.
        name = text(mapping(obj.get("metadata")).get("name"))
        warnings = podwarnings.name_warnings(name, podwarnings.POD_NAME)
        return warnings + podwarnings.pod_warnings(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errors = super().validate_update(obj, old)
        spec, old_spec = mapping(obj.get("spec")), mapping(old.get("spec"))
        deadline = integer(spec.get("activeDeadlineSeconds"))
        old_deadline = integer(old_spec.get("activeDeadlineSeconds"))
        where = SPEC.child("activeDeadlineSeconds")
        if deadline is not None and old_deadline is not None and deadline > old_deadline:
            message = "must be less than or equal to previous value"
            return [*errors, field.invalid(where, deadline, message)]
        if deadline is None and old_deadline is not None:
            message = "must not update from a positive integer to nil value"
            errors.append(field.invalid(where, None, message))
        return errors + _only_mutable_fields_changed(spec, old_spec)


def _only_mutable_fields_changed(spec: Obj, old_spec: Obj) -> ErrorList:
    """The spec with its mutable fields taken from the old one must be the old spec."""
    munged = copy.deepcopy(spec)
    for kind in ("containers", "initContainers"):
        before = objects(old_spec.get(kind))
        for position, container in enumerate(objects(munged.get(kind))):
            if position < len(before) and "image" in before[position]:
                container["image"] = before[position]["image"]
    munged["activeDeadlineSeconds"] = old_spec.get("activeDeadlineSeconds")
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if (
        isinstance(old_grace, int)
        and old_grace < 0
        and munged.get("terminationGracePeriodSeconds") == 1
    ):
        munged["terminationGracePeriodSeconds"] = old_grace
    tolerations, old_tolerations = munged.get("tolerations"), old_spec.get("tolerations")
    if isinstance(tolerations, list) and isinstance(old_tolerations, list):
        if all(toleration in tolerations for toleration in old_tolerations):
            munged["tolerations"] = old_tolerations
        else:
            return [
                field.forbidden(
                    SPEC.child("tolerations"),
                    "existing toleration can not be modified except its tolerationSeconds",
                )
            ]
    if meta.semantic_equal(munged, old_spec):
        return []
    return [field.forbidden(SPEC, _UPDATABLE)]
