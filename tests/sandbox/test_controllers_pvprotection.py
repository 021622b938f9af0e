"""PV protection: a deleted volume stays while it is Bound."""

from __future__ import annotations

import time
from pathlib import Path

from sandbox.apiserver import registry
from sandbox.apiserver.objects import ObjectApi
from sandbox.resources import BY_PLURAL
from tests.sandbox.inprocess import running_cluster


def test_a_bound_volume_stays_terminating_until_it_is_no_longer_bound(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "manual"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": str(tmp_path / "manual")},
            },
        }
        prepared = registry.prepare(BY_PLURAL["persistentvolumes"], pv, None, cluster.store)
        created = cluster.store.create("persistentvolumes", prepared)
        assert created["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
        assert created["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        cluster.store.mutate(
            "persistentvolumes", None, "manual", lambda v: v.update(status={"phase": "Bound"})
        )
        api = ObjectApi(cluster.store)
        marked = api.delete(BY_PLURAL["persistentvolumes"], None, "manual", None, False)
        assert marked["metadata"]["deletionTimestamp"]
        time.sleep(0.5)  # time enough for the controller to (wrongly) let it go
        assert cluster.get("persistentvolumes", "manual", namespace="") is not None
        cluster.store.mutate(
            "persistentvolumes", None, "manual", lambda v: v.update(status={"phase": "Released"})
        )
        cluster.wait_for(
            lambda: cluster.get("persistentvolumes", "manual", namespace="") is None,
            "the volume to go",
        )
