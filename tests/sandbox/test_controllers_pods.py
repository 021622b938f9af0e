"""The kubelet's informer alone: each pod key reaches the runtime with the pod as stored now.

What the runtime then does with a pod (processes, probes, restarts, logs) is
tests/sandbox/test_runtime_pods.py's and the other test_kubelet_* files'.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sandbox.apiserver.objects import ObjectApi
from sandbox.kubelet.podworkers import PodController
from sandbox.resources import BY_PLURAL, NODE_NAME
from tests.sandbox.unit import NAMESPACE, Bench, bench

Obj = dict[str, Any]


class Runtime:
    """Stands in for the Kubelet: records what it is asked to sync."""

    def __init__(self) -> None:
        self.synced: list[tuple[str, str, Obj | None]] = []
        self.stopped = False

    def sync(self, namespace: str, name: str, pod: Obj | None) -> None:
        self.synced.append((namespace, name, pod))

    def stop(self) -> None:
        self.stopped = True


def fake_runtime(controller: PodController) -> Runtime:
    """Put a Runtime in place of the controller's Kubelet (which, having run nothing, stops
    at once)."""
    controller.kubelet.stop()
    runtime = Runtime()
    controller.kubelet = runtime  # type: ignore[assignment]
    return runtime


def bound_pod(unit: Bench, name: str) -> Obj:
    return unit.create(
        "pods",
        {
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "lab:1"}], "nodeName": NODE_NAME},
        },
    )


def test_reconcile_hands_the_runtime_the_current_pod_or_none(tmp_path: Path) -> None:
    unit = bench(node=True, state_dir=tmp_path)
    controller = PodController(unit.ctx)
    runtime = fake_runtime(controller)
    bound_pod(unit, "web")
    unit.set_status("pods", "web", phase="Running")
    assert controller.reconcile(NAMESPACE, "web") is None
    ((namespace, name, pod),) = runtime.synced
    assert (namespace, name) == (NAMESPACE, "web")
    assert pod is not None and pod["status"]["phase"] == "Running"  # as stored, not as queued
    unit.store.delete("pods", NAMESPACE, "web")
    controller.reconcile(NAMESPACE, "web")
    assert runtime.synced[-1] == (NAMESPACE, "web", None)  # gone: the runtime stops it


def test_every_pod_change_queues_its_key(tmp_path: Path) -> None:
    unit = bench(node=True, state_dir=tmp_path)
    controller = PodController(unit.ctx)
    bound_pod(unit, "web")
    unit.create("services", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    assert controller.queue.get(timeout=0) == (NAMESPACE, "web")
    assert controller.queue.get(timeout=0) is None  # only pods concern it


def test_a_pod_being_deleted_that_never_ran_here_is_removed(tmp_path: Path) -> None:
    unit = bench(node=True, state_dir=tmp_path)
    controller = PodController(unit.ctx)
    bound_pod(unit, "web")
    ObjectApi(unit.store).delete(BY_PLURAL["pods"], NAMESPACE, "web", None, False)
    marked = unit.get("pods", "web") or {}
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30  # waiting for the kubelet
    controller.reconcile(NAMESPACE, "web")
    assert unit.get("pods", "web") is None
    controller.kubelet.stop()


def test_stop_ends_the_loop_then_the_runtime(tmp_path: Path) -> None:
    unit = bench(node=True, state_dir=tmp_path)
    controller = PodController(unit.ctx)
    runtime = fake_runtime(controller)
    controller.start()
    bound_pod(unit, "web")
    deadline = time.monotonic() + 5
    while not runtime.synced:
        assert time.monotonic() < deadline, "the pod never reached the runtime"
        time.sleep(0.01)
    controller.stop()
    assert runtime.stopped
    assert [name for _, name, _ in runtime.synced] == ["web"]
