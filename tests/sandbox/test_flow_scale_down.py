"""The ReplicaSet controller deletes pods as the real one does: gracefully, through the API, and
counts a Terminating pod no more (controller.FilterActivePods), so its replacement comes at
once; a Recreate rollout waits for the old pods to be gone."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.apiserver.objects import ObjectApi
from sandbox.resources import BY_PLURAL
from tests.sandbox.inprocess import NAMESPACE, Cluster, python_container

pytestmark = pytest.mark.slow

Obj = dict[str, Any]
GRACE = 4
# Notes in $MARK that it is ready (its handler set), then notes SIGTERM and ignores it, so
# only the kubelet's SIGKILL at the end of the grace period stops it.
STUBBORN = (
    "import os, signal, time\n"
    "def note(*_): open(os.environ['MARK'], 'a').write('SIGTERM\\n')\n"
    "signal.signal(signal.SIGTERM, note)\n"
    "open(os.environ['MARK'], 'a').write('ready\\n')\n"
    "while True: time.sleep(0.1)\n"
)


def _ready(mark: Path, count: int) -> bool:
    return mark.exists() and mark.read_text().count("ready") >= count


def _template(name: str, mark: Path, version: str = "1") -> Obj:
    # the mark file is the host's, reached as a container reaches it: through a hostPath
    container = python_container(
        "main",
        STUBBORN,
        env=[{"name": "MARK", "value": f"/marks/{mark.name}"}, {"name": "V", "value": version}],
        volumeMounts=[{"name": "marks", "mountPath": "/marks"}],
    )
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [container],
            "terminationGracePeriodSeconds": GRACE,
            "volumes": [{"name": "marks", "hostPath": {"path": str(mark.parent)}}],
        },
    }


def _deployment(name: str, replicas: int, mark: Path, strategy: str = "RollingUpdate") -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": strategy},
            "template": _template(name, mark),
        },
    }


def _running(cluster: Cluster, app: str) -> list[Obj]:
    return [
        pod
        for pod in cluster.pods(labels=f"app={app}")
        if (pod.get("status") or {}).get("phase") == "Running"
        and not pod["metadata"].get("deletionTimestamp")
    ]


def _terminating(cluster: Cluster, app: str) -> list[Obj]:
    return [
        pod for pod in cluster.pods(labels=f"app={app}") if pod["metadata"].get("deletionTimestamp")
    ]


def _replicaset(cluster: Cluster, app: str) -> Obj:
    items = cluster.store.list("replicasets", NAMESPACE, label_selector=f"app={app}")[0]
    assert len(items) == 1, items
    return items[0]


def test_scaling_down_terminates_the_pod_gracefully(cluster: Cluster, tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    cluster.create("deployments", _deployment("web", 2, mark))
    cluster.wait_for(lambda: len(_running(cluster, "web")) == 2, "two running pods")
    cluster.wait_for(lambda: _ready(mark, 2), "both pods' handlers set")

    def scale(obj: Obj) -> None:
        obj["spec"]["replicas"] = 1

    cluster.store.mutate("deployments", NAMESPACE, "web", scale)
    leaving = cluster.wait_for(lambda: _terminating(cluster, "web"), "a Terminating pod")[0]
    began = time.monotonic()
    assert leaving["metadata"]["deletionGracePeriodSeconds"] == GRACE
    # not a replica any more while it terminates
    cluster.wait_for(
        lambda: (_replicaset(cluster, "web").get("status") or {}).get("replicas") == 1,
        "status.replicas 1 with the pod still Terminating",
    )
    assert cluster.get("pods", leaving["metadata"]["name"]) is not None
    cluster.wait_for(lambda: mark.exists() and "SIGTERM" in mark.read_text(), "SIGTERM")
    cluster.wait_for(
        lambda: cluster.get("pods", leaving["metadata"]["name"]) is None,
        "the pod gone after its grace period",
        timeout=GRACE + 10,
    )
    assert time.monotonic() - began >= GRACE - 1  # it had its grace period, not less
    assert len(_running(cluster, "web")) == 1


def test_a_terminating_pod_is_replaced_at_once(cluster: Cluster, tmp_path: Path) -> None:
    cluster.create("deployments", _deployment("api", 1, tmp_path / "mark"))
    first = cluster.wait_for(lambda: _running(cluster, "api"), "a running pod")[0]
    cluster.wait_for(lambda: _ready(tmp_path / "mark", 1), "its handler set")
    name = first["metadata"]["name"]
    ObjectApi(cluster.store).delete(BY_PLURAL["pods"], NAMESPACE, name, None, False)
    replacement = cluster.wait_for(
        lambda: [p for p in cluster.pods(labels="app=api") if p["metadata"]["name"] != name],
        "a replacement beside the Terminating pod",
        timeout=GRACE / 2,
    )
    assert not replacement[0]["metadata"].get("deletionTimestamp")
    assert (cluster.get("pods", name) or {})["metadata"].get("deletionTimestamp")


def test_recreate_waits_for_terminating_old_pods(cluster: Cluster, tmp_path: Path) -> None:
    cluster.create("deployments", _deployment("batch", 1, tmp_path / "mark", "Recreate"))
    old = cluster.wait_for(lambda: _running(cluster, "batch"), "a running pod")[0]
    cluster.wait_for(lambda: _ready(tmp_path / "mark", 1), "its handler set")

    def change(obj: Obj) -> None:
        obj["spec"]["template"] = _template("batch", tmp_path / "mark", version="2")

    cluster.store.mutate("deployments", NAMESPACE, "batch", change)
    cluster.wait_for(lambda: _terminating(cluster, "batch"), "the old pod Terminating")
    # while the old pod terminates (GRACE seconds, as it ignores SIGTERM) nothing new starts
    time.sleep(GRACE / 2)
    assert [pod["metadata"]["name"] for pod in cluster.pods(labels="app=batch")] == [
        old["metadata"]["name"]
    ]
    new = cluster.wait_for(lambda: _running(cluster, "batch"), "the new pod", timeout=GRACE + 15)
    assert new[0]["metadata"]["name"] != old["metadata"]["name"]
    assert cluster.get("pods", old["metadata"]["name"]) is None
