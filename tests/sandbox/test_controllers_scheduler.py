"""The scheduler's loop alone: binding, FailedScheduling, back-off and retry on a change.

The fit rules themselves (requests, affinity, taints, the FitError text) are
tests/sandbox/test_scheduler.py's; here the controller around them.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.resources import NODE_NAME
from sandbox.scheduler.scheduler import BACKOFF_START, Scheduler
from tests.sandbox.unit import NAMESPACE, Bench, bench

Obj = dict[str, Any]

NOT_HELPFUL = "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."


def pending(unit: Bench, name: str, cpu: str = "10m", **spec: Any) -> Obj:
    container = {"name": "c", "image": "lab:1", "resources": {"requests": {"cpu": cpu}}}
    return unit.create(
        "pods", {"metadata": {"name": name}, "spec": {"containers": [container], **spec}}
    )


def scheduled(unit: Bench, name: str) -> Obj:
    pod = unit.get("pods", name) or {}
    for cond in pod["status"].get("conditions") or []:
        if cond["type"] == "PodScheduled":
            return dict(cond)
    return {}


def drain(scheduler: Scheduler) -> list[tuple[str, str]]:
    keys = []
    while (key := scheduler.queue.get(timeout=0)) is not None:
        keys.append(key)
    return keys


def test_a_pending_pod_is_bound_to_the_node() -> None:
    unit = bench(node=True)
    scheduler = Scheduler(unit.ctx)
    pending(unit, "web")
    assert scheduler.reconcile(NAMESPACE, "web") is None
    pod = unit.get("pods", "web") or {}
    assert pod["spec"]["nodeName"] == NODE_NAME
    cond = scheduled(unit, "web")
    assert (cond["status"], cond["lastProbeTime"]) == ("True", None)
    assert cond["lastTransitionTime"]
    (event,) = unit.events("Scheduled")
    assert event["message"] == f"Successfully assigned {NAMESPACE}/web to {NODE_NAME}"
    assert event["source"]["component"] == "default-scheduler"
    assert event["involvedObject"]["name"] == "web"
    assert scheduler.reconcile(NAMESPACE, "web") is None  # bound: nothing more to do
    assert len(unit.events("Scheduled")) == 1


def test_pods_not_for_it_are_left_alone() -> None:
    unit = bench(node=True)
    scheduler = Scheduler(unit.ctx)
    pending(unit, "custom", schedulerName="my-scheduler")
    pending(unit, "going")
    unit.store.mutate(
        "pods", NAMESPACE, "going", lambda p: p["metadata"].update(finalizers=["t/h"])
    )
    unit.store.delete("pods", NAMESPACE, "going")
    pending(unit, "done")
    unit.set_status("pods", "done", phase="Failed")
    for name in ("custom", "going", "done", "vanished"):
        assert scheduler.reconcile(NAMESPACE, name) is None
    assert [p["spec"].get("nodeName") for p in unit.list("pods")] == [None, None, None]
    assert unit.events("Scheduled") == [] and unit.events("FailedScheduling") == []


def test_a_pod_that_does_not_fit_stays_pending_and_unschedulable() -> None:
    unit = bench(node=True)
    scheduler = Scheduler(unit.ctx)
    pending(unit, "huge", cpu="100000")
    scheduler.reconcile(NAMESPACE, "huge")
    pod = unit.get("pods", "huge") or {}
    assert "nodeName" not in pod["spec"] and pod["status"]["phase"] == "Pending"
    message = (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
        "1 No preemption victims found for incoming pod."
    )
    cond = scheduled(unit, "huge")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", message)
    (event,) = unit.events("FailedScheduling")
    assert (event["type"], event["message"]) == ("Warning", message)


def test_the_pods_already_bound_count_against_the_node() -> None:
    unit = bench(node=True)
    scheduler = Scheduler(unit.ctx)
    node = unit.get("nodes", NODE_NAME, namespace=None) or {}
    cpus = node["status"]["allocatable"]["cpu"]
    pending(unit, "first", cpu=cpus)
    scheduler.reconcile(NAMESPACE, "first")
    assert (unit.get("pods", "first") or {})["spec"]["nodeName"] == NODE_NAME
    pending(unit, "second", cpu="1")
    scheduler.reconcile(NAMESPACE, "second")
    assert scheduled(unit, "second")["reason"] == "Unschedulable"
    # the first one ends: its cpu is free again, and the waiting pod is retried at once
    drain(scheduler)
    unit.clock.advance(BACKOFF_START)
    unit.set_status("pods", "first", phase="Succeeded")
    assert drain(scheduler) == [(NAMESPACE, "second"), (NAMESPACE, "first")]
    scheduler.reconcile(NAMESPACE, "second")
    assert (unit.get("pods", "second") or {})["spec"]["nodeName"] == NODE_NAME


def test_a_retry_within_the_back_off_waits_and_keeps_the_transition_time() -> None:
    unit = bench(node=True)
    scheduler = Scheduler(unit.ctx)
    pending(unit, "huge", cpu="100000")
    scheduler.reconcile(NAMESPACE, "huge")
    first = scheduled(unit, "huge")
    unit.clock.advance(BACKOFF_START / 2)
    assert scheduler.reconcile(NAMESPACE, "huge") == pytest.approx(
        BACKOFF_START / 2
    )  # not before the back-off
    unit.clock.advance(BACKOFF_START / 2)
    assert scheduler.reconcile(NAMESPACE, "huge") is None  # tried again, and failed again
    again = scheduled(unit, "huge")
    assert again["lastTransitionTime"] == first["lastTransitionTime"]
    (event,) = unit.events("FailedScheduling")
    assert event["count"] == 2
    # the back-off doubles: the third try waits twice as long
    assert scheduler.reconcile(NAMESPACE, "huge") == pytest.approx(2 * BACKOFF_START)


def test_a_cordoned_node_takes_nothing_until_uncordoned() -> None:
    unit = bench(node=True)
    scheduler = Scheduler(unit.ctx)
    unit.store.mutate("nodes", None, NODE_NAME, lambda n: n["spec"].update(unschedulable=True))
    pending(unit, "web")
    scheduler.reconcile(NAMESPACE, "web")
    assert scheduled(unit, "web")["message"] == (
        f"0/1 nodes are available: 1 node(s) were unschedulable. {NOT_HELPFUL}"
    )
    drain(scheduler)
    unit.clock.advance(BACKOFF_START)
    unit.store.mutate("nodes", None, NODE_NAME, lambda n: n["spec"].update(unschedulable=False))
    assert drain(scheduler) == [(NAMESPACE, "web")]  # a node change retries the waiting pod
    scheduler.reconcile(NAMESPACE, "web")
    assert (unit.get("pods", "web") or {})["spec"]["nodeName"] == NODE_NAME


def test_a_claim_must_exist_and_be_bound() -> None:
    unit = bench(node=True)
    scheduler = Scheduler(unit.ctx)
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "models"}}]
    pending(unit, "web", volumes=volumes)
    scheduler.reconcile(NAMESPACE, "web")
    assert scheduled(unit, "web")["message"] == (
        f'0/1 nodes are available: persistentvolumeclaim "models" not found. {NOT_HELPFUL}'
    )
    unit.create(
        "persistentvolumeclaims",
        {
            "metadata": {"name": "models"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    unit.clock.advance(BACKOFF_START)
    scheduler.reconcile(NAMESPACE, "web")
    assert scheduled(unit, "web")["message"] == (
        f"0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. {NOT_HELPFUL}"
    )
    unit.set_status("persistentvolumeclaims", "models", phase="Bound")
    unit.clock.advance(2 * BACKOFF_START)
    scheduler.reconcile(NAMESPACE, "web")
    assert (unit.get("pods", "web") or {})["spec"]["nodeName"] == NODE_NAME


def test_no_node_no_binding() -> None:
    unit = bench()
    scheduler = Scheduler(unit.ctx)
    pending(unit, "web")
    scheduler.reconcile(NAMESPACE, "web")
    assert scheduled(unit, "web")["message"] == "no nodes available to schedule pods"
