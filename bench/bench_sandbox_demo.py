"""Measure `make demo` from start to API ready, step by step, against the bare work it does.

The steps of scripts/demo.sh without the TUI at the end: start the sandbox, apply
overlays/minikube server-side, then (what the user waits for in the TUI) the training Job
complete, the iris-api rollout ready and a first /predict through the Service. The
reference, measured in the same run: that work without a cluster (``iris-train`` into a
folder, then ``iris-serve`` until it answers /predict), so the ratio is what the sandbox adds:
scheduling, probes and their periods, the controllers' hand-offs. It can be under 1: in the
demo the API pods start (and import) while the Job trains, the reference does one after the
other. Prints one table.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from sandbox.testing import start_sandbox

REPO = Path(__file__).resolve().parent.parent
NS = "ml-course"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
TIMEOUT = 110.0


def wait(probe: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def predicts(url: str) -> bool:
    try:
        return httpx.post(url, json=SETOSA, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def bare(folder: Path) -> tuple[float, float]:
    """Seconds to train into a folder, then to serve the model until /predict answers."""
    env = dict(os.environ, MODEL_DIR=str(folder / "models"), HOST="127.0.0.1")
    start = time.perf_counter()
    train = "from service.train import main; raise SystemExit(main([]))"
    subprocess.run([sys.executable, "-c", train], env=env, check=True, capture_output=True)
    trained = time.perf_counter() - start
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        env["PORT"] = str(probe.getsockname()[1])
    start = time.perf_counter()
    serve = "from service.serve import main; raise SystemExit(main([]))"
    server = subprocess.Popen(
        [sys.executable, "-c", serve],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait(lambda: predicts(f"http://127.0.0.1:{env['PORT']}/predict"), "iris-serve")
        return trained, time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)


def demo(folder: Path) -> list[tuple[str, float]]:
    """The seconds each step of `make demo` takes until the API answers."""
    steps: list[tuple[str, float]] = []
    mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps.append((name, now - mark))
        mark = now

    sandbox = start_sandbox(folder / "state")
    try:
        step("sandbox started (answers /version)")
        sandbox.kubectl("delete", "job", "iris-train-job", "-n", NS, "--ignore-not-found")
        overlay = str(REPO / "overlays" / "minikube")
        sandbox.kubectl("apply", "--server-side", "--force-conflicts", "-k", overlay)
        step("kubectl apply --server-side -k overlays/minikube")
        sandbox.kubectl(
            "-n", NS, "wait", "--for=condition=complete", "job/iris-train-job",
            f"--timeout={int(TIMEOUT)}s", timeout=TIMEOUT + 10,
        )  # fmt: skip
        step("training Job complete")
        sandbox.kubectl(
            "-n", NS, "rollout", "status", "deploy/iris-api", f"--timeout={int(TIMEOUT)}s",
            timeout=TIMEOUT + 10,
        )  # fmt: skip
        step("iris-api rolled out (pods ready)")
        proxy = f"{sandbox.url}/api/v1/namespaces/{NS}/services/iris-api-svc:http/proxy/predict"
        wait(lambda: predicts(proxy), "the first /predict")
        step("first /predict through the Service answered")
    finally:
        sandbox.stop()
    return steps


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        trained, served = bare(Path(folder) / "bare")
        steps = demo(Path(folder) / "demo")
    reference = trained + served
    total = sum(seconds for _, seconds in steps)
    rows = [(name, f"{seconds:.2f} s") for name, seconds in steps]
    rows.append(("make demo, start to API ready (no goal set; ratio below)", f"{total:.2f} s"))
    rows.append(("reference: iris-train, bare", f"{trained:.2f} s"))
    rows.append(("reference: iris-serve start to first /predict, bare", f"{served:.2f} s"))
    rows.append(
        ("  make demo against the bare work (what the sandbox adds)", f"{total / reference:.2f}x")
    )
    rows.append(("load average (1 min) when the bench began", f"{load:.2f}"))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  result")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
