"""Table rows for each watched kind, computed from the API's object dicts as kubectl shows them.

Pure functions: no client, no clock of their own (``now`` is passed in), so the screens and
the tests can call them directly. Which function serves which kind, under which column
labels, is in ``tui.cluster.kinds``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

Obj = dict[str, Any]

NONE = "<none>"
_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def row_key(obj: Obj) -> str:
    """A stable key for the object's row: its uid (namespace/name if it has none yet)."""
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}")


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp from the API (with or without fractional seconds)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """A duration the way kubectl prints ages: 45s, 3m20s, 42m, 5h12m, 20h, 3d4h, 200d, 2y10d."""
    total = int(seconds)
    if total < 0:
        return "0s"
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 192:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years, rest_days = divmod(days, 365)
    if years < 8:
        return f"{years}y{rest_days}d" if rest_days else f"{years}y"
    return f"{years}y"


def age(timestamp: str | None, now: datetime) -> str:
    """How long ago ``timestamp`` was, or <unknown> without one."""
    when = parse_time(timestamp)
    return human_duration((now - when).total_seconds()) if when else "<unknown>"


def pod_status(pod: Obj) -> str:
    """The STATUS column of ``kubectl get pods``: phase refined by container states."""
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"

    init_statuses = status.get("initContainerStatuses") or []
    init_total = len(spec.get("initContainers") or [])
    initializing = False
    for index, container in enumerate(init_statuses):
        state = container.get("state") or {}
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            reason = "Init:" + (terminated.get("reason") or _exit_text(terminated))
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{init_total}"
        initializing = True
        break

    if not initializing:
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                reason = _exit_text(terminated)
            elif state.get("running") and container.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if _pod_ready(status) else "NotReady"

    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return str(reason)


def pod_restarts(pod: Obj, now: datetime) -> str:
    """RESTARTS as kubectl shows it: the sum, with how long ago the last one was."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    last = [
        parse_time(((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        for c in statuses
    ]
    finished = [t for t in last if t is not None]
    if restarts and finished:
        return f"{restarts} ({human_duration((now - max(finished)).total_seconds())} ago)"
    return str(restarts)


def job_status(job: Obj) -> str:
    """The STATUS column of ``kubectl get jobs``, checked in kubectl's order."""
    conditions = {
        c.get("type")
        for c in (job.get("status") or {}).get("conditions") or []
        if c.get("status") == "True"
    }
    for condition in ("Complete", "Failed"):
        if condition in conditions:
            return condition
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    for condition in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if condition in conditions:
            return condition
    return "Running"


def pods_of_job(items: Iterable[Obj], job_uid: str) -> list[Obj]:
    """The Pods among ``items`` that belong to the Job with ``job_uid``.

    By owner reference, or by the controller-uid label the Job controller sets (pods whose
    owner reference was orphaned still carry it).
    """
    labels = ("batch.kubernetes.io/controller-uid", "controller-uid")

    def belongs(pod: Obj) -> bool:
        pod_labels = (pod.get("metadata") or {}).get("labels") or {}
        return _owned_by(pod, job_uid) or any(pod_labels.get(label) == job_uid for label in labels)

    return [pod for pod in items if belongs(pod)]


def _owned_by(obj: Obj, owner_uid: str) -> bool:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(owner.get("uid") == owner_uid for owner in owners)


def _exit_text(terminated: Obj) -> str:
    if terminated.get("signal"):
        return f"Signal:{terminated['signal']}"
    return f"ExitCode:{terminated.get('exitCode', 0)}"


def _pod_ready(status: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _created(obj: Obj, now: datetime) -> str:
    return age((obj.get("metadata") or {}).get("creationTimestamp"), now)


def pod_row(pod: Obj, now: datetime) -> list[str]:
    spec = pod.get("spec") or {}
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    total = len(spec.get("containers") or []) or len(statuses)
    return [
        _name(pod),
        f"{ready}/{total}",
        pod_status(pod),
        pod_restarts(pod, now),
        _created(pod, now),
        spec.get("nodeName") or NONE,
    ]


def deployment_row(deployment: Obj, now: datetime) -> list[str]:
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    desired = spec.get("replicas", 1)
    return [
        _name(deployment),
        f"{status.get('readyReplicas') or 0}/{desired}",
        str(status.get("updatedReplicas") or 0),
        str(status.get("availableReplicas") or 0),
        _created(deployment, now),
    ]


def job_row(job: Obj, now: datetime) -> list[str]:
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    succeeded = status.get("succeeded") or 0
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 1) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    started = parse_time(status.get("startTime"))
    finished = parse_time(status.get("completionTime")) or now
    duration = human_duration((finished - started).total_seconds()) if started else ""
    return [_name(job), job_status(job), completions, duration, _created(job, now)]


