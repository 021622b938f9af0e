"""kill -9 of iris-batch at random moments, then a rerun: every input scored exactly once."""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.service.core_fixtures import (
    BIN,
    clean_env,
    publish_model,
    random_features,
    write_features_csv,
)

FILES = 3
ROWS = 60_000
KILLS = 8


def batch_env(model_dir: Path, input_dir: Path, output_dir: Path) -> dict[str, str]:
    return clean_env(
        MODEL_DIR=model_dir, INPUT_DIR=input_dir, OUTPUT_DIR=output_dir, CHUNK_ROWS="20000"
    )


def outputs(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.csv"))}


@pytest.mark.slow
def test_kills_at_random_moments_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    model_dir, input_dir = tmp_path / "models", tmp_path / "input"
    publish_model(model_dir)
    input_dir.mkdir()
    for index in range(FILES):
        source = input_dir / f"part-{index}.csv"
        write_features_csv(source, random_features(ROWS, seed=index))
        with source.open("a") as handle:
            handle.write("1,2,three,4\n")

    reference = tmp_path / "reference"
    first = subprocess.run(
        [str(BIN / "iris-batch")],
        env=batch_env(model_dir, input_dir, reference),
        check=True,
        capture_output=True,
        text=True,
    )
    entries = [json.loads(line) for line in first.stderr.splitlines()]
    scoring = sum(e["seconds"] for e in entries if e["message"] == "scored file")
    expected = outputs(reference)
    assert sorted(expected) == sorted(
        f"part-{i}.csv.{kind}.csv" for i in range(FILES) for kind in ("predictions", "rejects")
    )

    output_dir = tmp_path / "output"
    env = batch_env(model_dir, input_dir, output_dir)
    rng = random.Random(11)
    for _ in range(KILLS):
        process = subprocess.Popen(
            [str(BIN / "iris-batch")], env=env, stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        # Wait until it is past start-up, so that the kill lands in the scoring itself.
        for line in process.stderr:
            if "batch run started" in line:
                break
        time.sleep(rng.uniform(0, scoring * 1.2))
        process.kill()
        process.wait(timeout=10)
        process.stderr.close()
        # Whatever is in place is complete: byte for byte what an uninterrupted run writes.
        for name, content in outputs(output_dir).items():
            assert content == expected[name], name

    finish = subprocess.run(
        [str(BIN / "iris-batch")], env=env, check=True, capture_output=True, text=True
    )
    assert outputs(output_dir) == expected
    assert not list(output_dir.rglob(".tmp-*"))
    assert sorted(p.name for p in (output_dir / ".ledger").iterdir()) == [
        f"part-{i}.csv.json" for i in range(FILES)
    ]
    rerun = subprocess.run(
        [str(BIN / "iris-batch")], env=env, check=True, capture_output=True, text=True
    )
    assert '"new": 0' in rerun.stderr
    assert "scored file" not in rerun.stderr
    assert finish.returncode == 0
