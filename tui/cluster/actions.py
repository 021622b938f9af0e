"""What the TUI does to the cluster: retrain, run the batch now, suspend, restart, scale, delete.

Each action calls the API with JSON and returns an ``ActionResult`` carrying the equivalent
kubectl command (for the TUI's command log) and a one-line message for the user.
"""

from __future__ import annotations

import copy
import json
import shlex
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from kubernetes import client

from tui.cluster import kinds
from tui.cluster.connection import (
    REQUEST_TIMEOUT,
    ClusterError,
    Connection,
    call_json,
    call_raw,
    cluster_error,
)
from tui.cluster.names import API_DEPLOYMENT, BATCH_CRONJOB, TRAINING_JOB, TRAINING_PREFIX
from tui.cluster.streams import iter_lines

# Waits watch in windows this long (seconds) so that setting ``stop`` ends them soon after.
WAIT_WINDOW = 5
# Labels the Job controller adds to a Job and its template; a copy must not carry them, or
# its selector would match the original Job's pods.
_JOB_CONTROLLER_LABELS = (
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
)
_JQ_COPY_JOB = (
    'def keep: with_entries(select(.key | test("controller-uid|job-name") | not)); '
    "{apiVersion, kind, metadata: {name: $name, labels: (.metadata.labels // {} | keep)}, "
    "spec: (.spec | del(.selector, .manualSelector) "
    "| .template.metadata.labels |= (. // {} | keep))}"
)


@dataclass(frozen=True)
class ActionResult:
    kubectl: str  # the equivalent command, for the command log
    message: str  # one line for the user
    name: str | None = None  # the object created or changed
    output: str = ""  # text to show (describe)


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _strip_controller_labels(labels: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if k not in _JOB_CONTROLLER_LABELS}


def job_copy(job: dict[str, Any], name: str) -> dict[str, Any]:
    """A new Job with ``job``'s template, ready to create: no selector, no controller labels."""
    spec = copy.deepcopy(job["spec"])
    spec.pop("selector", None)
    spec.pop("manualSelector", None)
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    template_meta["labels"] = _strip_controller_labels(template_meta.get("labels"))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": _strip_controller_labels(job["metadata"].get("labels")),
        },
        "spec": spec,
    }


def job_from_cronjob(cronjob: dict[str, Any], name: str) -> dict[str, Any]:
    """The Job ``kubectl create job --from=cronjob/…`` builds: the CronJob's job template,
    annotated as a manual run and owned (controller reference) by the CronJob."""
    template = copy.deepcopy(cronjob["spec"]["jobTemplate"])
    template_meta = template.get("metadata") or {}
    annotations = {"cronjob.kubernetes.io/instantiate": "manual"}
    annotations.update(template_meta.get("annotations") or {})
    meta = cronjob["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "annotations": annotations,
            "labels": template_meta.get("labels") or {},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template["spec"],
    }


def retrain(conn: Connection, job: str = TRAINING_JOB) -> ActionResult:
    """Start a new training Job from ``job``'s template, named ``iris-train-<timestamp>``."""
    batch = client.BatchV1Api(conn.api_client)
    name = f"{TRAINING_PREFIX}-{_timestamp()}"
    try:
        original = call_json(batch.read_namespaced_job, job, conn.namespace)
        created = call_json(batch.create_namespaced_job, conn.namespace, job_copy(original, name))
    except Exception as exc:
        raise cluster_error(exc, f"start a training job from job/{job}") from exc
    kubectl = (
        f"{shlex.join(conn.kubectl('get', 'job', job, '-o', 'json'))}"
        f" | jq --arg name {name} {shlex.quote(_JQ_COPY_JOB)}"
        f" | {shlex.join(conn.kubectl('create', '-f', '-'))}"
    )
    return ActionResult(kubectl, f"started training job {created['metadata']['name']}", name)


def run_batch_now(conn: Connection, cronjob: str = BATCH_CRONJOB) -> ActionResult:
    """Run the CronJob's job now, as ``kubectl create job --from=cronjob/…`` does."""
    batch = client.BatchV1Api(conn.api_client)
    name = f"{cronjob}-manual-{_timestamp()}"
    try:
        source = call_json(batch.read_namespaced_cron_job, cronjob, conn.namespace)
        call_json(batch.create_namespaced_job, conn.namespace, job_from_cronjob(source, name))
    except Exception as exc:
        raise cluster_error(exc, f"create a job from cronjob/{cronjob}") from exc
    kubectl = shlex.join(conn.kubectl("create", "job", f"--from=cronjob/{cronjob}", name))
    # The CronJob controller did not create this Job, so it records an UnexpectedJob Warning
    # when it sees it: what Kubernetes does for every manual run, not a fault.
    message = (
        f"started batch job {name}; the CronJob will note it as UnexpectedJob "
        "(a Warning every manual run gets)"
    )
    return ActionResult(kubectl, message, name)


def _merge_patch(conn: Connection, kind: str, name: str, patch: dict[str, Any], doing: str) -> None:
    try:
        call_json(
            kinds.kind(kind).method(conn, "patch"),
            name,
            conn.namespace,
            patch,
            _content_type="application/merge-patch+json",
        )
    except Exception as exc:
        raise cluster_error(exc, doing) from exc


