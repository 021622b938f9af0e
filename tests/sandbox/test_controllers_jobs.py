"""Jobs and CronJobs: pods, completions, back-off limit, deadline, TTL, schedules, history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox import paths
from tests.sandbox.inprocess import NAMESPACE, Cluster, python_container, running_cluster

pytestmark = pytest.mark.slow

Obj = dict[str, Any]


def job(name: str, code: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [python_container("work", code)]}
            },
            **spec,
        },
    }


def condition(cluster: Cluster, resource: str, name: str, type_: str) -> Obj:
    """The condition if it is True, else an empty dict."""
    obj = cluster.get(resource, name) or {}
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_ and cond["status"] == "True":
            return dict(cond)
    return {}


def test_failing_job_retries_to_backoff_limit(tmp_path: Path) -> None:
    # a fast clock shortens the controller's 10s, 20s, ... delay between attempts
    with running_cluster(tmp_path, clock_speed=50) as cluster:
        cluster.create("jobs", job("flaky", "raise SystemExit(2)", backoffLimit=2))
        failed = cluster.wait_for(
            lambda: condition(cluster, "jobs", "flaky", "Failed"), "the job to fail"
        )
        assert (failed["reason"], failed["message"]) == (
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )
        status = (cluster.get("jobs", "flaky") or {})["status"]
        assert status["failed"] == 3 and "active" not in status
        pods = cluster.pods(labels="job-name=flaky")
        assert len(pods) == 3
        assert all(p["status"]["phase"] == "Failed" for p in pods)
        assert all(p["metadata"]["name"].startswith("flaky-") for p in pods)
        assert all(p["metadata"]["ownerReferences"][0]["controller"] for p in pods)
        assert cluster.events("BackoffLimitExceeded")


def test_indexed_job_runs_every_index(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        code = "import os; print('index', os.environ['JOB_COMPLETION_INDEX'])"
        cluster.create(
            "jobs",
            job("shards", code, completions=3, parallelism=2, completionMode="Indexed"),
        )
        complete = cluster.wait_for(
            lambda: condition(cluster, "jobs", "shards", "Complete"), "the job to complete"
        )
        assert complete["reason"] == "CompletionsReached"
        status = (cluster.get("jobs", "shards") or {})["status"]
        assert status["completedIndexes"] == "0-2"
        assert status["succeeded"] == 3 and status["completionTime"] and status["startTime"]
        assert condition(cluster, "jobs", "shards", "SuccessCriteriaMet")
        printed = set()
        for pod in cluster.pods(labels="job-name=shards"):
            index = pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]
            assert pod["metadata"]["name"].startswith(f"shards-{index}-")
            (status,) = pod["status"]["containerStatuses"]
            where = (tmp_path, NAMESPACE, pod["metadata"]["name"], pod["metadata"]["uid"], "work")
            log = paths.log_path(*where, status["containerID"])
            printed.add(log.read_text().split(" ", 1)[1].strip())
        assert printed == {"index 0", "index 1", "index 2"}


def test_deadline_kills_the_pods(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        cluster.create("jobs", job("slow", "import time; time.sleep(600)", activeDeadlineSeconds=1))
        failed = cluster.wait_for(
            lambda: condition(cluster, "jobs", "slow", "Failed"), "the deadline"
        )
        assert failed["reason"] == "DeadlineExceeded"
        cluster.wait_for(lambda: not cluster.pods(labels="job-name=slow"), "the pod to go")


def test_finished_job_expires_after_ttl(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        cluster.create("jobs", job("brief", "print('done')", ttlSecondsAfterFinished=0))
        cluster.wait_for(lambda: cluster.events("Completed"), "the job to complete")
        cluster.wait_for(lambda: cluster.get("jobs", "brief") is None, "the job to be deleted")


def cronjob(name: str, **spec: Any) -> Obj:
    template = job("unused", "print('tick')")["spec"]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": template}, **spec},
    }


def test_cronjob_runs_on_a_fast_clock_and_keeps_history(tmp_path: Path) -> None:
    # 240x: a scheduled minute every quarter of a second
    with running_cluster(tmp_path, clock_speed=240) as cluster:
        cluster.create("cronjobs", cronjob("tick", successfulJobsHistoryLimit=2))
        cluster.wait_for(
            lambda: (
                len(cluster.events("SawCompletedJob")) >= 1
                and len(cluster.events("SuccessfulDelete")) >= 1
            ),
            "runs and pruning",
        )
        cluster.store.mutate("cronjobs", NAMESPACE, "tick", _suspend)
        jobs = cluster.wait_for(
            lambda: [j for j in cluster.store.list("jobs", NAMESPACE)[0] if _finished(j)],
            "finished jobs",
        )
        status = (cluster.get("cronjobs", "tick") or {})["status"]
        assert status["lastScheduleTime"] and status["lastSuccessfulTime"]
        for obj in jobs:
            minutes = int(obj["metadata"]["name"].rsplit("-", 1)[1])
            scheduled = obj["metadata"]["annotations"][
                "batch.kubernetes.io/cronjob-scheduled-timestamp"
            ]
            assert scheduled.startswith("20") and minutes > 29_000_000
            assert obj["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
        cluster.wait_for(
            lambda: len([j for j in cluster.store.list("jobs", NAMESPACE)[0] if _finished(j)]) <= 2,
            "history limited to 2",
        )


def test_manual_job_from_cronjob_is_tracked_like_a_cluster(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        owner = cluster.create("cronjobs", cronjob("nightly", schedule="0 3 * * *"))
        manual = job("nightly-manual-1", "print('by hand')")
        manual["metadata"]["annotations"] = {"cronjob.kubernetes.io/instantiate": "manual"}
        manual["metadata"]["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": "nightly",
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
        cluster.create("jobs", manual)
        cluster.wait_for(
            lambda: ((cluster.get("cronjobs", "nightly") or {}).get("status") or {}).get(
                "lastSuccessfulTime"
            ),
            "lastSuccessfulTime from the manual run",
        )
        assert cluster.events("UnexpectedJob")
        cluster.store.delete("cronjobs", NAMESPACE, "nightly")
        cluster.wait_for(
            lambda: cluster.get("jobs", "nightly-manual-1") is None,
            "the garbage collector to delete the job of the deleted cronjob",
        )


def _suspend(obj: Obj) -> None:
    obj["spec"]["suspend"] = True


def _finished(obj: Obj) -> bool:
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def test_suspended_job_starts_nothing_until_resumed(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        cluster.create("jobs", job("held", "print('finally')", suspend=True))
        cluster.wait_for(lambda: condition(cluster, "jobs", "held", "Suspended"), "Suspended")
        assert not cluster.pods(labels="job-name=held")
        cluster.store.mutate(
            "jobs", NAMESPACE, "held", lambda obj: obj["spec"].update(suspend=False)
        )
        cluster.wait_for(lambda: condition(cluster, "jobs", "held", "Complete"), "completion")
        assert cluster.events("Resumed")


def test_forbid_skips_runs_while_one_is_active(tmp_path: Path) -> None:
    with running_cluster(tmp_path, clock_speed=240) as cluster:
        slow = cronjob("busy", concurrencyPolicy="Forbid")
        container = slow["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        container["command"] = ["python", "-c", "import time; time.sleep(600)"]
        cluster.create("cronjobs", slow)
        cluster.wait_for(lambda: cluster.events("JobAlreadyActive"), "a skipped run")
        assert len(cluster.store.list("jobs", NAMESPACE)[0]) == 1
        status = (cluster.get("cronjobs", "busy") or {})["status"]
        assert [ref["kind"] for ref in status["active"]] == ["Job"]


def test_suspending_a_job_terminates_its_pods_gracefully(cluster: Cluster, tmp_path: Path) -> None:
    # ignores SIGTERM (once it says so): the kubelet stops it only when its grace is over
    ready = tmp_path / "ready"
    stubborn = (
        "import os, signal, time; signal.signal(signal.SIGTERM, lambda *_: None); "
        "open(os.environ['MARK'], 'w').close(); time.sleep(600)"
    )
    spec = job("held", stubborn)
    pod_spec = spec["spec"]["template"]["spec"]
    pod_spec["terminationGracePeriodSeconds"] = 3
    # the mark is the host's, reached as a container reaches it: through a hostPath, named in
    # the env (which holds the host's folder where containers see the host's paths)
    pod_spec["volumes"] = [{"name": "marks", "hostPath": {"path": str(tmp_path)}}]
    container = pod_spec["containers"][0]
    container["volumeMounts"] = [{"name": "marks", "mountPath": "/marks"}]
    container["env"] = [{"name": "MARK", "value": "/marks/ready"}]
    cluster.create("jobs", spec)
    running = cluster.wait_for(
        lambda: [
            p for p in cluster.pods(labels="job-name=held") if p["status"].get("phase") == "Running"
        ],
        "the job's pod running",
    )
    name = running[0]["metadata"]["name"]
    cluster.wait_for(ready.exists, "its SIGTERM handler set")

    def suspend(obj: Obj) -> None:
        obj["spec"]["suspend"] = True

    cluster.store.mutate("jobs", NAMESPACE, "held", suspend)
    status = cluster.wait_for(
        lambda: ((cluster.get("jobs", "held") or {}).get("status") or {}).get("terminating"),
        "status.terminating counting the pod",
    )
    assert status == 1
    pod = cluster.get("pods", name)
    assert pod is not None and pod["metadata"]["deletionGracePeriodSeconds"] == 3
    cluster.wait_for(lambda: cluster.get("pods", name) is None, "the pod gone", timeout=15)
    cluster.wait_for(
        lambda: ((cluster.get("jobs", "held") or {}).get("status") or {}).get("terminating") == 0,
        "status.terminating back to 0",
    )
