"""Pods (pkg/registry/core/pod): the pod spec's defaults, requests defaulted to limits, a new
pod Pending with its QoS class, and ValidatePodCreate."""

from __future__ import annotations

from fractions import Fraction

from sandbox.api.field import ErrorList, Path
from sandbox.api.registry import podspec, quantities
from sandbox.api.registry.strategy import Strategy
from sandbox.api.registry.values import Obj, child, mapping, objects
from sandbox.store import Store

_QOS_RESOURCES = ("cpu", "memory")


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
            amount = quantities.parse(value)
            if name in _QOS_RESOURCES and amount:
                requests[name] = requests.get(name, Fraction(0)) + amount
        found = set()
        for name, value in mapping(resources.get("limits")).items():
            amount = quantities.parse(value)
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