def set_suspended(conn: Connection, cronjob: str, suspended: bool) -> ActionResult:
    """Suspend or resume a CronJob."""
    patch = {"spec": {"suspend": suspended}}
    verb = "suspend" if suspended else "resume"
    _merge_patch(conn, "cronjobs", cronjob, patch, f"{verb} cronjob/{cronjob}")
    kubectl = shlex.join(
        conn.kubectl("patch", "cronjob", cronjob, "--type=merge", "-p", json.dumps(patch))
    )
    return ActionResult(kubectl, f"cronjob/{cronjob} {verb}d", cronjob)


def rollout_restart(conn: Connection, deployment: str = API_DEPLOYMENT) -> ActionResult:
    """Restart the Deployment's pods the way kubectl does: a new template annotation."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}
        }
    }
    _merge_patch(conn, "deployments", deployment, patch, f"restart deployment/{deployment}")
    kubectl = shlex.join(conn.kubectl("rollout", "restart", f"deployment/{deployment}"))
    return ActionResult(kubectl, f"deployment/{deployment} restarting", deployment)


def scale(conn: Connection, deployment: str, replicas: int) -> ActionResult:
    """Set the Deployment's replica count through its scale subresource."""
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ClusterError(f"replicas must be a whole number of at least 0, not {replicas!r}")
    apps = client.AppsV1Api(conn.api_client)
    try:
        call_json(
            apps.patch_namespaced_deployment_scale,
            deployment,
            conn.namespace,
            {"spec": {"replicas": replicas}},
            _content_type="application/merge-patch+json",
        )
    except Exception as exc:
        raise cluster_error(exc, f"scale deployment/{deployment}") from exc
    kubectl = shlex.join(
        conn.kubectl("scale", f"deployment/{deployment}", f"--replicas={replicas}")
    )
    return ActionResult(kubectl, f"deployment/{deployment} scaled to {replicas}", deployment)


def delete(conn: Connection, kind: str, name: str) -> ActionResult:
    """Delete one object; dependents (a Job's pods) go too, in the background, as with kubectl."""
    spec = kinds.kind(kind)
    try:
        call_json(
            spec.method(conn, "delete"),
            name,
            conn.namespace,
            propagation_policy="Background",
        )
    except Exception as exc:
        raise cluster_error(exc, f"delete {spec.kubectl}/{name}") from exc
    kubectl = shlex.join(conn.kubectl("delete", spec.kubectl, name))
    return ActionResult(kubectl, f"{spec.kubectl}/{name} deleted", name)


def describe_yaml(conn: Connection, kind: str, name: str) -> ActionResult:
    """The object as YAML (without managedFields), in ``output``."""
    spec = kinds.kind(kind)
    try:
        obj = call_json(spec.method(conn, "read"), name, conn.namespace)
    except Exception as exc:
        raise cluster_error(exc, f"read {spec.kubectl}/{name}") from exc
    obj.get("metadata", {}).pop("managedFields", None)
    kubectl = shlex.join(conn.kubectl("get", spec.kubectl, name, "-o", "yaml"))
    text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
    return ActionResult(kubectl, f"{spec.kubectl}/{name}", name, output=text)


def wait_for_job(
    conn: Connection,
    name: str,
    *,
    timeout: float = 600,
    stop: threading.Event | None = None,
) -> str:
    """Watch the Job until it completes or fails; returns "Complete" or "Failed".

    Raises ``ClusterError`` if it is deleted, on timeout, or when ``stop`` is set.
    """
    if stop is not None and stop.is_set():
        raise ClusterError(f"stopped waiting for job/{name}")
    batch = client.BatchV1Api(conn.api_client)
    stop = stop or threading.Event()
    deadline = datetime.now(UTC).timestamp() + timeout
    version: str | None = None
    while not stop.is_set():
        remaining = int(deadline - datetime.now(UTC).timestamp())
        if remaining <= 0:
            break
        try:
            if version is None:
                listed = call_json(
                    batch.list_namespaced_job,
                    conn.namespace,
                    field_selector=f"metadata.name={name}",
                )
                version = listed["metadata"]["resourceVersion"]
                if not listed.get("items"):
                    raise ClusterError(f"job/{name} does not exist")
                outcome = _job_outcome(listed["items"][0])
                if outcome:
                    return outcome
            response = call_raw(
                batch.list_namespaced_job,
                conn.namespace,
                field_selector=f"metadata.name={name}",
                watch=True,
                resource_version=version,
                timeout_seconds=min(remaining, WAIT_WINDOW),
                _request_timeout=(REQUEST_TIMEOUT[0], min(remaining, WAIT_WINDOW) + 30),
            )
        except ClusterError:
            raise
        except Exception as exc:
            raise cluster_error(exc, f"watch job/{name}") from exc
        try:
            for line in iter_lines(response):
                if stop.is_set():
                    break
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    version = None
                    break
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if event.get("type") == "DELETED":
                    raise ClusterError(f"job/{name} was deleted")
                outcome = _job_outcome(obj)
                if outcome:
                    return outcome
        finally:
            response.close()
    if stop.is_set():
        raise ClusterError(f"stopped waiting for job/{name}")
    raise ClusterError(f"job/{name} did not finish within {timeout:g} s")


def _job_outcome(job: dict[str, Any]) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return None
