"""iris-train and iris-batch as a user runs them: --help, bad settings, bad input, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.service.core_fixtures import clean_env, run_cli


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "setting"),
    [("iris-train", "--min-accuracy"), ("iris-batch", "--chunk-rows")],
)
def test_help_lists_the_settings(command: str, setting: str) -> None:
    result = run_cli(command, "--help", env=clean_env())
    assert result.returncode == 0
    assert setting in result.stdout
    assert "MODEL_DIR" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "variable", "value", "message"),
    [
        ("iris-train", "MODEL_C", "abc", "iris-train: invalid MODEL_C='abc'"),
        ("iris-batch", "CHUNK_ROWS", "0", "iris-batch: invalid CHUNK_ROWS='0'"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(
    command: str, variable: str, value: str, message: str
) -> None:
    result = run_cli(command, env=clean_env(**{variable: value}))
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_bad_training_csv_and_missing_model_end_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal_length,species\n1,a\n")
    env = clean_env(MODEL_DIR=tmp_path / "models", TRAIN_DATA=bad, LABEL_COLUMN="churned")
    train = run_cli("iris-train", env=env)
    assert train.returncode == 2
    assert f"{bad}: no label column 'churned' (LABEL_COLUMN)" in train.stderr
    assert "Traceback" not in train.stderr

    batch = run_cli("iris-batch", env=clean_env(MODEL_DIR=tmp_path / "models"))
    assert batch.returncode == 1
    assert "run the training Job first" in batch.stderr
    assert len(batch.stderr.strip().splitlines()) == 1
