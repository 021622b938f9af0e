"""The namespace controller: a deleted namespace is emptied, reports progress, then goes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver import registry
from sandbox.apiserver.objects import ObjectApi, WriteOptions
from sandbox.resources import BY_PLURAL
from tests.sandbox.inprocess import Cluster, running_cluster

Obj = dict[str, Any]
NAMESPACE = "doomed"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path) as running:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        running.store.create(
            "namespaces", registry.prepare(BY_PLURAL["namespaces"], namespace, None, running.store)
        )
        yield running


def conditions(cluster: Cluster) -> dict[str, tuple[str, str, str]]:
    ns = cluster.get("namespaces", NAMESPACE, namespace="") or {}
    return {
        c["type"]: (c["status"], c["reason"], c["message"])
        for c in (ns.get("status") or {}).get("conditions") or []
    }


def test_a_deleted_namespace_waits_for_its_content_and_says_what_remains(cluster: Cluster) -> None:
    api = ObjectApi(cluster.store)
    held = {"name": "held", "namespace": NAMESPACE, "finalizers": ["example.com/hold"]}
    cluster.create("configmaps", {"metadata": held})
    cluster.create("configmaps", {"metadata": {"name": "plain", "namespace": NAMESPACE}})
    marked = api.delete(BY_PLURAL["namespaces"], None, NAMESPACE, None, False)
    assert marked["status"]["phase"] == "Terminating"
    assert marked["spec"]["finalizers"] == ["kubernetes"]
    assert marked["metadata"]["deletionTimestamp"]
    remaining = cluster.wait_for(
        lambda: conditions(cluster).get("NamespaceContentRemaining"), "the content condition"
    )
    assert remaining == (
        "True",
        "SomeResourcesRemain",
        "Some resources are remaining: configmaps. has 1 resource instances",
    )
    found = conditions(cluster)
    assert found["NamespaceFinalizersRemaining"] == (
        "True",
        "SomeFinalizerRemain",
        "Some finalizers are remaining: example.com/hold in 1 resource instances",
    )
    assert found["NamespaceDeletionDiscoveryFailure"] == (
        "False",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    )
    assert cluster.get("configmaps", "plain", NAMESPACE) is None
    assert cluster.get("configmaps", "held", NAMESPACE)["metadata"]["deletionTimestamp"]  # type: ignore[index]
    # The namespace stays Terminating: nothing flips it back to Active.
    ns = cluster.get("namespaces", NAMESPACE, namespace="")
    assert ns is not None and ns["status"]["phase"] == "Terminating"

    with pytest.raises(ApiError) as refused:
        api.create(
            BY_PLURAL["configmaps"],
            NAMESPACE,
            {"metadata": {"name": "late"}},
            WriteOptions(),
        )
    assert refused.value.code == 403
    assert refused.value.message == (
        f'configmaps "late" is forbidden: unable to create new content in namespace {NAMESPACE} '
        "because it is being terminated"
    )

    cluster.store.mutate(
        "configmaps", NAMESPACE, "held", lambda obj: obj["metadata"].update(finalizers=[])
    )
    cluster.wait_for(
        lambda: cluster.get("namespaces", NAMESPACE, namespace="") is None, "the namespace to go"
    )


def test_a_terminating_namespace_left_by_a_stopped_sandbox_finishes(tmp_path: Path) -> None:
    from sandbox.clock import Clock
    from sandbox.cluster import start_components
    from sandbox.storage.store import Store

    store = Store(tmp_path / "state")
    store.create(
        "namespaces", {"metadata": {"name": "old"}, "spec": {"finalizers": ["kubernetes"]}}
    )
    store.create("configmaps", {"metadata": {"name": "c", "namespace": "old"}})
    store.mutate(
        "namespaces",
        None,
        "old",
        lambda ns: (
            ns["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z"),
            ns.update(status={"phase": "Terminating"}),
        ),
    )
    store.close()
    restarted = Store(tmp_path / "state")
    assert restarted.get("namespaces", None, "old")["status"]["phase"] == "Terminating"
    controllers = start_components(restarted, tmp_path, clock=Clock(1.0), run_pods=False)
    try:
        cluster = Cluster(restarted, tmp_path, controllers)
        cluster.wait_for(
            lambda: cluster.get("namespaces", "old", namespace="") is None, "the namespace to go"
        )
        assert restarted.list("configmaps", "old")[0] == []
    finally:
        controllers.stop()
        restarted.close()


def test_the_default_namespaces_cannot_be_deleted(cluster: Cluster) -> None:
    with pytest.raises(ApiError) as refused:
        ObjectApi(cluster.store).delete(BY_PLURAL["namespaces"], None, "default", None, False)
    assert refused.value.message == (
        'namespaces "default" is forbidden: this namespace may not be deleted'
    )


def test_admission_names_the_prefix_of_a_generated_name(cluster: Cluster) -> None:
    api = ObjectApi(cluster.store)
    held = {"name": "held", "namespace": NAMESPACE, "finalizers": ["example.com/hold"]}
    cluster.create("configmaps", {"metadata": held})
    api.delete(BY_PLURAL["namespaces"], None, NAMESPACE, None, False)
    with pytest.raises(ApiError) as refused:
        api.create(
            BY_PLURAL["jobs"], NAMESPACE, {"metadata": {"generateName": "run-"}}, WriteOptions()
        )
    assert refused.value.message == (
        f'jobs.batch "run-" is forbidden: unable to create new content in namespace {NAMESPACE} '
        "because it is being terminated"
    )
    assert refused.value.details is not None
    assert refused.value.details["causes"] == [
        {
            "reason": "NamespaceTerminating",
            "message": f"namespace {NAMESPACE} is being terminated",
            "field": "metadata.namespace",
        }
    ]


def test_objects_in_a_terminating_namespace_may_still_be_updated(cluster: Cluster) -> None:
    api = ObjectApi(cluster.store)
    held = {"name": "held", "namespace": NAMESPACE, "finalizers": ["example.com/hold"]}
    cluster.create("configmaps", {"metadata": held})
    api.delete(BY_PLURAL["namespaces"], None, NAMESPACE, None, False)
    current = cluster.store.get("configmaps", NAMESPACE, "held")
    current["data"] = {"still": "writable"}
    replaced = api.replace(
        BY_PLURAL["configmaps"], NAMESPACE, "held", current, None, WriteOptions()
    )
    assert replaced["data"] == {"still": "writable"}
