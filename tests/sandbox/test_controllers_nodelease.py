"""The kubelet's heartbeat alone: the node's Lease, created once and renewed every 10 s."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.clock import parse_time
from sandbox.kubelet.nodelease import NAMESPACE, RENEW_SECONDS, NodeLeaseController
from sandbox.resources import NODE_NAME
from tests.sandbox.unit import Bench, bench

MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def lease(unit: Bench) -> dict[str, Any]:
    found = unit.get("leases", NODE_NAME, namespace=NAMESPACE)
    assert found is not None
    return found


def test_the_first_beat_creates_the_nodes_lease() -> None:
    unit = bench(node=True)
    controller = NodeLeaseController(unit.ctx)
    before = datetime.now(UTC)
    assert controller.reconcile(NAMESPACE, NODE_NAME) == RENEW_SECONDS
    created = lease(unit)
    node = unit.get("nodes", NODE_NAME, namespace=None) or {}
    assert created["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME, "uid": node["metadata"]["uid"]}
    ]
    spec = created["spec"]
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"]) == (NODE_NAME, 40)
    renewed = datetime.strptime(spec["renewTime"], MICRO_TIME).replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= renewed <= datetime.now(UTC)


def test_a_beat_before_the_renewal_is_due_writes_nothing_and_waits_the_rest() -> None:
    unit = bench(node=True)
    controller = NodeLeaseController(unit.ctx)
    controller.reconcile(NAMESPACE, NODE_NAME)
    first = lease(unit)
    # its own write brings the key straight back: that must not renew again
    wait = controller.reconcile(NAMESPACE, NODE_NAME)
    assert wait is not None and RENEW_SECONDS - 1 < wait < RENEW_SECONDS
    assert lease(unit)["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_a_renewal_that_is_due_moves_renew_time() -> None:
    unit = bench(node=True)
    controller = NodeLeaseController(unit.ctx)
    controller.reconcile(NAMESPACE, NODE_NAME)
    stale = (datetime.now(UTC) - timedelta(seconds=RENEW_SECONDS + 1)).strftime(MICRO_TIME)
    unit.store.mutate(
        "leases", NAMESPACE, NODE_NAME, lambda obj: obj["spec"].update(renewTime=stale)
    )
    assert controller.reconcile(NAMESPACE, NODE_NAME) == RENEW_SECONDS
    renewed = parse_time(lease(unit)["spec"]["renewTime"])
    assert datetime.now(UTC) - renewed < timedelta(seconds=2)


def test_a_deleted_lease_is_created_again() -> None:
    unit = bench(node=True)
    controller = NodeLeaseController(unit.ctx)
    controller.reconcile(NAMESPACE, NODE_NAME)
    uid = lease(unit)["metadata"]["uid"]
    unit.store.delete("leases", NAMESPACE, NODE_NAME)
    controller.reconcile(NAMESPACE, NODE_NAME)
    assert lease(unit)["metadata"]["uid"] != uid


def test_no_node_no_lease_and_other_leases_are_not_its_business() -> None:
    unit = bench()
    controller = NodeLeaseController(unit.ctx)
    assert controller.reconcile(NAMESPACE, NODE_NAME) == RENEW_SECONDS  # tries again later
    assert unit.store.list("leases")[0] == []
    assert controller.reconcile("kube-system", "kube-controller-manager") is None
    assert unit.store.list("leases")[0] == []


def test_start_queues_the_first_beat_without_waiting_for_an_event() -> None:
    unit = bench(node=True)
    controller = NodeLeaseController(unit.ctx)
    controller.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while unit.get("leases", NODE_NAME, namespace=NAMESPACE) is None:
            assert datetime.now(UTC) < deadline, "no lease written"
            time.sleep(0.01)
    finally:
        controller.stop()
