"""Services (pkg/registry/core/service): the defaults, a cluster IP, ValidateService and its
update rules, then the node-port allocator, which runs only on a valid service, and the
warnings of pkg/api/service/warnings.go (1.32)."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from sandbox.apimachinery import field
from sandbox.apimachinery.field import ErrorList, GoValue, Path, go_quote
from sandbox.apiserver.registry import meta, names, podspec
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, child, integer, items, mapping, objects, text
from sandbox.storage.store import Store

SPEC = Path("spec")
SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)
_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_WITH_NODE_PORTS = ("NodePort", "LoadBalancer")
_AFFINITIES = ("ClientIP", "None")
_TRAFFIC_POLICIES = ("Cluster", "Local")
_TOPOLOGY_HINTS = "service.kubernetes.io/topology-aware-hints"
_TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
_LATER_INVALID = "was accepted, but will be invalid in a future Kubernetes release"


def _used_cluster_ips(store: Store) -> set[str]:
    services, _ = store.list("services")
    return {str(mapping(s.get("spec")).get("clusterIP")) for s in services}


def _used_node_ports(store: Store, except_name: tuple[object, object] | None) -> set[int]:
    services, _ = store.list("services")
    used = set()
    for service in services:
        service_meta = service["metadata"]
        if (service_meta.get("namespace"), service_meta.get("name")) == except_name:
            continue
        for port in objects(mapping(service.get("spec")).get("ports")):
            if integer(port.get("nodePort")):
                used.add(int(port["nodePort"]))
    return used


def _headless(spec: Obj) -> bool:
    return spec.get("clusterIP") == "None"


def _port_value(protocol: Any, port: Any) -> GoValue:
    """The (protocol, port) key a duplicate port is reported with (a core.ServicePort, %#v)."""
    return GoValue(
        f'core.ServicePort{{Name:"", Protocol:{go_quote(text(protocol))}, '
        f"AppProtocol:(*string)(nil), Port:{integer(port) or 0}, "
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


def _validate_port(port: Obj, require_name: bool, seen: set[str], path: Path) -> ErrorList:
    """validateServicePort."""
    errors: ErrorList = []
    name = text(port.get("name"))
    if require_name and not name:
        errors.append(field.required(path.child("name")))
    elif name:
        errors.extend(
            field.invalid(path.child("name"), name, m) for m in names.is_dns1123_label(name)
        )
        if name in seen:
            errors.append(field.duplicate(path.child("name"), name))
        seen.add(name)
    number = integer(port.get("port")) or 0
    errors.extend(
        field.invalid(path.child("port"), number, m) for m in names.is_valid_port_num(number)
    )
    protocol = port.get("protocol")
    if not protocol:
        errors.append(field.required(path.child("protocol")))
    elif protocol not in podspec.PROTOCOLS:
        errors.append(field.not_supported(path.child("protocol"), protocol, podspec.PROTOCOLS))
    target = port.get("targetPort")
    if isinstance(target, str):
        errors.extend(
            field.invalid(path.child("targetPort"), target, m)
            for m in names.is_valid_port_name(target)
        )
    else:
        target_number = integer(target) or 0
        errors.extend(
            field.invalid(path.child("targetPort"), target_number, m)
            for m in names.is_valid_port_num(target_number)
        )
    return errors


def _externally_accessible(spec: Obj) -> bool:
    kind = spec.get("type")
    return kind in _WITH_NODE_PORTS or (
        kind == "ClusterIP" and bool(items(spec.get("externalIPs")))
    )


def validate_service_spec(spec: Obj) -> ErrorList:
    """ValidateService after the metadata."""
    errors: ErrorList = []
    kind = spec.get("type")
    ports = objects(spec.get("ports"))
    if not ports and not _headless(spec) and kind != "ExternalName":
        errors.append(field.required(SPEC.child("ports")))
    if kind in _WITH_NODE_PORTS and _headless(spec):
        errors.append(
            field.invalid(
                SPEC.child("clusterIPs").index(0),
                "None",
                f"may not be set to 'None' for {kind} services",
            )
        )
    if kind == "ExternalName":
        for key in ("clusterIPs", "ipFamilies"):
            if items(spec.get(key)):
                errors.append(
                    field.forbidden(SPEC.child(key), "may not be set for ExternalName services")
                )
        if spec.get("ipFamilyPolicy") is not None:
            errors.append(
                field.forbidden(
                    SPEC.child("ipFamilyPolicy"), "may not be set for ExternalName services"
                )
            )
        cname = text(spec.get("externalName")).removesuffix(".")
        if cname:
            errors.extend(
                field.invalid(SPEC.child("externalName"), cname, m)
                for m in names.is_dns1123_subdomain(cname)
            )
        else:
            errors.append(field.required(SPEC.child("externalName")))
    seen: set[str] = set()
    for position, port in enumerate(ports):
        errors.extend(
            _validate_port(port, len(ports) > 1, seen, SPEC.child("ports").index(position))
        )
    if spec.get("selector") is not None:
        errors.extend(meta.validate_labels(spec.get("selector"), SPEC.child("selector")))
    affinity = spec.get("sessionAffinity")
    if not affinity:
        errors.append(field.required(SPEC.child("sessionAffinity")))
    elif affinity not in _AFFINITIES:
        errors.append(field.not_supported(SPEC.child("sessionAffinity"), affinity, _AFFINITIES))
    if affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errors.append(
            field.forbidden(
                SPEC.child("sessionAffinityConfig"), "must not be set when session affinity is None"
            )
        )
    if not kind:
        errors.append(field.required(SPEC.child("type")))
    elif kind not in _TYPES:
        errors.append(field.not_supported(SPEC.child("type"), kind, _TYPES))
    if kind == "ClusterIP":
        for position, port in enumerate(ports):
            if integer(port.get("nodePort")):
                errors.append(
                    field.forbidden(
                        SPEC.child("ports").index(position).child("nodePort"),
                        "may not be used when `type` is 'ClusterIP'",
                    )
                )
    node_ports: set[tuple[str, int]] = set()
    for position, port in enumerate(ports):
        node_port = integer(port.get("nodePort"))
        if not node_port:
            continue
        node_key = (text(port.get("protocol")), node_port)
        if node_key in node_ports:
            errors.append(
                field.duplicate(SPEC.child("ports").index(position).child("nodePort"), node_port)
            )
        node_ports.add(node_key)
    pairs: set[tuple[str, int]] = set()
    for position, port in enumerate(ports):
        pair = (text(port.get("protocol")), integer(port.get("port")) or 0)
        if pair in pairs:
            errors.append(field.duplicate(SPEC.child("ports").index(position), _port_value(*pair)))
        pairs.add(pair)
    allocate = spec.get("allocateLoadBalancerNodePorts")
    if allocate is not None and kind != "LoadBalancer":
        errors.append(
            field.forbidden(
                SPEC.child("allocateLoadBalancerNodePorts"),
                "may only be used when `type` is 'LoadBalancer'",
            )
        )
    if kind == "LoadBalancer" and allocate is None:
        # Not under "spec": the real validator names the field this way.
        errors.append(field.required(Path("allocateLoadBalancerNodePorts")))
    external = spec.get("externalTrafficPolicy")
    where = SPEC.child("externalTrafficPolicy")
    if not _externally_accessible(spec):
        if external:
            errors.append(
                field.invalid(where, external, "may only be set for externally-accessible services")
            )
    elif not external:
        errors.append(field.required(where))
    elif external not in _TRAFFIC_POLICIES:
        errors.append(field.not_supported(where, external, _TRAFFIC_POLICIES))
    internal = spec.get("internalTrafficPolicy")
    if internal is None and kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        errors.append(field.required(SPEC.child("internalTrafficPolicy")))
    elif internal is not None and internal not in _TRAFFIC_POLICIES:
        errors.append(
            field.not_supported(SPEC.child("internalTrafficPolicy"), internal, _TRAFFIC_POLICIES)
        )
    return errors


def _drop_type_dependent_fields(spec: Obj, old_spec: Obj) -> None:
    """The service strategy's dropTypeDependentFields: a type change drops what only the old
    type needs, when the user left it as it was (so `kubectl patch -p '{"spec":{"type":
    "NodePort"}}'` of a LoadBalancer is not refused for its allocateLoadBalancerNodePorts)."""
    kind = spec.get("type")
    if kind == old_spec.get("type"):
        return
    if kind != "LoadBalancer":
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if key in spec and spec.get(key) == old_spec.get(key):
                del spec[key]
    if kind not in _WITH_NODE_PORTS:
        for key in ("externalTrafficPolicy", "healthCheckNodePort"):
            if key in spec and spec.get(key) == old_spec.get(key):
                del spec[key]


class ServiceStrategy(Strategy):
    name_rule = staticmethod(names.name_is_dns1035_label)

    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        old_spec = mapping(mapping(old).get("spec"))
        kind = spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["sessionAffinity"] == "ClientIP" and spec.get("sessionAffinityConfig") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
        if kind != "ExternalName":
            if not spec.get("clusterIP") and old_spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
            if not spec.get("clusterIP"):
                used = _used_cluster_ips(store)
                while True:
                    # The first addresses are kept for system services, as on a real cluster.
                    offset = random.randrange(10, SERVICE_RANGE.num_addresses - 1)
                    candidate = str(SERVICE_RANGE.network_address + offset)
                    if candidate not in used:
                        break
                spec["clusterIP"] = candidate
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if old is not None:
            _drop_type_dependent_fields(spec, old_spec)
        if kind == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        old_ports = {p.get("port"): p for p in objects(old_spec.get("ports"))}
        for port in objects(spec.get("ports")):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
            previous = old_ports.get(port.get("port"), {})
            if kind not in _WITH_NODE_PORTS and previous.get("nodePort") == port.get("nodePort"):
                # A type change away from node ports releases the ones the server allocated.
                port.pop("nodePort", None)
        if kind in _WITH_NODE_PORTS:
            spec.setdefault("externalTrafficPolicy", "Cluster")
        obj.setdefault("status", {"loadBalancer": {}})

    def validate(self, obj: Obj) -> ErrorList:
        return super().validate(obj) + validate_service_spec(mapping(obj.get("spec")))

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errors = meta.validate_object_meta_update(
            mapping(obj.get("metadata")), mapping(old.get("metadata"))
        )
        spec, old_spec = mapping(obj.get("spec")), mapping(old.get("spec"))
        if "ExternalName" not in (spec.get("type"), old_spec.get("type")) and not (
            _headless(spec) and _headless(old_spec)
        ):
            new_ips = [text(ip) for ip in items(spec.get("clusterIPs"))]
            for position, ip in enumerate(items(old_spec.get("clusterIPs"))):
                if position < len(new_ips) and new_ips[position] != ip:
                    errors.append(
                        field.invalid(
                            SPEC.child("clusterIPs").index(position),
                            GoValue.string_list(new_ips),
                            "may not change once set",
                        )
                    )
        return errors + self.validate(obj)

    def warnings_on_create(self, obj: Obj) -> list[str]:
        return service_warnings(obj)

    def warnings_on_update(self, obj: Obj, old: Obj) -> list[str]:
        return service_warnings(obj)

    def allocate(self, obj: Obj, old: Obj | None, store: Store) -> ErrorList:
        """The node-port allocator: keep a port's previous node port, else take a free one."""
        spec = child(obj, "spec")
        if spec.get("type") not in _WITH_NODE_PORTS:
            return []
        if (
            spec.get("type") == "LoadBalancer"
            and spec.get("allocateLoadBalancerNodePorts") is False
        ):
            return []
        service_meta = mapping(obj.get("metadata"))
        this = (service_meta.get("namespace"), service_meta.get("name"))
        used = _used_node_ports(store, this if old is not None else None)
        old_ports = {
            p.get("port"): p for p in objects(mapping(mapping(old).get("spec")).get("ports"))
        }
        errors: ErrorList = []
        for position, port in enumerate(objects(spec.get("ports"))):
            where = SPEC.child("ports").index(position).child("nodePort")
            wanted = integer(port.get("nodePort"))
            if not wanted:
                wanted = integer(old_ports.get(port.get("port"), {}).get("nodePort"))
                if not wanted or wanted in used:
                    wanted = next((p for p in NODE_PORTS if p not in used), None)
                if wanted is None:
                    errors.append(field.invalid(where, 0, "range is full"))
                    continue
                port["nodePort"] = wanted
            elif wanted not in NODE_PORTS:
                errors.append(
                    field.invalid(
                        where,
                        wanted,
                        "provided port is not in the valid range. The range of valid ports is "
                        f"{NODE_PORTS.start}-{NODE_PORTS.stop - 1}",
                    )
                )
                continue
            elif wanted in used:
                errors.append(field.invalid(where, wanted, "provided port is already allocated"))
                continue
            used.add(wanted)
        return errors


def service_warnings(service: Obj) -> list[str]:
    """GetWarningsForService: a deprecated annotation, addresses the Go of later releases will
    refuse or that are not written canonically, and fields the service's type ignores."""
    spec = mapping(service.get("spec"))
    warnings = []
    if _TOPOLOGY_HINTS in mapping(mapping(service.get("metadata")).get("annotations")):
        warnings.append(
            f"annotation {_TOPOLOGY_HINTS} is deprecated, please use {_TOPOLOGY_MODE} instead"
        )
    if text(spec.get("clusterIP")) not in ("", "None"):
        for position, ip in enumerate(items(spec.get("clusterIPs"))):
            warnings += _ip_warnings(SPEC.child("clusterIPs").index(position), text(ip))
    external_ips = items(spec.get("externalIPs"))
    for position, ip in enumerate(external_ips):
        warnings += _ip_warnings(SPEC.child("externalIPs").index(position), text(ip))
    if text(spec.get("loadBalancerIP")):
        warnings += _ip_warnings(SPEC.child("loadBalancerIP"), text(spec["loadBalancerIP"]))
    for position, cidr in enumerate(items(spec.get("loadBalancerSourceRanges"))):
        warnings += _cidr_warnings(SPEC.child("loadBalancerSourceRanges").index(position), cidr)
    external_name = spec.get("type") == "ExternalName"
    if external_name and external_ips:
        warnings.append('spec.externalIPs is ignored when spec.type is "ExternalName"')
    if not external_name and text(spec.get("externalName")):
        warnings.append('spec.externalName is ignored when spec.type is not "ExternalName"')
    return warnings


def _leading_zero(address: str) -> bool:
    """An IPv4 address with a zero-padded octet, which netip.ParseAddr refuses (CVE-2021-29923)
    though validation's ParseIPSloppy still reads it."""
    octets = address.split(".")
    return (
        len(octets) == 4
        and all(octet.isdigit() and int(octet) < 256 for octet in octets)
        and any(len(octet) > 1 and octet.startswith("0") for octet in octets)
    )


def _rfc5952(address: ipaddress.IPv6Address) -> str:
    """netip.Addr.String() of an IPv6 address (a mapped IPv4 one keeps its dotted quad)."""
    if address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return address.compressed


def _ip_warnings(path: Path, address: str) -> list[str]:
    if _leading_zero(address):
        error = f"ParseAddr({go_quote(address)}): IPv4 field has octet with leading zero"
        return [f"{path}: IP address {_LATER_INVALID}: {error}"]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return []
    if isinstance(parsed, ipaddress.IPv6Address) and _rfc5952(parsed) != address:
        return [
            f"{path}: IPv6 address {go_quote(address)} is not in RFC 5952 canonical format "
            f"({go_quote(_rfc5952(parsed))}), which may cause controller apply-loops"
        ]
    return []


def _cidr_warnings(path: Path, cidr: Any) -> list[str]:
    cidr = text(cidr)
    address, _, bits = cidr.partition("/")
    if _leading_zero(address):
        error = (
            f"netip.ParsePrefix({go_quote(cidr)}): ParseAddr({go_quote(address)}): IPv4 field "
            "has octet with leading zero"
        )
        return [f"{path}: IP prefix {_LATER_INVALID}: {error}"]
    try:
        parsed = ipaddress.ip_interface(cidr)
    except ValueError:
        return []
    if isinstance(parsed, ipaddress.IPv6Interface):
        # A prefix prints its address as given, host bits and all.
        canonical = f"{_rfc5952(parsed.ip)}/{bits}"
        if canonical != cidr:
            return [
                f"{path}: IPv6 prefix {go_quote(cidr)} is not in RFC 5952 canonical format "
                f"({go_quote(canonical)}), which may cause controller apply-loops"
            ]
    return []
