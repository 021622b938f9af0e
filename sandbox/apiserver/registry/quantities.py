"""Resource quantities as the API server prints and checks them.

``canonical`` is resource.Quantity's String() (``1000m`` is ``1``, ``1024Mi`` is ``1Gi``), the
form every quantity error shows; ``validate_requirements`` is validateResourceRequirements for
containers: known resource names, no negative quantities, requests not above limits.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from sandbox.apimachinery import field, quantity
from sandbox.apimachinery.field import ErrorList, Path
from sandbox.apiserver.registry import names
from sandbox.apiserver.registry.meta import IS_NEGATIVE
from sandbox.apiserver.registry.values import mapping

_DECIMAL = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"]
_BINARY = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_NANO = Fraction(1, 10**9)
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


def _format(value: Any) -> str:
    raw = str(value).strip()
    if raw.endswith(tuple(_BINARY[1:])):
        return "BinarySI"
    if "e" in raw.lower() and not raw.endswith("E"):
        return "DecimalExponent"
    return "DecimalSI"


def parse(value: Any) -> Fraction | None:
    """The quantity's value, rounded up to nano units as the API rounds it; None if invalid."""
    if isinstance(value, bool):
        return None
    try:
        exact = quantity.parse(value)
    except (ValueError, ZeroDivisionError):
        return None
    return Fraction(math.ceil(exact / _NANO)) * _NANO


def _decimal(value: Fraction, exponent_style: bool) -> str:
    if value == 0:
        return "0"
    for position in range(len(_DECIMAL) - 1, -1, -1):
        exponent = 3 * (position - 3)
        mantissa = value / Fraction(10) ** exponent
        if mantissa.denominator == 1:
            if exponent_style:
                return f"{mantissa.numerator}" + (f"e{exponent}" if exponent else "")
            return f"{mantissa.numerator}{_DECIMAL[position]}"
    return str(value)


def canonical(value: Any) -> str:
    """resource.Quantity.String() of a valid quantity (the input itself if it is not one)."""
    parsed = parse(value)
    if parsed is None:
        return str(value)
    style = _format(value)
    if style == "BinarySI" and -1024 < parsed < 1024:
        style = "DecimalSI"
    if style == "BinarySI" and parsed.denominator != 1:
        style = "DecimalSI"
    if style != "BinarySI":
        return _decimal(parsed, style == "DecimalExponent")
    number = parsed.numerator
    power = 0
    while power < len(_BINARY) - 1 and number % 1024 == 0:
        number //= 1024
        power += 1
    return f"{number}{_BINARY[power]}"


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
    parsed = parse(value)
    if parsed is not None and parsed < 0:
        return [field.invalid(path, canonical(value), IS_NEGATIVE)]
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
        request = parse(value)
        if name in limits:
            limit = parse(limits[name])
            if request is None or limit is None:
                continue
            if request != limit and not overcommit_allowed(name):
                errors.append(
                    field.invalid(
                        requests_path,
                        canonical(value),
                        f"must be equal to {name} limit of {canonical(limits[name])}",
                    )
                )
            elif request > limit:
                errors.append(
                    field.invalid(
                        requests_path,
                        canonical(value),
                        f"must be less than or equal to {name} limit of {canonical(limits[name])}",
                    )
                )
        elif not overcommit_allowed(name):
            errors.append(
                field.required(limits_path, "Limit must be set for non overcommitable resources")
            )
    return errors
