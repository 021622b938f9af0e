"""CronJobs -> Jobs on their schedule, in sandbox clock time.

A Job named ``<cronjob>-<scheduled time in minutes since the epoch>`` is created at each
scheduled time (only the most recent missed one, as the real controller does), honouring
timeZone, startingDeadlineSeconds, concurrencyPolicy, suspend and the history limits. Jobs
owned by the CronJob but not created by it (``kubectl create job --from=cronjob/...``) are not
added to ``status.active`` (an UnexpectedJob event, as on a cluster), but count for
``lastSuccessfulTime`` and the history limits.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter

from sandbox.apimachinery.errors import ApiError
from sandbox.clock import format_time, parse_time
from sandbox.controllers.base import Controller, Obj, owner_reference
from sandbox.controllers.jobs import is_finished

SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"


class CronJobController(Controller):
    resource = "cronjobs"
    kind = "CronJob"
    watches = ("jobs",)
    component = "cronjob-controller"

    def reconcile(self, namespace: str, name: str) -> float | None:
        cronjob = self.get("cronjobs", namespace, name)
        if cronjob is None:
            return None
        spec = cronjob.get("spec") or {}
        status = copy.deepcopy(cronjob.get("status") or {})
        jobs = self.owned("jobs", cronjob)
        active = self._track(cronjob, jobs, status)
        self._prune(cronjob, jobs)
        requeue: float | None = None
        if not spec.get("suspend"):
            requeue, active = self._schedule(cronjob, status, active)
        status["active"] = active
        if not active:
            del status["active"]

        def apply(obj: Obj) -> None:
            obj["status"] = status

        self.store.mutate("cronjobs", namespace, name, apply, subresource="status")
        return requeue

    def _track(self, cronjob: Obj, jobs: list[Obj], status: Obj) -> list[Obj]:
        """Drop finished jobs from status.active; note lastSuccessfulTime."""
        listed = {ref.get("uid"): ref for ref in status.get("active") or []}
        active = []
        for job in jobs:
            uid = job["metadata"]["uid"]
            finished, how = is_finished(job)
            if uid in listed:
                if finished:
                    self.event(
                        cronjob,
                        "SawCompletedJob",
                        f"Saw completed job: {job['metadata']['name']}, condition: {how}",
                    )
                else:
                    active.append(listed[uid])
            elif not finished:
                self.event(
                    cronjob,
                    "UnexpectedJob",
                    "Saw a job that the controller did not create or forgot: "
                    + job["metadata"]["name"],
                    type="Warning",
                )
            completed_at = (job.get("status") or {}).get("completionTime")
            if how == "Complete" and completed_at:
                last = status.get("lastSuccessfulTime")
                if not last or parse_time(completed_at) > parse_time(last):
                    status["lastSuccessfulTime"] = completed_at
        existing = {job["metadata"]["uid"] for job in jobs}
        for uid, ref in listed.items():
            if uid not in existing:
                self.event(
                    cronjob,
                    "MissingJob",
                    f"Active job went missing: {ref.get('name')}",
                    type="Warning",
                )
        return active

    def _prune(self, cronjob: Obj, jobs: list[Obj]) -> None:
        """Keep only the newest successfulJobsHistoryLimit / failedJobsHistoryLimit jobs."""
        spec = cronjob.get("spec") or {}
        limits = {
            "Complete": int(spec.get("successfulJobsHistoryLimit", 3)),
            "Failed": int(spec.get("failedJobsHistoryLimit", 1)),
        }
        for how, limit in limits.items():
            done = sorted(
                (job for job in jobs if is_finished(job) == (True, how)),
                key=lambda job: (
                    (job.get("status") or {}).get("startTime")
                    or job["metadata"]["creationTimestamp"]
                ),
            )
            for job in done[: max(0, len(done) - limit)]:
                meta = job["metadata"]
                # The cronjob controller deletes its jobs in the background.
                self.delete("jobs", meta["namespace"], meta["name"], "Background")
                self.event(cronjob, "SuccessfulDelete", f"Deleted job {meta['name']}")

    def _schedule(
        self, cronjob: Obj, status: Obj, active: list[Obj]
    ) -> tuple[float | None, list[Obj]]:
        """Start the job of the most recent unmet schedule time; when to look again."""
        spec = cronjob["spec"]
        try:
            zone = ZoneInfo(spec["timeZone"]) if spec.get("timeZone") else UTC
        except (ZoneInfoNotFoundError, ValueError):
            zone_name = spec["timeZone"]
            self.event(
                cronjob,
                "UnknownTimeZone",
                f"invalid timeZone: {_quote(zone_name)}: unknown time zone {zone_name}",
                type="Warning",
            )
            return None, active
        now = self.ctx.clock.now().astimezone(zone)
        try:
            latest: datetime = croniter(spec.get("schedule", ""), now).get_prev(datetime)
            upcoming: datetime = croniter(spec.get("schedule", ""), now).get_next(datetime)
        except (CroniterBadCronError, ValueError) as error:
            self.event(
                cronjob,
                "UnparseableSchedule",
                f"unparseable schedule: {_quote(spec.get('schedule', ''))} : {error}",
                type="Warning",
            )
            return None, active
        requeue = max(self.ctx.clock.real_seconds((upcoming - now).total_seconds()), 0.05)
        since = status.get("lastScheduleTime") or cronjob["metadata"]["creationTimestamp"]
        if latest <= parse_time(since):
            return requeue, active
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and latest + timedelta(seconds=int(deadline)) < now:
            # the time as Go's scheduledTime.UTC().Format(time.RFC1123Z) writes it
            self.event(
                cronjob,
                "MissSchedule",
                f"Missed scheduled time to start a job: {format_datetime(latest.astimezone(UTC))}",
                type="Warning",
            )
            return requeue, active
        policy = spec.get("concurrencyPolicy", "Allow")
        if active and policy == "Forbid":
            self.event(
                cronjob,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy "
                "is Forbid",
            )
            return min(requeue, 1.0), active
        if active and policy == "Replace":
            for ref in active:
                self.delete("jobs", ref["namespace"], ref["name"], "Background")
                self.event(cronjob, "SuccessfulDelete", f"Deleted job {ref['name']}")
            active = []
        job = self._create_job(cronjob, latest)
        status["lastScheduleTime"] = format_time(latest)
        if job is not None:
            meta = job["metadata"]
            active.append(
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta["uid"],
                    "resourceVersion": meta["resourceVersion"],
                }
            )
        return requeue, active

    def _create_job(self, cronjob: Obj, scheduled: datetime) -> Obj | None:
        template = copy.deepcopy(cronjob["spec"].get("jobTemplate") or {})
        meta = template.get("metadata") or {}
        name = f"{cronjob['metadata']['name']}-{int(scheduled.timestamp() // 60)}"
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": cronjob["metadata"]["namespace"],
                "labels": dict(meta.get("labels") or {}),
                "annotations": {
                    **(meta.get("annotations") or {}),
                    SCHEDULED_AT: _rfc3339(scheduled),
                },
                "ownerReferences": [owner_reference(cronjob)],
            },
            "spec": template.get("spec") or {},
        }
        try:
            created = self.create("jobs", job)
        except ApiError as error:
            if error.code == 409:
                return None  # made on an earlier pass; nothing more to do for this time
            raise
        self.event(cronjob, "SuccessfulCreate", f"Created job {name}")
        return created


def _quote(text: str) -> str:
    """Go's %q of a string."""
    return json.dumps(text, ensure_ascii=False)


def _rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339 in the moment's own zone: a zero offset is written Z."""
    text = moment.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text
