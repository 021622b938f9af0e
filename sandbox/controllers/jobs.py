"""Jobs -> Pods: parallelism, completions (also Indexed), back-off, deadline, TTL, suspend.

Pods are named ``<job>-<5 chars>`` (``<job>-<index>-<5 chars>`` when Indexed) and labelled
like the real controller's. Failed pods count towards backoffLimit, with the controller's
growing delay (10s, 20s, ... in clock time) before a replacement. Counts only grow, so a
deleted finished pod is not forgotten.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime

from sandbox.clock import format_time, parse_time
from sandbox.controllers.base import (
    Context,
    Controller,
    Obj,
    condition,
    is_pod_active,
    is_pod_ready,
    owner_reference,
    random_suffix,
    set_condition,
)

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
BACKOFF_START, BACKOFF_MAX = 10.0, 360.0  # seconds of clock time


def is_finished(job: Obj) -> tuple[bool, str]:
    """Whether the job is done, and how (Complete or Failed)."""
    for type_ in ("Complete", "Failed"):
        cond = condition(job, type_)
        if cond and cond.get("status") == "True":
            return True, type_
    return False, ""


class JobController(Controller):
    resource = "jobs"
    kind = "Job"
    watches = ("pods",)
    component = "job-controller"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._failures_seen: dict[str, int] = {}
        self._create_after: dict[str, float] = {}

    def reconcile(self, namespace: str, name: str) -> float | None:
        job = self.get("jobs", namespace, name)
        if job is None:
            return None
        if job["metadata"].get("deletionTimestamp"):
            return None  # being deleted: the garbage collector now decides what its pods become
        finished, _ = is_finished(job)
        if finished:
            return self._expire(job)
        spec = job["spec"]
        status = copy.deepcopy(job.get("status") or {})
        uid = job["metadata"]["uid"]
        now = format_time()
        pods = self.owned("pods", job)
        active = [pod for pod in pods if is_pod_active(pod)]
        succeeded_pods = [p for p in pods if p.get("status", {}).get("phase") == "Succeeded"]
        failed_pods = [p for p in pods if p.get("status", {}).get("phase") == "Failed"]
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1))
        done_indexes = _parse_indexes(status.get("completedIndexes", "")) | {
            index for pod in succeeded_pods if (index := _index(pod)) is not None
        }
        succeeded = max(int(status.get("succeeded", 0)), len(succeeded_pods))
        if indexed:
            succeeded = max(succeeded, len(done_indexes))
        failed = max(int(status.get("failed", 0)), len(failed_pods))
        restarts = 0
        if spec["template"]["spec"].get("restartPolicy") == "OnFailure":
            restarts = sum(
                int(c.get("restartCount", 0))
                for pod in active
                for c in (pod.get("status") or {}).get("containerStatuses") or []
            )
        conditions = list(status.get("conditions") or [])
        suspended = bool(spec.get("suspend"))
        if not suspended and not status.get("startTime"):
            status["startTime"] = now
        requeue: float | None = None

        failure = None
        if failed + restarts > int(spec.get("backoffLimit", 6)):
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif _past_deadline(spec, status):
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        complete = (
            (indexed and len(done_indexes) >= int(completions or 1))
            or (not indexed and completions is not None and succeeded >= int(completions))
            or (completions is None and succeeded > 0 and not active)
        )
        if failure:
            self._delete_pods(job, active)
            active = []
            for type_ in ("FailureTarget", "Failed"):
                conditions = set_condition(conditions, type_, "True", *failure, now)
            self.event(job, failure[0], failure[1], type="Warning")
        elif complete:
            self._delete_pods(job, active)
            active = []
            for type_ in ("SuccessCriteriaMet", "Complete"):
                conditions = set_condition(
                    conditions,
                    type_,
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                )
            status["completionTime"] = now
            self.event(job, "Completed", "Job completed")
        elif suspended:
            self._delete_pods(job, active)
            active = []
            if (condition(job, "Suspended") or {}).get("status") != "True":
                self.event(job, "Suspended", "Job suspended")
            conditions = set_condition(
                conditions, "Suspended", "True", "JobSuspended", "Job suspended", now
            )
        else:
            if (condition(job, "Suspended") or {}).get("status") == "True":
                conditions = set_condition(
                    conditions, "Suspended", "False", "JobResumed", "Job resumed", now
                )
                self.event(job, "Resumed", "Job resumed")
            if failed > self._failures_seen.get(uid, 0):
                delay = min(BACKOFF_START * 2 ** (failed - 1), BACKOFF_MAX)
                self._create_after[uid] = time.monotonic() + self.ctx.clock.real_seconds(delay)
            self._failures_seen[uid] = failed
            wait = self._create_after.get(uid, 0.0) - time.monotonic()
            if succeeded > 0 and completions is None:
                to_create: list[int | None] = []  # the first success ends a work-queue job
            elif indexed:
                busy = {_index(pod) for pod in active}
                pending = [i for i in range(int(completions or 1)) if i not in done_indexes | busy]
                to_create = list(pending[: max(0, parallelism - len(active))])
            else:
                remaining = parallelism if completions is None else int(completions) - succeeded
                to_create = [None] * max(0, min(parallelism, remaining) - len(active))
            if to_create and wait > 0:
                requeue = wait
            else:
                active += [self._create_pod(job, index) for index in to_create]
        status.update(
            active=len(active),
            succeeded=succeeded,
            failed=failed,
            ready=sum(1 for pod in active if is_pod_ready(pod)),
            conditions=conditions,
            terminating=sum(1 for pod in pods if _is_terminating(pod)),
            uncountedTerminatedPods={},
        )
        for key in ("active", "succeeded", "failed"):
            if not status[key]:
                del status[key]
        if indexed:
            status["completedIndexes"] = _format_indexes(done_indexes)
        if not conditions:
            del status["conditions"]

        def apply(obj: Obj) -> None:
            obj["status"] = status

        self.store.mutate("jobs", namespace, name, apply, subresource="status")
        if failure or complete:
            return self._expire(self.get("jobs", namespace, name) or job)
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and status.get("startTime"):
            left = _seconds_left(status["startTime"], int(deadline))
            requeue = left if requeue is None else min(requeue, left)
        return requeue

    # ---- pods

    def _create_pod(self, job: Obj, index: int | None) -> Obj:
        template = copy.deepcopy(job["spec"]["template"])
        meta = template.get("metadata") or {}
        job_name = job["metadata"]["name"]
        uid = job["metadata"]["uid"]
        labels = dict(meta.get("labels") or {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": job_name,
                "controller-uid": uid,
                "job-name": job_name,
            }
        )
        annotations = dict(meta.get("annotations") or {})
        prefix = f"{job_name}-"
        spec = template.get("spec") or {}
        if index is not None:
            prefix = f"{job_name}-{index}-"
            labels[INDEX_KEY] = str(index)
            annotations[INDEX_KEY] = str(index)
            env_var = {
                "name": "JOB_COMPLETION_INDEX",
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_KEY}']"}},
            }
            for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                container["env"] = [*(container.get("env") or []), env_var]
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": prefix + random_suffix(),
                "generateName": prefix,
                "namespace": job["metadata"]["namespace"],
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [owner_reference(job)],
            },
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        if not annotations:
            del pod["metadata"]["annotations"]
        created = self.create("pods", pod)
        self.event(job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return created

    def _delete_pods(self, job: Obj, pods: list[Obj]) -> None:
        for pod in pods:
            self.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
            self.event(job, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")

    # ---- lifecycle

    def _expire(self, job: Obj) -> float | None:
        """ttlSecondsAfterFinished: delete the finished job (and its pods) when it runs out."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        _, how = is_finished(job)
        finished_at = (job.get("status") or {}).get("completionTime") or (
            condition(job, how) or {}
        ).get("lastTransitionTime")
        if not finished_at:
            return None
        left = _seconds_left(finished_at, int(ttl))
        if left > 0:
            return left
        meta = job["metadata"]
        self.delete("jobs", meta["namespace"], meta["name"], propagation="Foreground")
        return None


def _is_terminating(pod: Obj) -> bool:
    """controller.IsPodTerminating: marked for deletion and not finished."""
    finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    return bool(pod["metadata"].get("deletionTimestamp")) and not finished


def _seconds_left(since: str, seconds: int) -> float:
    return seconds - (datetime.now(UTC) - parse_time(since)).total_seconds()


def _past_deadline(spec: Obj, status: Obj) -> bool:
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is None or not status.get("startTime"):
        return False
    return _seconds_left(status["startTime"], int(deadline)) <= 0


def _index(pod: Obj) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(INDEX_KEY)
    return int(value) if value is not None and value.isdigit() else None


def _parse_indexes(text: str) -> set[int]:
    """ "1,3-5,7" -> {1, 3, 4, 5, 7}"""
    result: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        result.update(range(int(first), int(last or first) + 1))
    return result


def _format_indexes(indexes: set[int]) -> str:
    """{1, 3, 4, 5, 7} -> "1,3-5,7", the API's compressed form."""
    runs: list[list[int]] = []
    for index in sorted(indexes):
        if runs and runs[-1][1] == index - 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
