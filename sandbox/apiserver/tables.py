"""Server-side printing: the ``Table`` responses ``kubectl get`` asks for, per kind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.storageclasses import DEFAULT_CLASS_ANNOTATIONS

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any]]  # (name, type, cell)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """Durations the way kubectl prints ages: 45s, 3m12s, 15m, 2h10m, 5d."""
    seconds = max(int(seconds), 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def since(value: str | None) -> str:
    moment = _parse_time(value)
    if moment is None:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - moment).total_seconds())


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def age(obj: Obj) -> str:
    return since(_meta(obj).get("creationTimestamp"))


def pod_status(pod: Obj) -> str:
    """The STATUS column of ``kubectl get pods``, following kubectl's printPod."""
    status = _status(pod)
    reason = status.get("reason") or status.get("phase") or "Pending"
    for container in status.get("initContainerStatuses") or []:
        state = container.get("state") or {}
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            return f"Init:{terminated.get('reason') or 'Error'}"
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") not in (None, "PodInitializing"):
            return f"Init:{waiting['reason']}"
        return "Init:0/1"
    running = False
    for container in reversed(status.get("containerStatuses") or []):
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif terminated := state.get("terminated"):
            reason = terminated.get("reason") or (
                f"Signal:{terminated['signal']}"
                if terminated.get("signal")
                else f"ExitCode:{terminated.get('exitCode')}"
            )
        elif "running" in state and container.get("ready"):
            running = True
    if running and reason == "Completed":
        reason = "Running"
    if _meta(pod).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_ready(pod: Obj) -> str:
    statuses = _status(pod).get("containerStatuses") or []
    total = len(_spec(pod).get("containers") or []) or len(statuses)
    ready = sum(1 for container in statuses if container.get("ready"))
    return f"{ready}/{total}"


def _pod_restarts(pod: Obj) -> str:
    statuses = _status(pod).get("containerStatuses") or []
    return str(sum(int(container.get("restartCount") or 0) for container in statuses))


