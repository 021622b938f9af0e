"""Measure the sandbox runtime: how long pods, rollouts, jobs and the course's stack take.

The first three rows run the controllers in this process on an in-memory store; the last row
starts a real sandbox and applies overlays/minikube with kubectl. Prints one table.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.clock import Clock
from sandbox.cluster import start_components
from sandbox.storage.store import Store
from sandbox.testing import start_sandbox

RUNS = 3
REPO = Path(__file__).resolve().parent.parent
SERVE = (
    "import http.server, os; http.server.HTTPServer((os.environ['HOST'], int(os.environ['PORT'])), "
    "http.server.SimpleHTTPRequestHandler).serve_forever()"
)
CONTAINER = {
    "name": "web",
    "image": "bench",
    "command": ["python", "-c", SERVE],
    "ports": [{"name": "http", "containerPort": 8000}],
    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
}


def wait(probe: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit("timed out: the sandbox did not get there")
        time.sleep(0.01)


def condition_true(obj: dict[str, Any], type_: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == type_ and c["status"] == "True" for c in conditions)


def in_process(measure: Callable[[Store], float]) -> list[float]:
    results = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as state:
            store = Store(None)
            controllers = start_components(store, Path(state), clock=Clock())
            try:
                store.create("namespaces", {"metadata": {"name": "b"}})
                results.append(measure(store))
            finally:
                controllers.stop()
    return results


def pod_ready(store: Store) -> float:
    start = time.perf_counter()
    pod = {"metadata": {"name": "p", "namespace": "b"}, "spec": {"containers": [CONTAINER]}}
    store.create("pods", pod)
    wait(lambda: condition_true(store.get("pods", "b", "p"), "Ready"))
    return time.perf_counter() - start


def rollout_restart(store: Store) -> float:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "b"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "d"}},
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [CONTAINER]}},
        },
    }
    store.create("deployments", deployment)

    def done() -> bool:
        obj = store.get("deployments", "b", "d")
        status = obj.get("status") or {}
        return (
            status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("availableReplicas") == 2
            and status.get("replicas") == 2
        )

    wait(done)
    start = time.perf_counter()

    def restart(obj: dict[str, Any]) -> None:
        obj["spec"]["template"]["metadata"]["annotations"] = {"restartedAt": str(time.time())}

    store.mutate("deployments", "b", "d", restart)
    wait(done)
    return time.perf_counter() - start


def job_complete(store: Store) -> float:
    start = time.perf_counter()
    container = {"name": "j", "image": "bench", "command": ["python", "-c", "print('done')"]}
    template = {"spec": {"restartPolicy": "Never", "containers": [container]}}
    store.create(
        "jobs",
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "j", "namespace": "b"},
            "spec": {"template": template},
        },
    )
    wait(lambda: condition_true(store.get("jobs", "b", "j"), "Complete"))
    return time.perf_counter() - start


def course_stack() -> list[float]:
    with tempfile.TemporaryDirectory() as state:
        sandbox = start_sandbox(Path(state))
        try:
            start = time.perf_counter()
            sandbox.kubectl("apply", "--server-side", "-k", str(REPO / "overlays/minikube"))
            sandbox.kubectl(
                "-n",
                "ml-course",
                "wait",
                "--for=condition=complete",
                "job/iris-train-job",
                "--timeout=180s",
                timeout=190,
            )
            sandbox.kubectl(
                "-n",
                "ml-course",
                "rollout",
                "status",
                "deploy/iris-api",
                "--timeout=180s",
                timeout=190,
            )
            return [time.perf_counter() - start]
        finally:
            sandbox.stop()


def main() -> None:
    rows = [
        ("pod created -> Ready (python http.server)", in_process(pod_ready)),
        ("rollout restart, 2 replicas, maxUnavailable 0", in_process(rollout_restart)),
        ("job created -> Complete (python print)", in_process(job_complete)),
        ("overlays/minikube applied -> trained and API ready", course_stack()),
    ]
    print(f"{'measurement':52} {'runs':>4} {'median s':>9} {'max s':>7}")
    for name, values in rows:
        print(f"{name:52} {len(values):>4} {statistics.median(values):>9.2f} {max(values):>7.2f}")


if __name__ == "__main__":
    main()
