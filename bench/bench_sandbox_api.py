"""Measure the sandbox API server: writes, lists, watch delivery and kubectl round trips.

Runs a sandbox without pods (--no-pods) in a temporary folder and prints one table.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from sandbox.testing import start_sandbox

OBJECTS = 500
WATCHED_WRITES = 200
STORED_PODS = 1000
STATUS_WRITES = 400
WRITERS = 8
KUBECTL_RUNS = 5
REPO = Path(__file__).resolve().parent.parent


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _pod(namespace: str, index: int) -> dict[str, object]:
    return {
        "metadata": {"name": f"p-{index:04d}", "namespace": namespace, "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "main", "image": "iris-ml:0.1.0-dev", "command": ["x"]}]},
    }


def status_writes_per_second(url: str, namespace: str, stored: int) -> float:
    """Pod status PATCHes per second from WRITERS clients, with ``stored`` pods in the
    namespace and a watch on it open (what the TUI bench's kubelet stand-in does)."""
    pods = f"{url}/api/v1/namespaces/{namespace}/pods"
    with httpx.Client(timeout=30) as http:
        http.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": namespace}})
        for index in range(stored):
            http.post(pods, json=_pod(namespace, index)).raise_for_status()
        version = http.get(pods, params={"limit": "1"}).json()["metadata"]["resourceVersion"]
    seen = threading.Event()
    received = [0]

    def follow() -> None:
        params = {"watch": "true", "resourceVersion": version, "timeoutSeconds": "120"}
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.stream("GET", pods, params=params, timeout=130) as stream,
        ):
            for _ in stream.iter_lines():
                received[0] += 1
                if received[0] == STATUS_WRITES:
                    seen.set()
                    return

    threading.Thread(target=follow, daemon=True).start()
    time.sleep(0.3)
    local = threading.local()

    def patch(index: int) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=30)
        # Every write changes the status (a write that changes nothing sends no event).
        ready = {"type": "Ready", "status": "True", "message": str(index)}
        local.http.patch(
            f"{pods}/p-{index % stored:04d}/status",
            json={"status": {"phase": "Running", "conditions": [ready]}},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(patch, range(STATUS_WRITES)))
    if not seen.wait(60):
        raise SystemExit(f"the watch saw {received[0]} of {STATUS_WRITES} writes")
    return STATUS_WRITES / (time.perf_counter() - started)


def main() -> None:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        sandbox = start_sandbox(Path(folder) / "state", run_pods=False)
        try:
            base = f"{sandbox.url}/api/v1/namespaces/bench/configmaps"
            with httpx.Client(timeout=30) as http:
                http.post(f"{sandbox.url}/api/v1/namespaces", json={"metadata": {"name": "bench"}})
                took = timed(
                    lambda: [
                        http.post(
                            base, json={"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}}
                        )
                        for i in range(OBJECTS)
                    ]
                )
                rows.append(
                    (f"create {OBJECTS} configmaps", f"{took / OBJECTS * 1000:.2f} ms each")
                )
                rows.append(
                    (f"list {OBJECTS} as JSON", f"{timed(lambda: http.get(base)) * 1000:.1f} ms")
                )
                table = {"Accept": "application/json;as=Table;g=meta.k8s.io;v=v1"}
                rows.append(
                    (
                        f"list {OBJECTS} as Table",
                        f"{timed(lambda: http.get(base, headers=table)) * 1000:.1f} ms",
                    )
                )

                version = http.get(base).json()["metadata"]["resourceVersion"]
                sent: dict[str, float] = {}
                delays: list[float] = []
                done = threading.Event()

                def follow() -> None:
                    params = {"watch": "true", "resourceVersion": version, "timeoutSeconds": "60"}
                    with httpx.stream("GET", base, params=params, timeout=70) as stream:
                        for line in stream.iter_lines():
                            value = json.loads(line)["object"]["data"]["w"]
                            delays.append(time.perf_counter() - sent[value])
                            if len(delays) == WATCHED_WRITES:
                                done.set()
                                return

                reader = threading.Thread(target=follow, daemon=True)
                reader.start()
                time.sleep(0.3)
                for i in range(WATCHED_WRITES):
                    sent[str(i)] = time.perf_counter()
                    http.patch(
                        f"{base}/cm-0",
                        json={"data": {"w": str(i)}},
                        headers={"Content-Type": "application/merge-patch+json"},
                    )
                done.wait(30)
                rows.append(
                    ("write -> watch event (median)", f"{statistics.median(delays) * 1000:.2f} ms")
                )
                rows.append(("write -> watch event (max)", f"{max(delays) * 1000:.2f} ms"))

            # The reference: the same writes with few pods stored, measured in this run.
            few = status_writes_per_second(sandbox.url, "few-pods", 10)
            many = status_writes_per_second(sandbox.url, "many-pods", STORED_PODS)
            rows.append(
                (
                    f"pod status PATCHes, {WRITERS} writers, 10 pods stored, watched",
                    f"{few:.0f}/s",
                )
            )
            rows.append(
                (
                    f"  the same with {STORED_PODS} pods stored (goal >= 250/s)",
                    f"{many:.0f}/s ({many / few:.2f}x the reference)",
                )
            )

            def kubectl(*args: str) -> None:
                subprocess.run(["kubectl", *args], env=sandbox.env, check=True, capture_output=True)

            runs = [
                timed(lambda: kubectl("get", "configmaps", "-n", "bench"))
                for _ in range(KUBECTL_RUNS)
            ]
            rows.append(
                (
                    f"kubectl get {OBJECTS} configmaps (median)",
                    f"{statistics.median(runs) * 1000:.0f} ms",
                )
            )
            overlay = str(REPO / "overlays" / "minikube")
            applied = timed(lambda: kubectl("apply", "--server-side", "-k", overlay))
            rows.append(
                ("kubectl apply --server-side -k overlays/minikube", f"{applied * 1000:.0f} ms")
            )
            diffed = timed(lambda: kubectl("diff", "-k", overlay))
            rows.append(("kubectl diff -k overlays/minikube", f"{diffed * 1000:.0f} ms"))
        finally:
            sandbox.stop()
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  result")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
