"""Defaulting and validation on writes, where clients depend on what the real API server does.

Every function takes the incoming object (and the stored one on updates) and fills what the
real server fills: Service cluster IPs and node ports, Job selectors and controller-uid labels,
Deployment and pod template defaults, empty statuses.  Violations raise 422 ``ApiError``s.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import random
import re
import uuid
from typing import Any

from sandbox.api import field
from sandbox.api.field import ErrorList, GoValue, Path
from sandbox.resources import Resource
from sandbox.storageclasses import default_class
from sandbox.store import ApiError, Store, now_rfc3339

Obj = dict[str, Any]

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_NAME = re.compile(f"^{_SUBDOMAIN}$")
# IsDNS1123Subdomain's message, word for word (apimachinery/pkg/util/validation).
_SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    f"for validation is '{_SUBDOMAIN}')"
)
_SPEC = Path("spec")
_SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")
_NODE_PORTS = range(30000, 32768)
_JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
_JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def prepare(resource: Resource, obj: Obj, old: Obj | None, store: Store) -> Obj:
    """Default and validate ``obj`` before it is written (``old`` is the stored version)."""
    obj["apiVersion"] = resource.api_version
    obj["kind"] = resource.kind
    meta = obj.setdefault("metadata", {})
    name = meta.get("name") or ""
    if name and (len(name) > 253 or not _NAME.match(name)):
        raise ApiError.invalid(
            resource.plural, name, [field.invalid(Path("metadata.name"), name, _SUBDOMAIN_HELP)]
        )
    if old is None:
        meta.pop("resourceVersion", None)
        meta["uid"] = str(uuid.uuid4())
    else:
        for kept in ("uid", "creationTimestamp"):
            meta[kept] = old["metadata"].get(kept)
    # Go's omitempty drops empty maps and lists: a patch leaving "annotations: {}" must not
    # show up as a difference.
    for optional in ("labels", "annotations", "ownerReferences", "finalizers"):
        if optional in meta and not meta[optional]:
            del meta[optional]
    handler = _DEFAULTERS.get(resource.plural)
    if handler:
        handler(obj, old, store)
    return obj


def _pod_spec(spec: Obj, restart_policy: str = "Always", at: Path = _SPEC) -> ErrorList:
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        image = str(container.get("image", ""))
        pull = "Always" if image.endswith(":latest") or ":" not in image else "IfNotPresent"
        container.setdefault("imagePullPolicy", pull)
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")
    if not spec.get("containers"):
        return [field.required(at.child("containers"))]
    # validateContainers: an image on every container, names unique among them.
    errors: ErrorList = []
    seen: set[str] = set()
    for position, container in enumerate(spec["containers"]):
        where = at.child("containers").index(position)
        # validateContainerCommon (the image) runs before the duplicate check, as in 1.32.
        if not container.get("image"):
            errors.append(field.required(where.child("image")))
        name = container.get("name")
        if name in seen:
            errors.append(field.duplicate(where.child("name"), name))
        seen.add(name)
    return errors


def _template(
    obj: Obj, plural: str, name: str, restart_policy: str = "Always", at: Path = _SPEC
) -> Obj:
    """Default a pod template; ``plural`` and ``name`` are of the object being written."""
    template = obj.setdefault("spec", {}).setdefault("template", {})
    template.setdefault("metadata", {})
    at = at.child("template", "spec")
    errors = _pod_spec(template.setdefault("spec", {}), restart_policy, at)
    if errors:
        raise ApiError.invalid(plural, name, errors)
    return template


def _require_selector(obj: Obj, plural: str) -> None:
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    name = obj["metadata"].get("name", "")
    if not (selector.get("matchLabels") or selector.get("matchExpressions")):
        raise ApiError.invalid(plural, name, [field.required(Path("spec.selector"))])
    labels = (spec.get("template") or {}).get("metadata", {}).get("labels") or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            raise ApiError.invalid(
                plural,
                name,
                [
                    field.invalid(
                        Path("spec.template.metadata.labels"),
                        GoValue.string_map(labels),
                        "`selector` does not match template `labels`",
                    )
                ],
            )


def _pods(obj: Obj, old: Obj | None, store: Store) -> None:
    errors = _pod_spec(obj.setdefault("spec", {}))
    if errors:
        raise ApiError.invalid("pods", obj["metadata"].get("name", ""), errors)
    if old is None:
        obj.setdefault("status", {}).setdefault("phase", "Pending")
        obj["status"].setdefault("qosClass", "BestEffort")


def _deployments(obj: Obj, old: Obj | None, store: Store) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    replicas = spec["replicas"]
    if isinstance(replicas, int) and replicas < 0:
        raise ApiError.invalid(
            "deployments",
            obj["metadata"].get("name", ""),
            [field.invalid(Path("spec.replicas"), replicas, "must be greater than or equal to 0")],
        )
    _template(obj, "deployments", obj["metadata"].get("name", ""))
    _require_selector(obj, "deployments")
    obj.setdefault("status", {})


def _replicasets(obj: Obj, old: Obj | None, store: Store) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template(obj, "replicasets", obj["metadata"].get("name", ""))
    _require_selector(obj, "replicasets")
    obj.setdefault("status", {"replicas": 0})


def _jobs(obj: Obj, old: Obj | None, store: Store) -> None:
    spec = obj.setdefault("spec", {})
    meta = obj["metadata"]
    for default, value in (
        ("parallelism", 1),
        ("completions", 1),
        ("backoffLimit", 6),
        ("completionMode", "NonIndexed"),
        ("suspend", False),
        ("podReplacementPolicy", "TerminatingOrFailed"),
    ):
        spec.setdefault(default, value)
    template = _template(obj, "jobs", meta.get("name", ""), restart_policy="Never")
    if template["spec"]["restartPolicy"] not in ("Never", "OnFailure"):
        raise ApiError.invalid(
            "jobs",
            meta.get("name", ""),
            [
                field.required(
                    Path("spec.template.spec.restartPolicy"), 'valid values: "OnFailure", "Never"'
                )
            ],
        )
    if old is None and not spec.get("manualSelector"):
        uid = meta["uid"]
        labels = template["metadata"].setdefault("labels", {})
        for key in _JOB_UID_LABELS:
            labels[key] = uid
        for key in _JOB_NAME_LABELS:
            labels[key] = meta.get("name", "")
        spec["selector"] = {"matchLabels": {_JOB_UID_LABELS[0]: uid}}
    if old is not None:
        old_spec = old.get("spec") or {}
        # ValidateImmutableField: the new value, then apimachinery's FieldImmutableErrorMsg.
        immutable = [
            field.invalid(Path("spec").child(name), spec.get(name), "field is immutable")
            for name in ("selector", "template", "completions", "completionMode")
            if name in old_spec and spec.get(name) != old_spec.get(name)
        ]
        if immutable:
            raise ApiError.invalid("jobs", meta.get("name", ""), immutable)
    obj.setdefault("status", {})


def _cronjobs(obj: Obj, old: Obj | None, store: Store) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    if not spec.get("schedule"):
        raise ApiError.invalid(
            "cronjobs", obj["metadata"].get("name", ""), [field.required(Path("spec.schedule"))]
        )
    job_template = spec.setdefault("jobTemplate", {})
    job_template.setdefault("metadata", {})
    name = obj["metadata"].get("name", "")
    _template(job_template, "cronjobs", name, "Never", Path("spec.jobTemplate.spec"))
    obj.setdefault("status", {})


def _used_cluster_ips(store: Store) -> set[str]:
    services, _ = store.list("services")
    return {str((s.get("spec") or {}).get("clusterIP")) for s in services}


def _used_node_ports(store: Store) -> set[int]:
    services, _ = store.list("services")
    return {
        int(port["nodePort"])
        for s in services
        for port in (s.get("spec") or {}).get("ports") or []
        if port.get("nodePort")
    }


def _services(obj: Obj, old: Obj | None, store: Store) -> None:
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if kind != "ExternalName":
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIP"):
            used = _used_cluster_ips(store)
            while True:
                # The first addresses are kept for system services, as on a real cluster.
                offset = random.randrange(10, _SERVICE_RANGE.num_addresses - 1)
                candidate = str(_SERVICE_RANGE.network_address + offset)
                if candidate not in used:
                    break
            spec["clusterIP"] = candidate
        spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    old_ports = {p.get("port"): p for p in old_spec.get("ports") or []}
    used_ports = _used_node_ports(store) - {p.get("nodePort") for p in old_ports.values()}
    for position, port in enumerate(spec.get("ports") or []):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        if kind in ("NodePort", "LoadBalancer"):
            if not port.get("nodePort"):
                port["nodePort"] = old_ports.get(port.get("port"), {}).get("nodePort") or next(
                    candidate for candidate in _NODE_PORTS if candidate not in used_ports
                )
            elif int(port["nodePort"]) in used_ports:
                raise ApiError.invalid(
                    "services",
                    obj["metadata"].get("name", ""),
                    [
                        field.invalid(
                            Path("spec.ports").index(position).child("nodePort"),
                            int(port["nodePort"]),
                            "provided port is already allocated",
                        )
                    ],
                )
            used_ports.add(int(port["nodePort"]))
        else:
            port.pop("nodePort", None)
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    obj.setdefault("status", {"loadBalancer": {}})


def _secrets(obj: Obj, old: Obj | None, store: Store) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    data = obj.setdefault("data", {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if not data:
        obj.pop("data")


PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def _protect(obj: Obj, finalizer: str) -> None:
    """The StorageObjectInUseProtection admission plugin: every new claim and volume carries
    the finalizer its protection controller removes once nothing uses it."""
    finalizers = obj["metadata"].setdefault("finalizers", [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)


def _claims(obj: Obj, old: Obj | None, store: Store) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    if old is None:
        # Only a claim without the field gets the default: "" asks for no class at all.
        if spec.get("storageClassName") is None and (name := default_class(store)):
            spec["storageClassName"] = name
        _protect(obj, PVC_PROTECTION)
    obj.setdefault("status", {"phase": "Pending"})


def _persistent_volumes(obj: Obj, old: Obj | None, store: Store) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    if isinstance(spec.get("hostPath"), dict):
        spec["hostPath"].setdefault("type", "")  # HostPathUnset
    if old is None:
        _protect(obj, PV_PROTECTION)
        obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": now_rfc3339()}


def _namespaces(obj: Obj, old: Obj | None, store: Store) -> None:
    spec: Obj = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
    obj["spec"] = spec
    if old is None:
        # The namespace strategy: created Active, always with the namespace controller's
        # finalizer; later only the controller's finalize removes it.
        finalizers = list(spec.get("finalizers") or [])
        if "kubernetes" not in finalizers:
            finalizers.append("kubernetes")
        spec["finalizers"] = finalizers
        obj["status"] = {"phase": "Active"}
    else:
        spec["finalizers"] = copy.deepcopy((old.get("spec") or {}).get("finalizers") or [])
        if not spec["finalizers"]:
            del spec["finalizers"]
    labels = obj["metadata"].setdefault("labels", {})
    labels.setdefault("kubernetes.io/metadata.name", obj["metadata"].get("name", ""))


def _hpas(obj: Obj, old: Obj | None, store: Store) -> None:
    obj.setdefault("spec", {}).setdefault("minReplicas", 1)
    obj.setdefault("status", {"currentReplicas": 0, "desiredReplicas": 0})


def _budgets(obj: Obj, old: Obj | None, store: Store) -> None:
    obj.setdefault(
        "status",
        {
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "disruptionsAllowed": 0,
            "expectedPods": 0,
        },
    )


def _network_policies(obj: Obj, old: Obj | None, store: Store) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("podSelector", {})
    if "policyTypes" not in spec:
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])


_DEFAULTERS = {
    "pods": _pods,
    "deployments": _deployments,
    "replicasets": _replicasets,
    "jobs": _jobs,
    "cronjobs": _cronjobs,
    "services": _services,
    "secrets": _secrets,
    "persistentvolumeclaims": _claims,
    "persistentvolumes": _persistent_volumes,
    "namespaces": _namespaces,
    "horizontalpodautoscalers": _hpas,
    "poddisruptionbudgets": _budgets,
    "networkpolicies": _network_policies,
}
