"""Benchmark `iris-batch` end to end: a real process scoring 1M- and 10M-row CSV files.

For each size it trains a model into a temporary store, writes a synthetic input file, runs
`iris-batch` as the cluster would, and prints rows, seconds (the file's read, score and write
as the batch logs it, and the whole process including start-up), rows/s and peak RSS.

    .venv/bin/python bench/bench_batch.py [ROWS ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from service.data import FEATURE_NAMES

BIN = Path(sys.executable).parent
SIZES = (1_000_000, 10_000_000)
WRITE_ROWS = 1_000_000


def write_input(path: Path, rows: int) -> None:
    """Synthetic flowers, one decimal like the real measurements, written in slices."""
    rng = np.random.default_rng(0)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(FEATURE_NAMES) + "\n").encode())
        options = pcsv.WriteOptions(include_header=False)
        for start in range(0, rows, WRITE_ROWS):
            values = np.round(rng.uniform(low, high, (min(WRITE_ROWS, rows - start), 4)), 1)
            table = pa.table({name: values[:, i] for i, name in enumerate(FEATURE_NAMES)})
            pcsv.write_csv(table, sink, write_options=options)


def run_batch(env: dict[str, str]) -> tuple[float, float, dict[str, object]]:
    """Wall seconds, peak RSS in MB and the 'scored file' log entry of one iris-batch run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "iris-batch")], env=env, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    log = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"iris-batch failed ({process.returncode}):\n{log}")
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    scored = next(entry for entry in entries if entry["message"] == "scored file")
    return wall, usage.ru_maxrss / 1024, scored


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or list(SIZES)
    # Other work on the machine shows up directly in these numbers; say how busy it was.
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    columns = [("rows", 11), ("file s", 7), ("rows/s", 11), ("process s", 9), ("rows/s", 11)]
    print(" ".join(f"{name:>{width}}" for name, width in [*columns, ("peak RSS MB", 11)]))
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        env = {
            **os.environ,
            "MODEL_DIR": str(root / "models"),
            "INPUT_DIR": str(root / "input"),
            "OUTPUT_DIR": str(root / "output"),
            "LOG_LEVEL": "info",
        }
        subprocess.run([str(BIN / "iris-train")], env=env, check=True, capture_output=True)
        for rows in sizes:
            (root / "input").mkdir(exist_ok=True)
            source = root / "input" / f"bench-{rows}.csv"
            write_input(source, rows)
            wall, rss, scored = run_batch(env)
            if scored["rows"] != rows:
                raise SystemExit(f"scored {scored['rows']} rows of {rows}")
            seconds = float(scored["seconds"])  # type: ignore[arg-type]
            print(
                f"{rows:>11,} {seconds:>7.2f} {rows / seconds:>11,.0f} "
                f"{wall:>9.2f} {rows / wall:>11,.0f} {rss:>11.0f}"
            )
            source.unlink()
            for output in (root / "output").glob("*.csv"):
                output.unlink()


if __name__ == "__main__":
    main()
