"""Measure what a crash-looping pod costs the sandbox: CPU over a minute, against idle.

One sandbox, two windows in the same run: first idle (the node's heartbeat, the controllers'
resyncs), then with one pod whose container exits 1 at once, restarted with the kubelet's
back-off (10 s doubling). The figure held to the goal is the sandbox process's own CPU time
(its API server, controllers and kubelet threads, fork and exec of the containers included)
per second of wall time. The crashing container's own CPU is the workload's, as a real
node's kubelet does not pay for it; it is shown apart, from the children the sandbox reaped.
Prints one table.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import psutil

from sandbox.testing import start_sandbox

IDLE_SECONDS = 20.0
CRASH_SECONDS = 60.0
GOAL = 0.02  # of one core
NS = "crash"
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "crashloop", "namespace": NS},
    "spec": {
        "restartPolicy": "Always",
        "containers": [
            {"name": "main", "image": "iris-ml:0.1.0-dev", "command": ["sh", "-c", "exit 1"]}
        ],
    },
}


def cpu(process: psutil.Process) -> tuple[float, float]:
    """CPU seconds of the process itself, and of its children it has reaped."""
    times = process.cpu_times()
    return times.user + times.system, times.children_user + times.children_system


def window(process: psutil.Process, seconds: float) -> tuple[float, float]:
    """Cores used over ``seconds`` of wall time: by the process, by its reaped children."""
    own_before, children_before = cpu(process)
    start = time.monotonic()
    time.sleep(seconds)
    own_after, children_after = cpu(process)
    wall = time.monotonic() - start
    return (own_after - own_before) / wall, (children_after - children_before) / wall


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        sandbox = start_sandbox(Path(folder) / "state")
        try:
            process = psutil.Process(sandbox.pid)
            sandbox.kubectl("create", "namespace", NS)
            time.sleep(2)  # let the namespace's own controllers settle
            idle, _ = window(process, IDLE_SECONDS)
            sandbox.kubectl("apply", "-f", "-", input=json.dumps(POD))
            crashing, container = window(process, CRASH_SECONDS)
            got = sandbox.kubectl("get", "pod", "crashloop", "-n", NS, "-o", "json")
            pod = json.loads(got.stdout)
            status = pod["status"]["containerStatuses"][0]
            restarts = status["restartCount"]
            reason = (status["state"].get("waiting") or {}).get("reason", "")
        finally:
            sandbox.stop()
    rows = [
        (f"sandbox idle, {IDLE_SECONDS:.0f} s (reference)", f"{idle * 100:.2f}% of a core"),
        (
            f"sandbox, one pod crash-looping {CRASH_SECONDS:.0f} s (goal < {GOAL * 100:.0f}%)",
            f"{crashing * 100:.2f}% of a core ({crashing / idle:.2f}x idle)"
            if idle
            else f"{crashing * 100:.2f}% of a core",
        ),
        (
            "  the crashing container itself (reaped children; 0: under a 10 ms tick)",
            f"{container * CRASH_SECONDS * 1000:.0f} ms of CPU in all",
        ),
        ("  restarts in that minute, state at the end", f"{restarts}, {reason or 'running'}"),
        ("load average (1 min) when the bench began", f"{load:.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  result")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
