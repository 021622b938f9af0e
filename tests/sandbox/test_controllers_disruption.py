"""The disruption controller alone: a PodDisruptionBudget's healthy, desired and allowed counts."""

from __future__ import annotations

from typing import Any

from sandbox.controllers.base import owner_reference
from sandbox.controllers.disruption import DisruptionBudgetController
from tests.sandbox.unit import NAMESPACE, Bench, bench, ready

Obj = dict[str, Any]


def budget(unit: Bench, **spec: Any) -> Obj:
    return unit.create(
        "poddisruptionbudgets",
        {
            "metadata": {"name": "api"},
            "spec": {"selector": {"matchLabels": {"app": "api"}}, **spec},
        },
    )


def api_pod(unit: Bench, name: str, *, healthy: bool = True, owner: Obj | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": {"app": "api"}}
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    unit.create("pods", {"metadata": meta, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    return unit.set_status("pods", name, **ready(healthy))


def workload(unit: Bench, resource: str, name: str, replicas: int, owner: Obj | None = None) -> Obj:
    meta: Obj = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    return unit.create(
        resource,
        {
            "metadata": meta,
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        },
    )


def counts(unit: Bench) -> tuple[int, int, int, int]:
    """(currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed)"""
    DisruptionBudgetController(unit.ctx).reconcile(NAMESPACE, "api")
    status = unit.status("poddisruptionbudgets", "api")
    return (
        status["currentHealthy"],
        status["desiredHealthy"],
        status["expectedPods"],
        status["disruptionsAllowed"],
    )


def allowed_condition(unit: Bench) -> Obj:
    status = unit.status("poddisruptionbudgets", "api")
    (cond,) = [c for c in status["conditions"] if c["type"] == "DisruptionAllowed"]
    return dict(cond)


def test_an_integer_min_available_counts_the_selected_pods() -> None:
    unit = bench()
    budget(unit, minAvailable=2)
    for name in ("api-a", "api-b", "api-c"):
        api_pod(unit, name)
    api_pod(unit, "api-d", healthy=False)
    api_pod(unit, "api-done", healthy=False)
    unit.set_status("pods", "api-done", phase="Succeeded")  # still selected, so expected
    container = {"name": "c", "image": "x"}
    unit.create(
        "pods",
        {"metadata": {"name": "db", "labels": {"app": "db"}}, "spec": {"containers": [container]}},
    )
    assert counts(unit) == (3, 2, 5, 1)
    cond = allowed_condition(unit)
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "SufficientPods", "")
    assert cond["observedGeneration"] == 1
    assert unit.status("poddisruptionbudgets", "api")["observedGeneration"] == 1


def test_no_room_is_insufficient_pods_and_a_terminating_pod_is_not_healthy() -> None:
    unit = bench()
    budget(unit, minAvailable=2)
    api_pod(unit, "api-a")
    api_pod(unit, "api-b")
    assert counts(unit)[3] == 0
    unit.store.mutate(
        "pods", NAMESPACE, "api-b", lambda p: p["metadata"].update(finalizers=["test/hold"])
    )
    unit.store.delete("pods", NAMESPACE, "api-b")
    assert counts(unit) == (1, 2, 2, 0)
    cond = allowed_condition(unit)
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")


def test_max_unavailable_expects_the_deployments_replicas_not_the_pods_present() -> None:
    unit = bench()
    budget(unit, maxUnavailable=1)
    deployment = workload(unit, "deployments", "api", 3)
    old = workload(unit, "replicasets", "api-old", 1, owner=deployment)
    new = workload(unit, "replicasets", "api-new", 2, owner=deployment)
    api_pod(unit, "api-old-a", owner=old)
    api_pod(unit, "api-new-a", owner=new)
    # a third pod is still being created: three are expected, not the two there are
    assert counts(unit) == (2, 2, 3, 0)
    api_pod(unit, "api-new-b", owner=new)
    assert counts(unit) == (3, 2, 3, 1)


def test_a_percentage_is_of_the_replicaset_scale_rounded_up() -> None:
    unit = bench()
    budget(unit, minAvailable="50%")
    rs = workload(unit, "replicasets", "api", 3)
    for name in ("api-a", "api-b", "api-c"):
        api_pod(unit, name, owner=rs)
    assert counts(unit) == (3, 2, 3, 1)  # ceil(1.5)


def test_pods_without_a_controller_are_not_expected_by_a_percentage() -> None:
    unit = bench()
    budget(unit, maxUnavailable="50%")
    rs = workload(unit, "replicasets", "api", 2)
    api_pod(unit, "api-a", owner=rs)
    api_pod(unit, "api-b", owner=rs)
    api_pod(unit, "stray")
    assert counts(unit) == (3, 1, 2, 2)


def test_a_controller_without_a_scale_fails_safe() -> None:
    unit = bench()
    budget(unit, maxUnavailable=1)
    job = unit.create(
        "jobs",
        {
            "metadata": {"name": "train"},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}
                }
            },
        },
    )
    api_pod(unit, "train-a", owner=job)
    DisruptionBudgetController(unit.ctx).reconcile(NAMESPACE, "api")
    status = unit.status("poddisruptionbudgets", "api")
    assert status["disruptionsAllowed"] == 0
    cond = allowed_condition(unit)
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False",
        "SyncFailed",
        "jobs.batch does not implement the scale subresource",
    )
    assert unit.messages("CalculateExpectedPodCountFailed") == [
        "Failed to calculate the number of expected pods: "
        "jobs.batch does not implement the scale subresource"
    ]


def test_a_vanished_controller_is_found_no_controllers() -> None:
    unit = bench()
    budget(unit, maxUnavailable=1)
    rs = workload(unit, "replicasets", "api", 2)
    api_pod(unit, "api-a", owner=rs)
    unit.store.delete("replicasets", NAMESPACE, "api")
    DisruptionBudgetController(unit.ctx).reconcile(NAMESPACE, "api")
    assert allowed_condition(unit)["message"] == 'found no controllers for pod "api-a"'


def test_no_matching_pods_allows_nothing_and_says_so() -> None:
    unit = bench()
    budget(unit, maxUnavailable=1)
    assert counts(unit) == (0, 0, 0, 0)
    assert unit.messages("NoPods") == ["No matching pods found"]


def test_a_pod_change_queues_the_budgets_that_select_it() -> None:
    unit = bench()
    controller = DisruptionBudgetController(unit.ctx)
    budget(unit, minAvailable=1)
    unit.create(
        "poddisruptionbudgets",
        {"metadata": {"name": "db"}, "spec": {"selector": {"matchLabels": {"app": "db"}}}},
    )
    pod = api_pod(unit, "api-a")
    assert list(controller.keys_for("pods", pod)) == [(NAMESPACE, "api")]
