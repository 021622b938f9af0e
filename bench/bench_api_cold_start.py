"""Cold start of `iris-serve`: seconds from exec to a 200 on /readyz, against a bare interpreter.

The baseline is `python -c "import fastapi, uvicorn, numpy"`, the least any server of this
stack pays before it can answer, so the ratio does not depend on the machine. Scenarios, each
the median of --runs starts, pinned to CPU 0; the starts go in rounds (the baseline, then each
scenario once), so a burst of other load on the machine hits the baseline and the scenarios
alike:

- Iris, pickle-free: the default model, served from linear.json without scikit-learn
- wine CSV, pickle-free: a 13-feature Pipeline (imputer, scaler, logistic regression)
- Iris, pickled: the same model with linear.json removed, as a tree model would load

Each is also given in CPU seconds (the process's user and system time until it answers, or
exits for the baseline): on a machine shared with other work the wall-clock starts vary with
its load, the CPU seconds far less.

Target: the pickle-free starts at most 1.5x the baseline.
Run: .venv/bin/python bench/bench_api_cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
CPU = 0
BASELINE = "import fastapi, uvicorn, numpy"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Start:
    wall: float
    cpu: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned() -> None:
    os.sched_setaffinity(0, {CPU})


def baseline_start() -> Start:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", BASELINE], preexec_fn=pinned)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"the baseline exited with status {process.returncode}")
    return Start(wall, usage.ru_utime + usage.ru_stime)


def cpu_seconds(pid: int) -> float:
    """User and system time of a running process so far (Linux: /proc/PID/stat)."""
    # The fields after the command, which is in parentheses and may hold spaces.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def ready_start(model_dir: Path) -> Start:
    port = free_port()
    env = {
        **os.environ,
        "MODEL_DIR": str(model_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        "RELOAD_INTERVAL": "0.01",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "iris-serve")],
        env=env,
        preexec_fn=pinned,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < 30:
            if process.poll() is not None:
                raise SystemExit(f"iris-serve exited with status {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return Start(time.perf_counter() - started, cpu_seconds(process.pid))
            except OSError:
                pass
            time.sleep(0.005)
        raise SystemExit("iris-serve not ready within 30 s")
    finally:
        process.terminate()
        process.wait(10)


def train(model_dir: Path, *flags: str) -> None:
    subprocess.run(
        [str(BIN / "iris-train"), *flags],
        env={**os.environ, "MODEL_DIR": str(model_dir), "LOG_LEVEL": "warning"},
        check=True,
    )


def pickled_copy(source: Path, target: Path) -> Path:
    """`source`'s store with its versions' pickle-free forms removed from their metadata."""
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    for metadata_path in target.glob("versions/*/metadata.json"):
        metadata = json.loads(metadata_path.read_text())
        metadata.pop("pickle_free", None)
        metadata_path.write_text(json.dumps(metadata))
        (metadata_path.parent / "linear.json").unlink()
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts per scenario; median counts")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from service.example_data import write_wine

    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        folder = Path(tmp)
        train(folder / "iris")
        train(folder / "wine", "--train-data", str(write_wine(folder / "wine.csv")))
        stores = {
            "Iris, pickle-free": folder / "iris",
            "wine CSV, pickle-free": folder / "wine",
            "Iris, pickled": pickled_copy(folder / "iris", folder / "iris-pickled"),
        }
        baseline_start()  # warm the page cache
        starts: dict[str, list[Start]] = {BASELINE: [], **{name: [] for name in stores}}
        for _ in range(args.runs):
            starts[BASELINE].append(baseline_start())
            for name, path in stores.items():
                starts[name].append(ready_start(path))
    wall = {name: statistics.median(s.wall for s in runs) for name, runs in starts.items()}
    cpu = {name: statistics.median(s.cpu for s in runs) for name, runs in starts.items()}
    print(f"{'scenario':<32} {'seconds':>8} {'vs baseline':>11} {'CPU s':>7} {'vs baseline':>11}")
    for name in starts:
        print(
            f"{name:<32} {wall[name]:>8.3f} {wall[name] / wall[BASELINE]:>10.2f}x "
            f"{cpu[name]:>7.3f} {cpu[name] / cpu[BASELINE]:>10.2f}x"
        )
    print()
    pickle_free = ("Iris, pickle-free", "wine CSV, pickle-free")
    worst_wall = max(wall[name] for name in pickle_free) / wall[BASELINE]
    worst_cpu = max(cpu[name] for name in pickle_free) / cpu[BASELINE]
    print(
        f"target pickle-free ready <= 1.5x baseline: {worst_wall:.2f}x "
        f"({worst_cpu:.2f}x in CPU seconds)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
