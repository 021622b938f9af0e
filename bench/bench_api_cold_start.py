"""Cold start of `iris-serve`: seconds from exec to a 200 on /readyz, against a bare interpreter.

The baseline is `python -c "import fastapi, uvicorn, numpy"`, the least any server of this
stack pays before it can answer, so the ratio does not depend on the machine. Scenarios, each
the median of --runs starts, pinned to CPU 0:

- Iris, pickle-free: the default model, served from linear.json without scikit-learn
- wine CSV, pickle-free: a 13-feature Pipeline (imputer, scaler, logistic regression)
- Iris, pickled: the same model with linear.json removed, as a tree model would load

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
from pathlib import Path

BIN = Path(sys.executable).parent
CPU = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned() -> None:
    os.sched_setaffinity(0, {CPU})


def baseline_seconds() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import fastapi, uvicorn, numpy"], check=True, preexec_fn=pinned
    )
    return time.perf_counter() - started


def ready_seconds(model_dir: Path) -> float:
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
                        return time.perf_counter() - started
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
        baseline_seconds()  # warm the page cache
        base = statistics.median(baseline_seconds() for _ in range(args.runs))
        results = {
            name: statistics.median(ready_seconds(path) for _ in range(args.runs))
            for name, path in stores.items()
        }
    print(f"{'scenario':<32} {'seconds':>8} {'vs baseline':>11}")
    print(f"{'import fastapi, uvicorn, numpy':<32} {base:>8.3f} {1.0:>10.2f}x")
    for name, seconds in results.items():
        print(f"{name:<32} {seconds:>8.3f} {seconds / base:>10.2f}x")
    print()
    worst = max(results["Iris, pickle-free"], results["wine CSV, pickle-free"]) / base
    print(f"target pickle-free ready <= 1.5x baseline: {worst:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
