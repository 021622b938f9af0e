"""Benchmark `iris-batch` end to end: a real process scoring 1M- and 10M-row CSV files.

For each size it trains a model into a temporary store, writes a synthetic input file, runs
`iris-batch` as the cluster would, and prints rows, seconds (the file's read, score and write
as the batch logs it, and the whole process including start-up), rows/s and peak RSS.

Then the same on a 13-feature model (the wine CSV, a Pipeline served pickle-free) beside
Iris, best of --runs each: speed should not depend on the feature count (goal: rows/s within
20% of Iris's). A wine row is 4.5x an Iris row's bytes, all read and, as the features are
copied through, written again; so the floor, Arrow reading each file as text and writing it
back unchanged, is measured on both and the bound it sets is printed beside the ratio.

    .venv/bin/python bench/bench_batch.py [--runs N] [ROWS ...]
"""

from __future__ import annotations

import argparse
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

from service.example_data import write_wine
from service.model_store import ModelStore

BIN = Path(sys.executable).parent
SIZES = (1_000_000, 10_000_000)
COMPARE_ROWS = 2_000_000
WRITE_ROWS = 1_000_000


def write_input(path: Path, model_dir: Path, rows: int, decimals: int) -> None:
    """Synthetic rows across each feature's training range, written in slices."""
    features = ModelStore(model_dir).load().signature.features
    names = [f.name for f in features]
    low = np.array([f.minimum for f in features], dtype=float)
    high = np.array([f.maximum for f in features], dtype=float)
    rng = np.random.default_rng(0)
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(names) + "\n").encode())
        options = pcsv.WriteOptions(include_header=False)
        for start in range(0, rows, WRITE_ROWS):
            size = (min(WRITE_ROWS, rows - start), len(names))
            values = np.round(rng.uniform(low, high, size), decimals)
            table = pa.table({name: values[:, i] for i, name in enumerate(names)})
            pcsv.write_csv(table, sink, write_options=options)


def copy_text_through(source: Path, target: Path) -> float:
    """Seconds for Arrow to read `source` as text and write it back: the floor of any batch
    that reads a CSV and copies its columns to the output."""
    started = time.perf_counter()
    names = source.open().readline().strip().split(",")
    convert = pcsv.ConvertOptions(column_types={name: pa.string() for name in names})
    reader = pcsv.open_csv(source, convert_options=convert)
    with pa.OSFile(str(target), "wb") as sink:
        options = pcsv.WriteOptions(include_header=False, quoting_style="none")
        writer = pcsv.CSVWriter(sink, reader.schema, write_options=options)
        for batch in reader:
            writer.write_batch(batch)
        writer.close()
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


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


def score_once(env: dict[str, str], source: Path, rows: int) -> tuple[float, float, float]:
    """Seconds scoring the file as logged, wall seconds and peak RSS in MB of one run."""
    wall, rss, scored = run_batch(env)
    if scored["rows"] != rows:
        raise SystemExit(f"scored {scored['rows']} rows of {rows}")
    for output in Path(env["OUTPUT_DIR"]).glob("*.csv"):
        output.unlink()
    for entry in (Path(env["OUTPUT_DIR"]) / ".ledger").glob("*.json"):
        entry.unlink()  # so the next run scores the same file again
    return float(scored["seconds"]), wall, rss  # type: ignore[arg-type]


def sizes_table(env: dict[str, str], sizes: list[int]) -> None:
    columns = [("rows", 11), ("file s", 7), ("rows/s", 11), ("process s", 9), ("rows/s", 11)]
    print(" ".join(f"{name:>{width}}" for name, width in [*columns, ("peak RSS MB", 11)]))
    for rows in sizes:
        source = Path(env["INPUT_DIR"]) / f"bench-{rows}.csv"
        write_input(source, Path(env["MODEL_DIR"]), rows, decimals=1)
        seconds, wall, rss = score_once(env, source, rows)
        print(
            f"{rows:>11,} {seconds:>7.2f} {rows / seconds:>11,.0f} "
            f"{wall:>9.2f} {rows / wall:>11,.0f} {rss:>11.0f}"
        )
        source.unlink()


def feature_count_table(root: Path, env: dict[str, str], runs: int) -> None:
    """Iris beside the 13-feature wine model on the same number of rows, and their floors."""
    wine_env = {
        **env,
        "MODEL_DIR": str(root / "wine-models"),
        "TRAIN_DATA": str(write_wine(root / "wine.csv")),
        "LABEL_COLUMN": "target",
    }
    subprocess.run([str(BIN / "iris-train")], env=wine_env, check=True, capture_output=True)
    print(f"\n{COMPARE_ROWS:,} rows, best of {runs}")
    print(f"{'model':<22} {'file MB':>7} {'file s':>7} {'rows/s':>11} {'floor s':>7}")
    best: dict[str, tuple[float, float]] = {}
    for name, model_env, decimals in (("Iris, 4 features", env, 1), ("wine, 13", wine_env, 2)):
        source = Path(env["INPUT_DIR"]) / "compare.csv"
        write_input(source, Path(model_env["MODEL_DIR"]), COMPARE_ROWS, decimals)
        seconds = min(score_once(model_env, source, COMPARE_ROWS)[0] for _ in range(runs))
        floor = min(copy_text_through(source, root / "floor.csv") for _ in range(runs))
        best[name] = seconds, floor
        megabytes = source.stat().st_size / 1e6
        print(
            f"{name:<22} {megabytes:>7.0f} {seconds:>7.2f} {COMPARE_ROWS / seconds:>11,.0f} "
            f"{floor:>7.2f}"
        )
        source.unlink()
    (iris, iris_floor), (wine, wine_floor) = best.values()
    bound = iris / (iris + wine_floor - iris_floor)
    print(
        f"target 13 features rows/s >= 80% of Iris's: {iris / wine:.1%} "
        f"(bound set by reading and writing its text: {bound:.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs per model compared")
    parser.add_argument("sizes", type=int, nargs="*", help=f"rows (default {SIZES})")
    args = parser.parse_args()
    # Other work on the machine shows up directly in these numbers; say how busy it was.
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        env = {
            **os.environ,
            "MODEL_DIR": str(root / "models"),
            "INPUT_DIR": str(root / "input"),
            "OUTPUT_DIR": str(root / "output"),
            "LOG_LEVEL": "info",
        }
        (root / "input").mkdir()
        subprocess.run([str(BIN / "iris-train")], env=env, check=True, capture_output=True)
        sizes_table(env, args.sizes or list(SIZES))
        feature_count_table(root, env, args.runs)


if __name__ == "__main__":
    main()