def cronjob_row(cronjob: Obj, now: datetime) -> list[str]:
    spec = cronjob.get("spec") or {}
    status = cronjob.get("status") or {}
    last = status.get("lastScheduleTime")
    return [
        _name(cronjob),
        str(spec.get("schedule", "")),
        "True" if spec.get("suspend") else "False",
        str(len(status.get("active") or [])),
        age(last, now) if last else NONE,
        _created(cronjob, now),
    ]


def service_row(service: Obj, now: datetime) -> list[str]:
    spec = service.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    addresses = [i.get("ip") or i.get("hostname") for i in ingress]
    external = [a for a in addresses if a] + (spec.get("externalIPs") or [])
    if kind == "ExternalName":
        external_ip = spec.get("externalName") or NONE
    elif external:
        external_ip = ",".join(external)
    else:
        external_ip = "<pending>" if kind == "LoadBalancer" else NONE
    ports = []
    for port in spec.get("ports") or []:
        text = str(port.get("port"))
        if port.get("nodePort") and kind in ("NodePort", "LoadBalancer"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    return [
        _name(service),
        kind,
        spec.get("clusterIP") or NONE,
        external_ip,
        ",".join(ports) or NONE,
        _created(service, now),
    ]


def pvc_row(claim: Obj, now: datetime) -> list[str]:
    spec = claim.get("spec") or {}
    status = claim.get("status") or {}
    modes = status.get("accessModes") or spec.get("accessModes") or []
    bound = status.get("phase") == "Bound"
    return [
        _name(claim),
        str(status.get("phase", "Pending")),
        spec.get("volumeName") or "",
        str((status.get("capacity") or {}).get("storage", "")) if bound else "",
        ",".join(_ACCESS_MODES.get(m, m) for m in modes) if bound else "",
        spec.get("storageClassName") or NONE,
        _created(claim, now),
    ]


def hpa_targets(hpa: Obj) -> str:
    """TARGETS: each resource metric as ``cpu: current/target`` (``<unknown>`` until measured)."""
    spec = hpa.get("spec") or {}
    current = {
        (m.get("resource") or {}).get("name"): (m.get("resource") or {}).get("current") or {}
        for m in (hpa.get("status") or {}).get("currentMetrics") or []
        if m.get("type") == "Resource"
    }
    parts = []
    for metric in spec.get("metrics") or []:
        if metric.get("type") != "Resource":
            continue
        resource = metric.get("resource") or {}
        name = resource.get("name", "")
        target = resource.get("target") or {}
        measured = current.get(name) or {}
        if target.get("type") == "Utilization":
            value = measured.get("averageUtilization")
            now_text = f"{value}%" if value is not None else "<unknown>"
            parts.append(f"{name}: {now_text}/{target.get('averageUtilization')}%")
        else:
            value = measured.get("averageValue") or measured.get("value")
            wanted = target.get("averageValue") or target.get("value")
            parts.append(f"{name}: {value or '<unknown>'}/{wanted}")
    return ", ".join(parts) or "<none>"


def hpa_row(hpa: Obj, now: datetime) -> list[str]:
    spec = hpa.get("spec") or {}
    status = hpa.get("status") or {}
    target = spec.get("scaleTargetRef") or {}
    return [
        _name(hpa),
        f"{target.get('kind', '')}/{target.get('name', '')}",
        hpa_targets(hpa),
        str(spec.get("minReplicas", 1)),
        str(spec.get("maxReplicas", "")),
        str(status.get("currentReplicas") or 0),
        str(status.get("desiredReplicas") or 0),
        _created(hpa, now),
    ]


def event_row(event: Obj, now: datetime) -> list[str]:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    last_seen = (
        (event.get("series") or {}).get("lastObservedTime")
        or event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
    )
    count = event.get("count") or (event.get("series") or {}).get("count") or 1
    message = " ".join(str(event.get("message") or event.get("note") or "").split())
    return [
        age(last_seen, now) + (f" (x{count})" if count > 1 else ""),
        str(event.get("type", "")),
        str(event.get("reason", "")),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        message,
    ]