def _service_ports(service: Obj) -> str:
    parts = []
    for port in _spec(service).get("ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _external_ip(service: Obj) -> str:
    spec = _spec(service)
    ingress = (_status(service).get("loadBalancer") or {}).get("ingress") or []
    addresses = [entry.get("ip") or entry.get("hostname") for entry in ingress]
    addresses += spec.get("externalIPs") or []
    if addresses:
        return ",".join(str(address) for address in addresses if address)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _job_status(job: Obj) -> str:
    conditions = {c.get("type"): c.get("status") for c in _status(job).get("conditions") or []}
    for kind in ("Complete", "Failed", "FailureTarget", "SuccessCriteriaMet", "Suspended"):
        if conditions.get(kind) == "True":
            return {"FailureTarget": "Failing", "SuccessCriteriaMet": "Completing"}.get(kind, kind)
    return "Running"


def _job_duration(job: Obj) -> str:
    start = _parse_time(_status(job).get("startTime"))
    if start is None:
        return ""
    end = _parse_time(_status(job).get("completionTime")) or datetime.now(UTC)
    return human_duration((end - start).total_seconds())


def _selector_text(selector: Obj | None) -> str:
    if not selector:
        return "<none>"
    labels = selector.get("matchLabels") or {}
    return ",".join(f"{key}={value}" for key, value in labels.items()) or "<none>"


def _hpa_targets(hpa: Obj) -> str:
    current = {
        ((m.get("resource") or {}).get("name")): (m.get("resource") or {}).get("current") or {}
        for m in _status(hpa).get("currentMetrics") or []
    }
    targets = []
    for metric in _spec(hpa).get("metrics") or []:
        resource = metric.get("resource") or {}
        target = resource.get("target") or {}
        now = current.get(resource.get("name"), {}).get("averageUtilization")
        shown = f"{now}%" if now is not None else "<unknown>"
        if target.get("averageUtilization") is not None:
            targets.append(f"{resource.get('name')}: {shown}/{target['averageUtilization']}%")
    return ", ".join(targets) or "<none>"


def _ready_of(replicas_key: str) -> Callable[[Obj], str]:
    return lambda obj: f"{_status(obj).get(replicas_key) or 0}/{_spec(obj).get('replicas', 1)}"


def _pod_template(obj: Obj) -> Obj:
    spec = _spec(obj)
    if "jobTemplate" in spec:
        spec = (spec["jobTemplate"] or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def _containers(obj: Obj) -> str:
    return ",".join(str(c.get("name", "")) for c in _pod_template(obj).get("containers") or [])


def _images(obj: Obj) -> str:
    return ",".join(str(c.get("image", "")) for c in _pod_template(obj).get("containers") or [])


# The extra columns of `kubectl get -o wide` for workloads.
_WIDE_WORKLOAD: list[Column] = [
    ("Containers", "string", _containers),
    ("Images", "string", _images),
    ("Selector", "string", lambda o: _selector_text(_spec(o).get("selector"))),
]
_WIDE = {
    "IP",
    "Node",
    "Nominated Node",
    "Readiness Gates",
    "Containers",
    "Images",
    "Selector",
    "VolumeMode",
}
# A node's wide columns: its External-IP is wide, a Service's is not.
_WIDE_NODE = {"Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}


def _node_address(node: Obj, kind: str) -> str:
    """The node's first address of that type (getNodeExternalIP and its InternalIP twin)."""
    found = [
        a.get("address") for a in _status(node).get("addresses") or [] if a.get("type") == kind
    ]
    return str(found[0]) if found else "<none>"


def _access_modes(modes: list[str] | None) -> str:
    """helper.GetAccessModesAsString: RWO, ROX, RWX, RWOP, in that order, once each."""
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    present = set(modes or [])
    return ",".join(abbreviation for mode, abbreviation in short.items() if mode in present)


def _phase_or_terminating(obj: Obj, default: str) -> str:
    return (
        "Terminating" if _meta(obj).get("deletionTimestamp") else _status(obj).get("phase", default)
    )


def _volume_attributes_class(obj: Obj) -> str:
    return _spec(obj).get("volumeAttributesClassName") or "<unset>"


def _claim(pv: Obj) -> str:
    ref = _spec(pv).get("claimRef")
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""


def _keys(field: str) -> Callable[[Obj], int]:
    return lambda obj: len(obj.get(field) or {})


COLUMNS: dict[str, list[Column]] = {
    "pods": [
        ("Ready", "string", _pod_ready),
        ("Status", "string", pod_status),
        ("Restarts", "string", _pod_restarts),
        ("Age", "string", age),
        ("IP", "string", lambda o: _status(o).get("podIP") or "<none>"),
        ("Node", "string", lambda o: _spec(o).get("nodeName") or "<none>"),
        ("Nominated Node", "string", lambda o: _status(o).get("nominatedNodeName") or "<none>"),
        ("Readiness Gates", "string", lambda o: "<none>"),
    ],
    "deployments": [
        ("Ready", "string", _ready_of("readyReplicas")),
        ("Up-to-date", "integer", lambda o: _status(o).get("updatedReplicas") or 0),
        ("Available", "integer", lambda o: _status(o).get("availableReplicas") or 0),
        ("Age", "string", age),
        *_WIDE_WORKLOAD,
    ],
    "replicasets": [
        ("Desired", "integer", lambda o: _spec(o).get("replicas", 1)),
        ("Current", "integer", lambda o: _status(o).get("replicas") or 0),
        ("Ready", "integer", lambda o: _status(o).get("readyReplicas") or 0),
        ("Age", "string", age),
        *_WIDE_WORKLOAD,
    ],
    "jobs": [
        ("Status", "string", _job_status),
        (
            "Completions",
            "string",
            lambda o: f"{_status(o).get('succeeded') or 0}/{_spec(o).get('completions', 1)}",
        ),
        ("Duration", "string", _job_duration),
        ("Age", "string", age),
        *_WIDE_WORKLOAD,
    ],
    "cronjobs": [
        ("Schedule", "string", lambda o: _spec(o).get("schedule", "")),
        ("Timezone", "string", lambda o: _spec(o).get("timeZone") or "<none>"),
        ("Suspend", "boolean", lambda o: "True" if _spec(o).get("suspend") else "False"),
        ("Active", "integer", lambda o: len(_status(o).get("active") or [])),
        (
            "Last Schedule",
            "string",
            lambda o: (
                since(_status(o).get("lastScheduleTime"))
                if _status(o).get("lastScheduleTime")
                else "<none>"
            ),
        ),
        ("Age", "string", age),
    ],
    "services": [
        ("Type", "string", lambda o: _spec(o).get("type", "ClusterIP")),
        ("Cluster-IP", "string", lambda o: _spec(o).get("clusterIP") or "<none>"),
        ("External-IP", "string", _external_ip),
        ("Port(s)", "string", _service_ports),
        ("Age", "string", age),
        (
            "Selector",
            "string",
            lambda o: (
                ",".join(f"{k}={v}" for k, v in (_spec(o).get("selector") or {}).items())
                or "<none>"
            ),
        ),
    ],
    "endpoints": [
        (
            "Endpoints",
            "string",
            lambda o: (
                ",".join(
                    f"{address.get('ip')}:{port.get('port')}"
                    for subset in o.get("subsets") or []
                    for address in subset.get("addresses") or []
                    for port in subset.get("ports") or []
                )
                or "<none>"
            ),
        ),
        ("Age", "string", age),
    ],
    "endpointslices": [
        ("AddressType", "string", lambda o: o.get("addressType", "")),
        (
            "Ports",
            "string",
            lambda o: ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>",
        ),
        (
            "Endpoints",
            "string",
            lambda o: (
                ",".join(a for e in o.get("endpoints") or [] for a in e.get("addresses") or [])
                or "<unset>"
            ),
        ),
        ("Age", "string", age),
    ],
    "configmaps": [("Data", "integer", _keys("data")), ("Age", "string", age)],
    "secrets": [
        ("Type", "string", lambda o: o.get("type", "Opaque")),
        ("Data", "integer", _keys("data")),
        ("Age", "string", age),
    ],
    "serviceaccounts": [
        ("Secrets", "integer", lambda o: len(o.get("secrets") or [])),
        ("Age", "string", age),
    ],
    "persistentvolumeclaims": [
        ("Status", "string", lambda o: _phase_or_terminating(o, "Pending")),
        ("Volume", "string", lambda o: _spec(o).get("volumeName", "")),
        ("Capacity", "string", lambda o: (_status(o).get("capacity") or {}).get("storage", "")),
        ("Access Modes", "string", lambda o: _access_modes(_status(o).get("accessModes"))),
        ("StorageClass", "string", lambda o: _spec(o).get("storageClassName") or ""),
        ("VolumeAttributesClass", "string", _volume_attributes_class),
        ("Age", "string", age),
        ("VolumeMode", "string", lambda o: _spec(o).get("volumeMode") or "<unset>"),
    ],
    "persistentvolumes": [
        ("Capacity", "string", lambda o: (_spec(o).get("capacity") or {}).get("storage", "")),
        ("Access Modes", "string", lambda o: _access_modes(_spec(o).get("accessModes"))),
        ("Reclaim Policy", "string", lambda o: _spec(o).get("persistentVolumeReclaimPolicy", "")),
        ("Status", "string", lambda o: _phase_or_terminating(o, "")),
        ("Claim", "string", _claim),
        ("StorageClass", "string", lambda o: _spec(o).get("storageClassName") or ""),
        ("VolumeAttributesClass", "string", _volume_attributes_class),
        ("Reason", "string", lambda o: _status(o).get("reason", "")),
        ("Age", "string", age),
        ("VolumeMode", "string", lambda o: _spec(o).get("volumeMode") or "<unset>"),
    ],
    "events": [
        (
            "Last Seen",
            "string",
            lambda o: since(
                o.get("lastTimestamp") or o.get("eventTime") or _meta(o).get("creationTimestamp")
            ),
        ),
        ("Type", "string", lambda o: o.get("type", "")),
        ("Reason", "string", lambda o: o.get("reason", "")),
        (
            "Object",
            "string",
            lambda o: (
                f"{(o.get('involvedObject') or {}).get('kind', '').lower()}/"
                f"{(o.get('involvedObject') or {}).get('name', '')}"
            ),
        ),
        ("Message", "string", lambda o: o.get("message", "")),
    ],
    "horizontalpodautoscalers": [
        (
            "Reference",
            "string",
            lambda o: (
                f"{(_spec(o).get('scaleTargetRef') or {}).get('kind')}/"
                f"{(_spec(o).get('scaleTargetRef') or {}).get('name')}"
            ),
        ),
        ("Targets", "string", _hpa_targets),
        ("MinPods", "string", lambda o: _spec(o).get("minReplicas", 1)),
        ("MaxPods", "integer", lambda o: _spec(o).get("maxReplicas", 0)),
        ("Replicas", "integer", lambda o: _status(o).get("currentReplicas") or 0),
        ("Age", "string", age),
    ],
    "poddisruptionbudgets": [
        ("Min Available", "string", lambda o: _spec(o).get("minAvailable", "N/A")),
        ("Max Unavailable", "string", lambda o: _spec(o).get("maxUnavailable", "N/A")),
        ("Allowed Disruptions", "integer", lambda o: _status(o).get("disruptionsAllowed") or 0),
        ("Age", "string", age),
    ],
    "networkpolicies": [
        ("Pod-Selector", "string", lambda o: _selector_text(_spec(o).get("podSelector"))),
        ("Age", "string", age),
    ],
    "storageclasses": [
        ("Provisioner", "string", lambda o: o.get("provisioner", "")),
        ("ReclaimPolicy", "string", lambda o: o.get("reclaimPolicy", "Delete")),
        ("VolumeBindingMode", "string", lambda o: o.get("volumeBindingMode", "Immediate")),
        (
            "AllowVolumeExpansion",
            "string",
            lambda o: str(bool(o.get("allowVolumeExpansion"))).lower(),
        ),
        ("Age", "string", age),
    ],
    "leases": [
        ("Holder", "string", lambda o: _spec(o).get("holderIdentity") or ""),
        ("Age", "string", age),
    ],
    "namespaces": [
        ("Status", "string", lambda o: _status(o).get("phase", "Active")),
        ("Age", "string", age),
    ],
    "nodes": [
        ("Status", "string", lambda o: "Ready"),
        ("Roles", "string", lambda o: "control-plane"),
        ("Age", "string", age),
        (
            "Version",
            "string",
            lambda o: (_status(o).get("nodeInfo") or {}).get("kubeletVersion", ""),
        ),
        ("Internal-IP", "string", lambda o: _node_address(o, "InternalIP")),
        ("External-IP", "string", lambda o: _node_address(o, "ExternalIP")),
        ("OS-Image", "string", lambda o: (_status(o).get("nodeInfo") or {}).get("osImage", "")),
        (
            "Kernel-Version",
            "string",
            lambda o: (_status(o).get("nodeInfo") or {}).get("kernelVersion", ""),
        ),
        (
            "Container-Runtime",
            "string",
            lambda o: (_status(o).get("nodeInfo") or {}).get("containerRuntimeVersion", ""),
        ),
    ],
}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _storage_class_name(obj: Obj) -> str:
    """printStorageClass: the default class is named so (IsDefaultAnnotation)."""
    annotations = _meta(obj).get("annotations") or {}
    default = any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)
    return _name(obj) + (" (default)" if default else "")


_NAMES: dict[str, Callable[[Obj], str]] = {"storageclasses": _storage_class_name}


def _partial(obj: Obj) -> Obj:
    meta = {key: value for key, value in _meta(obj).items() if key != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


# The ?includeObject= choices: what each row carries besides its cells. kubectl asks for
# Object when it must read fields the cells lack (get --sort-by=.lastTimestamp).
INCLUDE_OBJECT = ("None", "Metadata", "Object")


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "Object":
        return obj
    return _partial(obj) if include == "Metadata" else None


def table(
    resource: str, objects: list[Obj], resource_version: int | str, include: str = "Metadata"
) -> Obj:
    """A meta.k8s.io/v1 Table of ``objects``, each row with what ``include`` names of its
    object (one of INCLUDE_OBJECT), like the real server."""
    columns = COLUMNS.get(resource, [("Age", "string", age)])
    definitions = [
        {"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}
    ] + [
        {
            "name": name,
            "type": kind,
            "format": "",
            "description": "",
            "priority": 1 if name in _WIDE or (resource == "nodes" and name in _WIDE_NODE) else 0,
        }
        for name, kind, _ in columns
    ]
    rows = [
        {
            "cells": [_NAMES.get(resource, _name)(obj)] + [cell(obj) for _, _, cell in columns],
            "object": _row_object(obj, include),
        }
        for obj in objects
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(resource_version)},
        "columnDefinitions": definitions,
        "rows": rows,
    }
