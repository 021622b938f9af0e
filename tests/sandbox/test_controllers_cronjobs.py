"""The CronJob controller alone, on a clock the test moves: due times, policies, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.clock import format_time, parse_time
from sandbox.controllers.cronjobs import SCHEDULED_AT, CronJobController
from tests.sandbox.unit import NAMESPACE, Bench, bench

Obj = dict[str, Any]


def cronjob(name: str = "tick", schedule: str = "* * * * *", **spec: Any) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"app": name}, "annotations": {"team": "ml"}},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "work", "image": "lab:1"}],
                        }
                    }
                },
            },
            **spec,
        },
    }


class Run:
    """A CronJob, its controller, and the minute boundaries after its creation."""

    def __init__(self, unit: Bench, obj: Obj) -> None:
        self.unit = unit
        self.controller = CronJobController(unit.ctx)
        self.cronjob = unit.create("cronjobs", obj)
        self.name = obj["metadata"]["name"]
        created = parse_time(self.cronjob["metadata"]["creationTimestamp"])
        unit.clock.set(created)
        self.first = created.replace(second=0) + timedelta(minutes=1)

    def at(self, moment: datetime) -> float | None:
        """Reconcile with the sandbox clock at ``moment``."""
        self.unit.clock.set(moment)
        return self.controller.reconcile(NAMESPACE, self.name)

    def minute(self, n: int, seconds: int = 5) -> datetime:
        """``seconds`` into the n-th minute boundary after creation (0 is the first)."""
        return self.first + timedelta(minutes=n, seconds=seconds)

    def jobs(self) -> list[str]:
        return sorted(job["metadata"]["name"] for job in self.unit.list("jobs"))

    def job_name(self, scheduled: datetime) -> str:
        return f"{self.name}-{int(scheduled.timestamp()) // 60}"

    def active(self) -> list[str]:
        return sorted(ref["name"] for ref in self.status().get("active") or [])

    def status(self) -> Obj:
        return self.unit.status("cronjobs", self.name)

    def finish(self, job: str, how: str, at: datetime) -> None:
        status: Obj = {
            "startTime": format_time(at - timedelta(seconds=3)),
            "conditions": [{"type": how, "status": "True"}],
        }
        if how == "Complete":
            status["completionTime"] = format_time(at)
        self.unit.set_status("jobs", job, **status)


def boundary(run: Run, n: int) -> datetime:
    return run.minute(n, seconds=0)


def test_nothing_runs_before_the_first_due_time_then_one_job_at_it() -> None:
    run = Run(bench(), cronjob())
    run.at(parse_time(run.cronjob["metadata"]["creationTimestamp"]))
    requeue = run.at(run.minute(0, seconds=-1))
    assert run.jobs() == []
    assert requeue == 1  # to the first due time, in real seconds
    requeue = run.at(run.minute(0))
    scheduled = boundary(run, 0)
    name = run.job_name(scheduled)
    assert run.jobs() == [name]
    assert requeue == 55  # to the next minute, in real seconds
    job = run.unit.get("jobs", name) or {}
    meta = job["metadata"]
    assert meta["labels"] == {"app": "tick"}
    # RFC 3339 as Go writes it: a UTC time ends in Z
    assert meta["annotations"] == {
        "team": "ml",
        SCHEDULED_AT: scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "tick",
            "uid": run.cronjob["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "lab:1"
    assert job["spec"]["selector"]  # created through the API's Job defaulting
    status = run.status()
    assert status["lastScheduleTime"] == format_time(scheduled)
    (ref,) = status["active"]
    assert (ref["kind"], ref["name"], ref["uid"]) == ("Job", name, meta["uid"])
    assert run.unit.messages("SuccessfulCreate") == [f"Created job {name}"]
    run.at(run.minute(0, seconds=30))
    assert run.jobs() == [name]  # the same due time never runs twice


def test_after_missed_times_only_the_most_recent_runs() -> None:
    run = Run(bench(), cronjob())
    run.at(run.minute(9))
    assert run.jobs() == [run.job_name(boundary(run, 9))]
    assert run.status()["lastScheduleTime"] == format_time(boundary(run, 9))


def test_a_time_zone_moves_the_schedule() -> None:
    # minute 30 of each hour in India (UTC+05:30) is minute 0 of each hour in UTC
    run = Run(bench(), cronjob(schedule="30 * * * *", timeZone="Asia/Kolkata"))
    hour = run.first.replace(minute=0) + timedelta(hours=1)
    run.at(hour - timedelta(minutes=1))
    before = run.jobs()
    run.at(hour + timedelta(seconds=5))
    started = [name for name in run.jobs() if name not in before]
    assert started == [run.job_name(hour)]
    job = run.unit.get("jobs", started[0]) or {}
    local = hour.astimezone(UTC) + timedelta(hours=5, minutes=30)
    assert job["metadata"]["annotations"][SCHEDULED_AT] == local.strftime("%Y-%m-%dT%H:%M:%S+05:30")


def test_a_start_later_than_the_deadline_is_missed() -> None:
    run = Run(bench(), cronjob(startingDeadlineSeconds=10))
    run.at(run.minute(0, seconds=30))
    assert run.jobs() == []
    assert "lastScheduleTime" not in run.status()
    missed = boundary(run, 0).astimezone(UTC)
    assert run.unit.messages("MissSchedule") == [
        "Missed scheduled time to start a job: " + missed.strftime("%a, %d %b %Y %H:%M:%S +0000")
    ]
    (event,) = run.unit.events("MissSchedule")
    assert event["type"] == "Warning"
    run.at(run.minute(1, seconds=5))  # within 10 s of the next time: it runs
    assert run.jobs() == [run.job_name(boundary(run, 1))]


def test_forbid_waits_for_the_active_job_then_runs_the_missed_time() -> None:
    run = Run(bench(), cronjob(concurrencyPolicy="Forbid"))
    run.at(run.minute(0))
    first = run.job_name(boundary(run, 0))
    requeue = run.at(run.minute(1))
    assert run.jobs() == [first]
    assert run.unit.messages("JobAlreadyActive") == [
        "Not starting job because prior execution is running and concurrency policy is Forbid"
    ]
    assert requeue is not None and requeue <= 1.0  # looks again soon for the job to end
    run.finish(first, "Complete", run.minute(1, seconds=10))
    run.at(run.minute(1, seconds=20))
    second = run.job_name(boundary(run, 1))
    assert run.jobs() == [first, second]
    assert run.active() == [second]
    assert run.unit.messages("SawCompletedJob") == [
        f"Saw completed job: {first}, condition: Complete"
    ]
    assert run.status()["lastSuccessfulTime"] == format_time(run.minute(1, seconds=10))


def test_replace_deletes_the_active_job_for_the_new_one() -> None:
    run = Run(bench(), cronjob(concurrencyPolicy="Replace"))
    run.at(run.minute(0))
    first = run.job_name(boundary(run, 0))
    run.at(run.minute(1))
    second = run.job_name(boundary(run, 1))
    assert run.jobs() == [second]
    assert run.active() == [second]
    assert run.unit.messages("SuccessfulDelete") == [f"Deleted job {first}"]


def test_allow_runs_alongside_the_active_job() -> None:
    run = Run(bench(), cronjob())
    run.at(run.minute(0))
    run.at(run.minute(1))
    both = [run.job_name(boundary(run, 0)), run.job_name(boundary(run, 1))]
    assert run.jobs() == both and run.active() == both


def test_suspended_starts_nothing_but_still_tracks_its_jobs() -> None:
    run = Run(bench(), cronjob())
    run.at(run.minute(0))
    first = run.job_name(boundary(run, 0))
    run.unit.store.mutate("cronjobs", NAMESPACE, "tick", lambda cj: cj["spec"].update(suspend=True))
    run.finish(first, "Complete", run.minute(0, seconds=20))
    assert run.at(run.minute(3)) is None
    assert run.jobs() == [first]
    assert run.active() == []
    run.unit.store.mutate(
        "cronjobs", NAMESPACE, "tick", lambda cj: cj["spec"].update(suspend=False)
    )
    run.at(run.minute(3, seconds=10))
    assert run.jobs() == [first, run.job_name(boundary(run, 3))]  # the latest missed time


def test_history_limits_keep_the_newest_finished_jobs() -> None:
    run = Run(bench(), cronjob(successfulJobsHistoryLimit=2, failedJobsHistoryLimit=1))
    names = []
    for n in range(5):
        run.at(run.minute(n))
        names.append(run.job_name(boundary(run, n)))
        how = "Failed" if n in (0, 1) else "Complete"
        run.finish(names[-1], how, run.minute(n, seconds=30))
    run.at(run.minute(4, seconds=40))
    # failed: 0 and 1, keep 1; complete: 2, 3 and 4, keep 3 and 4
    assert run.jobs() == sorted([names[1], names[3], names[4]])
    assert set(run.unit.messages("SuccessfulDelete")) == {
        f"Deleted job {names[0]}",
        f"Deleted job {names[2]}",
    }
    assert run.status()["lastSuccessfulTime"] == format_time(run.minute(4, seconds=30))


def test_a_job_it_did_not_start_is_unexpected_and_a_vanished_one_missing() -> None:
    run = Run(bench(), cronjob())
    run.at(run.minute(0))
    mine = run.job_name(boundary(run, 0))
    # kubectl create job manual --from=cronjob/tick: owned by the CronJob, never in active
    manual = cronjob()["spec"]["jobTemplate"]
    manual["metadata"] = {
        "name": "manual",
        "ownerReferences": (run.unit.get("jobs", mine) or {})["metadata"]["ownerReferences"],
    }
    run.unit.create("jobs", manual)
    run.unit.store.delete("jobs", NAMESPACE, mine)
    run.at(run.minute(0, seconds=20))
    assert run.active() == []
    assert run.unit.messages("UnexpectedJob") == [
        "Saw a job that the controller did not create or forgot: manual"
    ]
    assert run.unit.messages("MissingJob") == [f"Active job went missing: {mine}"]


def test_an_unparseable_schedule_or_unknown_zone_is_an_event_not_a_crash() -> None:
    # The API server refuses both; they reach the controller from objects stored before that
    # validation, or (the zone) when the controller's time zone database lacks one the API
    # server's has, so they are written here past the registry, as such objects are.
    unit = bench()

    def stored_past_validation(name: str, **spec: Any) -> Run:
        run = Run(unit, cronjob(name))
        unit.store.mutate("cronjobs", NAMESPACE, name, lambda obj: obj["spec"].update(spec))
        return run

    bad_schedule = stored_past_validation("bad", schedule="every minute")
    assert bad_schedule.at(bad_schedule.minute(1)) is None
    (message,) = unit.messages("UnparseableSchedule")
    assert message.startswith('unparseable schedule: "every minute" : ')
    bad_zone = stored_past_validation("zone", timeZone="Mars/Olympus")
    assert bad_zone.at(bad_zone.minute(1)) is None
    assert unit.messages("UnknownTimeZone") == [
        'invalid timeZone: "Mars/Olympus": unknown time zone Mars/Olympus'
    ]
    assert unit.list("jobs") == []
