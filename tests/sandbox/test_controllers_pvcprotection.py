"""PVC protection: a deleted claim stays while a scheduled pod names it, whatever its phase."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.apiserver.objects import ObjectApi
from sandbox.resources import BY_PLURAL
from tests.sandbox.inprocess import (
    NAMESPACE,
    Cluster,
    phase,
    pod,
    python_container,
    running_cluster,
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path) as running:
        running.create(
            "persistentvolumeclaims",
            {
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
        yield running


def user(name: str, code: str) -> dict:  # type: ignore[type-arg]
    container = python_container("c", code, volumeMounts=[{"name": "d", "mountPath": "/data"}])
    return pod(
        name, container, volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    )


def test_a_claim_used_by_a_finished_pod_waits_for_the_pod_to_go(cluster: Cluster) -> None:
    cluster.create("pods", user("once", "print('done')"))
    cluster.wait_for(lambda: phase(cluster, "once") == "Succeeded", "the pod to finish")
    ObjectApi(cluster.store).delete(
        BY_PLURAL["persistentvolumeclaims"], NAMESPACE, "data", None, False
    )
    cluster.wait_for(
        lambda: (
            (cluster.get("persistentvolumeclaims", "data") or {})
            .get("metadata", {})
            .get("deletionTimestamp")
        ),
        "the claim to be marked",
    )
    claim = cluster.get("persistentvolumeclaims", "data")
    assert claim is not None
    assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    cluster.store.delete("pods", NAMESPACE, "once")
    cluster.wait_for(
        lambda: cluster.get("persistentvolumeclaims", "data") is None, "the claim to go"
    )


def test_an_unused_claim_goes_at_once_and_a_lost_finalizer_comes_back(cluster: Cluster) -> None:
    cluster.store.mutate(
        "persistentvolumeclaims", NAMESPACE, "data", lambda c: c["metadata"].update(finalizers=[])
    )
    cluster.wait_for(
        lambda: (
            (cluster.get("persistentvolumeclaims", "data") or {})
            .get("metadata", {})
            .get("finalizers")
            == ["kubernetes.io/pvc-protection"]
        ),
        "the protection controller to add its finalizer again",
    )
    ObjectApi(cluster.store).delete(
        BY_PLURAL["persistentvolumeclaims"], NAMESPACE, "data", None, False
    )
    cluster.wait_for(
        lambda: cluster.get("persistentvolumeclaims", "data") is None, "the claim to go"
    )
