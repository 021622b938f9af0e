"""Resource requirements as the API server checks them: ``validate_requirements`` is
validateResourceRequirements for containers (known resource names, no negative quantities,
requests not above limits); quantities themselves are sandbox.apimachinery.quantity's."""

from __future__ import annotations

from typing import Any

from sandbox.apimachinery import field, quantity
from sandbox.apimachinery.field import ErrorList, Path
from sandbox.apiserver.registry import names
from sandbox.apiserver.registry.meta import IS_NEGATIVE
from sandbox.apiserver.registry.values import mapping

STANDARD_CONTAINER = ("cpu", "memory", "ephemeral-storage")
# IsStandardResourceName: what a name without a domain may be anywhere in the API.
_STANDARD = {
    *STANDARD_CONTAINER,
    "storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "requests.storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
}


def is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def overcommit_allowed(name: str) -> bool:
    """IsOvercommitAllowed: only native resources other than huge pages may be overcommitted."""
    return is_native(name) and not is_hugepages(name)


def _container_resource_name(name: str, path: Path) -> ErrorList:
    errors = [field.invalid(path, name, m) for m in names.is_qualified_name(name)]
    if errors:
        return errors
    if "/" not in name:
        if name not in _STANDARD and not is_hugepages(name):
            errors.append(
                field.invalid(path, name, "must be a standard resource type or fully qualified")
            )
        if name not in STANDARD_CONTAINER and not is_hugepages(name):
            errors.append(field.invalid(path, name, "must be a standard resource for containers"))
    return errors


def _nonnegative(value: Any, path: Path) -> ErrorList:
    parsed = quantity.rounded(value)
    if parsed is not None and parsed < 0:
        return [field.invalid(path, quantity.canonical(value), IS_NEGATIVE)]
    return []


def validate_requirements(resources: Any, path: Path) -> ErrorList:
    """ValidateContainerResourceRequirements (quantities that do not parse are left to the
    structural decoder)."""
    resources = mapping(resources)
    limits = mapping(resources.get("limits"))
    requests = mapping(resources.get("requests"))
    limits_path, requests_path = path.child("limits"), path.child("requests")
    errors: ErrorList = []
    for name, value in limits.items():
        where = limits_path.key(name)
        errors.extend(_container_resource_name(name, where))
        errors.extend(_nonnegative(value, where))
    for name, value in requests.items():
        where = requests_path.key(name)
        errors.extend(_container_resource_name(name, where))
        errors.extend(_nonnegative(value, where))
        request = quantity.rounded(value)
        if name in limits:
            limit = quantity.rounded(limits[name])
            if request is None or limit is None:
                continue
            if request != limit and not overcommit_allowed(name):
                errors.append(
                    field.invalid(
                        requests_path,
                        quantity.canonical(value),
                        f"must be equal to {name} limit of {quantity.canonical(limits[name])}",
                    )
                )
            elif request > limit:
                limit_text = quantity.canonical(limits[name])
                errors.append(
                    field.invalid(
                        requests_path,
                        quantity.canonical(value),
                        f"must be less than or equal to {name} limit of {limit_text}",
                    )
                )
        elif not overcommit_allowed(name):
            errors.append(
                field.required(limits_path, "Limit must be set for non overcommitable resources")
            )
    return errors
