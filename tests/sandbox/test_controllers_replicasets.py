"""The ReplicaSet controller alone: pods to match replicas, adoption and release, status."""

from __future__ import annotations

from typing import Any

from sandbox.controllers.replicasets import ReplicaSetController
from tests.sandbox.unit import NAMESPACE, Bench, bench, ready

Obj = dict[str, Any]


def replicaset(name: str, replicas: int) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "web"}},
                "spec": {"containers": [{"name": "web", "image": "lab:1"}]},
            },
        },
    }


def bare_pod(name: str, labels: dict[str, str], **meta: Any) -> Obj:
    return {
        "metadata": {"name": name, "labels": labels, **meta},
        "spec": {"containers": [{"name": "web", "image": "lab:1"}]},
    }


def live_pods(unit: Bench) -> list[Obj]:
    """The pods still counted: not deleted, nor being deleted."""
    return [pod for pod in unit.list("pods") if not pod["metadata"].get("deletionTimestamp")]


def owned_by(pod: Obj, owner: Obj) -> bool:
    return any(
        ref.get("uid") == owner["metadata"]["uid"] and ref.get("controller")
        for ref in pod["metadata"].get("ownerReferences") or []
    )


def test_creates_pods_from_the_template_to_match_replicas() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    rs = unit.create("replicasets", replicaset("web", 3))
    controller.reconcile(NAMESPACE, "web")
    pods = live_pods(unit)
    assert len(pods) == 3
    for pod in pods:
        meta = pod["metadata"]
        assert meta["name"].startswith("web-") and len(meta["name"]) == len("web-") + 5
        assert meta["generateName"] == "web-"
        assert meta["labels"] == {"app": "web", "tier": "web"}
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web",
                "uid": rs["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert pod["spec"]["containers"][0]["image"] == "lab:1"
        assert pod["status"]["phase"] == "Pending"
    assert unit.messages("SuccessfulCreate") == sorted(
        f"Created pod: {pod['metadata']['name']}" for pod in pods
    )
    status = unit.status("replicasets", "web")
    # readyReplicas/availableReplicas are omitempty: no pod is ready yet
    assert status == {"replicas": 3, "fullyLabeledReplicas": 3, "observedGeneration": 1}
    controller.reconcile(NAMESPACE, "web")
    assert len(live_pods(unit)) == 3  # a second pass with nothing changed creates nothing


def test_ready_pods_count_as_ready_and_available() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    unit.create("replicasets", replicaset("web", 3))
    controller.reconcile(NAMESPACE, "web")
    first, second, _ = sorted(p["metadata"]["name"] for p in live_pods(unit))
    unit.set_status("pods", first, **ready())
    unit.set_status("pods", second, **ready(False))
    controller.reconcile(NAMESPACE, "web")
    status = unit.status("replicasets", "web")
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (3, 1, 1)


def test_scaling_down_deletes_unscheduled_then_not_ready_then_newest() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    unit.create("replicasets", replicaset("web", 4))
    controller.reconcile(NAMESPACE, "web")
    names = sorted(p["metadata"]["name"] for p in live_pods(unit))
    scheduled_ready, scheduled_unready, unscheduled, also_ready = names
    for name in (scheduled_ready, scheduled_unready, also_ready):
        unit.store.mutate("pods", NAMESPACE, name, lambda p: p["spec"].update(nodeName="sandbox"))
    for name in (scheduled_ready, also_ready):
        unit.set_status("pods", name, **ready())
    unit.set_status("pods", scheduled_unready, **ready(False))

    unit.store.mutate("replicasets", NAMESPACE, "web", lambda rs: rs["spec"].update(replicas=2))
    controller.reconcile(NAMESPACE, "web")
    left = sorted(p["metadata"]["name"] for p in live_pods(unit))
    assert left == sorted([scheduled_ready, also_ready])
    assert unit.messages("SuccessfulDelete") == sorted(
        f"Deleted pod: {name}" for name in (unscheduled, scheduled_unready)
    )
    status = unit.status("replicasets", "web")
    assert (status["replicas"], status["readyReplicas"], status["observedGeneration"]) == (2, 2, 2)


def test_finished_and_terminating_pods_are_replaced() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    unit.create("replicasets", replicaset("web", 2))
    controller.reconcile(NAMESPACE, "web")
    failed, terminating = sorted(p["metadata"]["name"] for p in live_pods(unit))
    unit.set_status("pods", failed, phase="Failed")

    def deleting(pod: Obj) -> None:
        pod["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["test/hold"])

    unit.store.mutate("pods", NAMESPACE, terminating, deleting)
    controller.reconcile(NAMESPACE, "web")
    fresh = [
        p
        for p in live_pods(unit)
        if p["metadata"]["name"] not in (failed, terminating)
        and p["status"].get("phase") == "Pending"
    ]
    assert len(fresh) == 2
    assert unit.status("replicasets", "web")["replicas"] == 2


def test_adopts_a_matching_orphan_instead_of_creating_a_pod() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    unit.create("pods", bare_pod("stray", {"app": "web"}))
    unit.create("pods", bare_pod("unrelated", {"app": "db"}))
    rs = unit.create("replicasets", replicaset("web", 1))
    controller.reconcile(NAMESPACE, "web")
    pods = {p["metadata"]["name"]: p for p in live_pods(unit)}
    assert set(pods) == {"stray", "unrelated"}  # nothing created: the orphan is its replica
    assert owned_by(pods["stray"], rs)
    assert "ownerReferences" not in pods["unrelated"]["metadata"]
    assert unit.status("replicasets", "web")["replicas"] == 1


def test_leaves_pods_of_another_controller_and_terminating_orphans_alone() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    other = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "other",
        "uid": "0f0f0f0f-0000-0000-0000-000000000000",
        "controller": True,
    }
    unit.create("pods", bare_pod("theirs", {"app": "web"}, ownerReferences=[other]))
    unit.create("pods", bare_pod("going", {"app": "web"}, finalizers=["test/hold"]))
    unit.store.delete("pods", NAMESPACE, "going")
    rs = unit.create("replicasets", replicaset("web", 1))
    controller.reconcile(NAMESPACE, "web")
    theirs = unit.get("pods", "theirs") or {}
    going = unit.get("pods", "going") or {}
    assert theirs["metadata"]["ownerReferences"] == [other]
    assert "ownerReferences" not in going["metadata"]
    mine = [p for p in live_pods(unit) if owned_by(p, rs)]
    assert len(mine) == 1 and mine[0]["metadata"]["name"].startswith("web-")


def test_a_relabelled_pod_is_released_and_replaced() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    rs = unit.create("replicasets", replicaset("web", 1))
    controller.reconcile(NAMESPACE, "web")
    (pod,) = live_pods(unit)
    name = pod["metadata"]["name"]
    # kubectl label pod NAME app=debug --overwrite: take a pod out of service to look at it
    unit.store.mutate("pods", NAMESPACE, name, lambda p: p["metadata"]["labels"].update(app="x"))
    controller.reconcile(NAMESPACE, "web")
    released = unit.get("pods", name) or {}
    assert "ownerReferences" not in released["metadata"]
    replacements = [p for p in live_pods(unit) if owned_by(p, rs)]
    assert len(replacements) == 1 and replacements[0]["metadata"]["name"] != name


def test_finished_pods_are_neither_adopted_nor_released() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    unit.create("pods", bare_pod("done", {"app": "web"}))
    unit.set_status("pods", "done", phase="Succeeded")
    rs = unit.create("replicasets", replicaset("web", 1))
    controller.reconcile(NAMESPACE, "web")
    assert "ownerReferences" not in (unit.get("pods", "done") or {})["metadata"]
    (mine,) = [p for p in live_pods(unit) if owned_by(p, rs)]
    name = mine["metadata"]["name"]
    unit.set_status("pods", name, phase="Failed")
    unit.store.mutate("pods", NAMESPACE, name, lambda p: p["metadata"]["labels"].update(app="x"))
    controller.reconcile(NAMESPACE, "web")
    assert owned_by(unit.get("pods", name) or {}, rs)  # still its own, kept for its history


def test_a_replicaset_being_deleted_neither_creates_nor_adopts() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    unit.create("pods", bare_pod("stray", {"app": "web"}))
    unit.create("replicasets", replicaset("web", 2))
    unit.store.delete("replicasets", NAMESPACE, "web", "Foreground")
    controller.reconcile(NAMESPACE, "web")
    (stray,) = live_pods(unit)
    assert "ownerReferences" not in stray["metadata"]


def test_a_deleted_replicaset_is_a_no_op() -> None:
    unit = bench()
    controller = ReplicaSetController(unit.ctx)
    assert controller.reconcile(NAMESPACE, "gone") is None
    assert live_pods(unit) == []
