"""The garbage collector: background, orphan and foreground propagation over ownerReferences."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver.objects import ObjectApi
from sandbox.resources import BY_PLURAL
from tests.sandbox.inprocess import NAMESPACE, Cluster

Obj = dict[str, Any]


def ref(owner: Obj, block: bool = False) -> Obj:
    meta = owner["metadata"]
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": meta["name"], "uid": meta["uid"]}
    return {**reference, "blockOwnerDeletion": True} if block else reference


def configmap(cluster: Cluster, name: str, *owners: Obj, **meta: Any) -> Obj:
    body: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}}
    if owners:
        body["metadata"]["ownerReferences"] = list(owners)
    return cluster.create("configmaps", body)


def gone(cluster: Cluster, name: str) -> bool:
    return cluster.get("configmaps", name) is None


def release(cluster: Cluster, name: str) -> None:
    cluster.store.mutate(
        "configmaps", NAMESPACE, name, lambda obj: obj["metadata"].update(finalizers=[])
    )


def test_background_deletes_dependents_whose_owners_are_all_gone(cluster: Cluster) -> None:
    owner = configmap(cluster, "owner")
    other = configmap(cluster, "other")
    configmap(cluster, "only-child", ref(owner))
    configmap(cluster, "shared-child", ref(owner), ref(other))
    cluster.store.delete("configmaps", NAMESPACE, "owner")
    cluster.wait_for(lambda: gone(cluster, "only-child"), "the dependent to be collected")
    shared = cluster.wait_for(
        lambda: (
            (obj := cluster.get("configmaps", "shared-child"))
            and len(obj["metadata"]["ownerReferences"]) == 1
            and obj
        ),
        "the reference to the deleted owner to be removed",
    )
    assert shared["metadata"]["ownerReferences"] == [ref(other)]


def test_a_dependent_created_for_a_missing_owner_is_collected(cluster: Cluster) -> None:
    ghost = {"metadata": {"name": "ghost", "uid": "0000-gone"}}
    configmap(cluster, "stray", ref(ghost))
    cluster.wait_for(lambda: gone(cluster, "stray"), "the dangling dependent to be collected")


def test_a_reference_to_a_recreated_owner_of_that_name_is_dangling(cluster: Cluster) -> None:
    first = configmap(cluster, "owner")
    cluster.store.delete("configmaps", NAMESPACE, "owner")
    configmap(cluster, "owner")
    configmap(cluster, "child", ref(first))
    cluster.wait_for(lambda: gone(cluster, "child"), "the child of the old owner to go")
    assert cluster.get("configmaps", "owner") is not None


def test_orphan_removes_the_references_then_the_owner(cluster: Cluster) -> None:
    owner = configmap(cluster, "owner")
    configmap(cluster, "child", ref(owner, block=True))
    marked = cluster.store.delete("configmaps", NAMESPACE, "owner", "Orphan")
    assert marked["metadata"]["finalizers"] == ["orphan"]
    cluster.wait_for(lambda: gone(cluster, "owner"), "the orphaning owner to go")
    child = cluster.get("configmaps", "child")
    assert child is not None
    assert "ownerReferences" not in child["metadata"]


def test_foreground_waits_for_blocking_dependents_down_the_chain(cluster: Cluster) -> None:
    top = configmap(cluster, "top")
    middle = configmap(cluster, "middle", ref(top, block=True))
    configmap(cluster, "bottom", ref(middle, block=True), finalizers=["example.com/hold"])
    marked = cluster.store.delete("configmaps", NAMESPACE, "top", "Foreground")
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    # The middle one has dependents of its own, so it is deleted in foreground too.
    cluster.wait_for(
        lambda: (
            (cluster.get("configmaps", "middle") or {}).get("metadata", {}).get("finalizers")
            == ["foregroundDeletion"]
        ),
        "the middle dependent to be deleted in foreground",
    )
    cluster.wait_for(
        lambda: (
            (cluster.get("configmaps", "bottom") or {}).get("metadata", {}).get("deletionTimestamp")
        ),
        "the bottom dependent to be deleted",
    )
    assert cluster.get("configmaps", "top") is not None
    release(cluster, "bottom")
    cluster.wait_for(lambda: gone(cluster, "middle"), "the middle dependent to go")
    cluster.wait_for(lambda: gone(cluster, "top"), "the owner to go after its dependents")


def test_foreground_does_not_wait_for_dependents_that_do_not_block(cluster: Cluster) -> None:
    owner = configmap(cluster, "owner")
    configmap(cluster, "child", ref(owner), finalizers=["example.com/hold"])
    cluster.store.delete("configmaps", NAMESPACE, "owner", "Foreground")
    cluster.wait_for(lambda: gone(cluster, "owner"), "the owner to go without waiting")
    child = cluster.wait_for(
        lambda: (
            (cluster.get("configmaps", "child") or {}).get("metadata", {}).get("deletionTimestamp")
            and cluster.get("configmaps", "child")
        ),
        "the non-blocking dependent to be deleted as well",
    )
    assert child["metadata"]["finalizers"] == ["example.com/hold"]
    release(cluster, "child")
    cluster.wait_for(lambda: gone(cluster, "child"), "the dependent to go")


def test_a_replicaset_deleted_in_foreground_creates_no_new_pods(cluster: Cluster) -> None:
    rs = cluster.create(
        "replicasets",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": [
                            {
                                "name": "c",
                                "image": "lab:1",
                                "command": ["python", "-c", "import time; time.sleep(60)"],
                            }
                        ],
                    },
                },
            },
        },
    )
    cluster.wait_for(lambda: len(cluster.pods()) == 2, "the pods")
    cluster.store.delete("replicasets", NAMESPACE, "web", "Foreground")
    cluster.wait_for(lambda: cluster.get("replicasets", "web") is None, "the replica set to go")
    assert cluster.pods() == []
    with pytest.raises(ApiError):
        cluster.store.get("replicasets", NAMESPACE, rs["metadata"]["name"])


def test_a_job_deleted_without_a_policy_orphans_its_pods(cluster: Cluster) -> None:
    # batch/v1 Jobs default to orphaning (kubectl always sends Background, clients may not).
    cluster.create(
        "jobs",
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "c",
                                "image": "lab:1",
                                "command": ["python", "-c", "import time; time.sleep(60)"],
                            }
                        ],
                    }
                }
            },
        },
    )
    (job_pod,) = cluster.wait_for(lambda: cluster.pods(), "the job's pod")
    marked = ObjectApi(cluster.store).delete(BY_PLURAL["jobs"], NAMESPACE, "once", None, False)
    assert marked["metadata"]["finalizers"] == ["orphan"]
    cluster.wait_for(lambda: cluster.get("jobs", "once") is None, "the job to go")
    left = cluster.get("pods", job_pod["metadata"]["name"])
    assert left is not None
    assert "ownerReferences" not in left["metadata"]
    cluster.store.delete("pods", NAMESPACE, job_pod["metadata"]["name"])
