"""NetworkPolicies (pkg/registry/networking): defaults for podSelector and policyTypes, and
the selectors, policy types and ports validated."""

from __future__ import annotations

from sandbox.apimachinery import field
from sandbox.apimachinery.field import ErrorList, GoValue, Path
from sandbox.apiserver.registry import meta, names, podspec
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, child, integer, items, mapping, objects, text
from sandbox.storage.store import Store

SPEC = Path("spec")
_POLICY_TYPES = ("Ingress", "Egress")


def _ports(ports: object, path: Path) -> ErrorList:
    errors: ErrorList = []
    for position, port in enumerate(objects(ports)):
        where = path.index(position)
        protocol = port.get("protocol")
        if protocol is not None and protocol not in podspec.PROTOCOLS:
            errors.append(field.not_supported(where.child("protocol"), protocol, podspec.PROTOCOLS))
        value = port.get("port")
        if isinstance(value, str):
            errors.extend(
                field.invalid(where.child("port"), value, m)
                for m in names.is_valid_port_name(value)
            )
        elif (number := integer(value)) is not None:
            errors.extend(
                field.invalid(where.child("port"), number, m)
                for m in names.is_valid_port_num(number)
            )
    return errors


class NetworkPolicyStrategy(Strategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        spec.setdefault("podSelector", {})
        if "policyTypes" not in spec:
            spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])

    def validate(self, obj: Obj) -> ErrorList:
        errors = super().validate(obj)
        spec = mapping(obj.get("spec"))
        errors.extend(
            meta.validate_label_selector(spec.get("podSelector"), SPEC.child("podSelector"))
        )
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            for position, rule in enumerate(objects(spec.get(direction))):
                where = SPEC.child(direction).index(position)
                errors.extend(_ports(rule.get("ports"), where.child("ports")))
                for index, peer in enumerate(objects(rule.get(peers))):
                    at = where.child(peers).index(index)
                    for key in ("podSelector", "namespaceSelector"):
                        if peer.get(key) is not None:
                            errors.extend(meta.validate_label_selector(peer[key], at.child(key)))
        types = items(spec.get("policyTypes"))
        for position, kind in enumerate(types):
            if kind not in _POLICY_TYPES:
                errors.append(
                    field.not_supported(
                        SPEC.child("policyTypes").index(position), text(kind), _POLICY_TYPES
                    )
                )
        if len(types) > len(_POLICY_TYPES):
            errors.append(
                field.invalid(
                    SPEC.child("policyTypes"),
                    GoValue.string_list([text(k) for k in types]),
                    "may not specify more than two policyTypes",
                )
            )
        return errors
