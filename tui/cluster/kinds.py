"""The kinds of object the TUI knows: one table of names, API calls, columns and rows.

Everything that differs from one kind to the next is an entry here: the plural the watch and
the screens use as a key, the tab title, the name kubectl spells, the generated API class and
method suffix (``list_namespaced_<suffix>``, ``read_…``, ``delete_…``, ``patch_…``), the
field selector of the watch, and the columns with the function computing a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from tui.cluster import rows
from tui.cluster.connection import ClusterError, Connection

Obj = dict[str, Any]
RowFn = Callable[[Obj, datetime], list[str]]


@dataclass(frozen=True)
class Kind:
    plural: str  # the key everywhere: "pods", "cronjobs"
    title: str  # the dashboard tab
    kubectl: str  # as kubectl spells it in commands: "pod", "pvc"
    api: type  # the generated API group class
    suffix: str  # of the generated <verb>_namespaced_<suffix> methods
    columns: tuple[str, ...] = ()
    row: RowFn | None = None  # None: not shown in a table (not watched)
    field_selector: str | None = None  # what the watch keeps

    def method(self, conn: Connection, verb: str) -> Callable[..., Any]:
        """The generated API method for ``verb`` (list, read, delete, patch) on this kind."""
        method: Callable[..., Any] = getattr(
            self.api(conn.api_client), f"{verb}_namespaced_{self.suffix}"
        )
        return method


_ALL = (
    Kind(
        "deployments",
        "Deployments",
        "deployment",
        client.AppsV1Api,
        "deployment",
        ("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"),
        rows.deployment_row,
    ),
    Kind(
        "pods",
        "Pods",
        "pod",
        client.CoreV1Api,
        "pod",
        ("NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE"),
        rows.pod_row,
    ),
    Kind(
        "jobs",
        "Jobs",
        "job",
        client.BatchV1Api,
        "job",
        ("NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"),
        rows.job_row,
    ),
    Kind(
        "cronjobs",
        "CronJobs",
        "cronjob",
        client.BatchV1Api,
        "cron_job",
        ("NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"),
        rows.cronjob_row,
    ),
    Kind(
        "services",
        "Services",
        "service",
        client.CoreV1Api,
        "service",
        ("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"),
        rows.service_row,
    ),
    Kind(
        "persistentvolumeclaims",
        "PVCs",
        "pvc",
        client.CoreV1Api,
        "persistent_volume_claim",
        ("NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"),
        rows.pvc_row,
    ),
    Kind(
        "horizontalpodautoscalers",
        "HPA",
        "hpa",
        client.AutoscalingV2Api,
        "horizontal_pod_autoscaler",
        ("NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "DESIRED", "AGE"),
        rows.hpa_row,
    ),
    Kind(
        "events",
        "Warnings",
        "event",
        client.CoreV1Api,
        "event",
        ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"),
        rows.event_row,
        field_selector="type=Warning",
    ),
    # Not watched: kustomize generates it, and delete must be able to remove it.
    Kind("configmaps", "ConfigMaps", "configmap", client.CoreV1Api, "config_map"),
)

KINDS: dict[str, Kind] = {kind.plural: kind for kind in _ALL}
# The kinds watched and shown in the dashboard's tabs, in tab order.
WATCHED: tuple[str, ...] = tuple(kind.plural for kind in _ALL if kind.row is not None)


def kind(plural: str) -> Kind:
    """The entry for ``plural``; ``ClusterError`` for a kind the TUI does not know."""
    try:
        return KINDS[plural]
    except KeyError:
        raise ClusterError(f"unknown kind {plural!r}") from None


def row(plural: str, obj: Obj, now: datetime | None = None) -> tuple[str, ...]:
    """The cells of ``obj``'s row under the kind's columns, ages measured at ``now``."""
    fn = KINDS[plural].row
    assert fn is not None, f"{plural} has no table"
    return tuple(fn(obj, now or datetime.now(UTC)))
