"""iris-train: what it publishes, and how it refuses bad data, a weak model or a bad store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from service.data import FEATURE_NAMES, load_training_data
from service.model_store import ModelStore
from service.train import main
from tests.service.core_fixtures import restore_logging  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("restore_logging")


def log_lines(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines()]


def iris_csv(path: Path, label: str = "names", rows: slice = slice(None)) -> Path:
    iris = load_iris()
    names = [str(name) for name in iris.target_names]
    lines = [",".join([*FEATURE_NAMES, "species"])]
    for values, target in zip(iris.data[rows], iris.target[rows], strict=True):
        shown = names[target] if label == "names" else str(target)
        lines.append(",".join([*(f"{v:g}" for v in values), shown]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_trains_on_bundled_iris_and_publishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--model-dir", str(tmp_path)]) == 0

    loaded = ModelStore(tmp_path).load()
    assert loaded.class_names == ("setosa", "versicolor", "virginica")
    assert loaded.feature_names == FEATURE_NAMES
    assert loaded.metadata["test_accuracy"] >= 0.9
    assert loaded.metadata["n_train"] + loaded.metadata["n_test"] == 150
    assert loaded.metadata["estimator"] == "LogisticRegression"
    assert set(loaded.metadata["library_versions"]) == {"python", "sklearn", "numpy", "joblib"}
    published = [e for e in log_lines(capsys.readouterr().err) if e["message"] == "published model"]
    assert published and published[0]["version"] == loaded.version
    assert published[0]["path"] == str(tmp_path / "versions" / loaded.version)


def test_hyperparameters_come_from_the_environment_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_C", "0.5")
    monkeypatch.setenv("MODEL_MAX_ITER", "321")
    monkeypatch.setenv("TEST_SIZE", "0.3")
    monkeypatch.setenv("RANDOM_SEED", "3")  # the flag below wins
    assert main(["--model-dir", str(tmp_path), "--random-seed", "7"]) == 0
    metadata = ModelStore(tmp_path).load().metadata
    assert metadata["params"]["C"] == 0.5
    assert metadata["params"]["max_iter"] == 321
    assert metadata["params"]["random_state"] == 7
    assert metadata["n_test"] == 45


@pytest.mark.parametrize("label", ["names", "indices"])
def test_trains_on_a_csv(tmp_path: Path, label: str) -> None:
    data = iris_csv(tmp_path / "iris.csv", label)
    assert main(["--model-dir", str(tmp_path / "m"), "--train-data", str(data)]) == 0
    loaded = ModelStore(tmp_path / "m").load()
    assert loaded.class_names == ("setosa", "versicolor", "virginica")
    assert loaded.metadata["data_source"] == str(data)


def test_class_names_follow_the_probability_columns(tmp_path: Path) -> None:
    """With classes 1 and 2 only, column 0 of predict_proba is versicolor, not setosa."""
    data = iris_csv(tmp_path / "two.csv", "indices", slice(50, 150))
    assert main(["--model-dir", str(tmp_path / "m"), "--train-data", str(data)]) == 0
    loaded = ModelStore(tmp_path / "m").load()
    assert loaded.class_names == ("versicolor", "virginica")
    setosa_like = np.array([[6.0, 2.7, 4.0, 1.2]])
    assert loaded.class_names[int(loaded.estimator.predict(setosa_like)[0])] == "versicolor"


def test_quality_gate_refuses_to_publish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--model-dir", str(tmp_path), "--min-accuracy", "1.0"]) == 1
    assert ModelStore(tmp_path).current_version() is None
    errors = [e for e in log_lines(capsys.readouterr().err) if e["level"] == "error"]
    assert len(errors) == 1
    assert "below MIN_ACCURACY" in str(errors[0]["message"])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (",".join(FEATURE_NAMES) + "\n1,2,3,4\n", "a label column"),
        (
            ",".join([*FEATURE_NAMES, "species"]) + "\n1,2,3,4,a\n1,2,x,4,b\n",
            "column petal_length mixes numbers and text (line 2: '3', line 3: 'x')",
        ),
        (
            ",".join([*FEATURE_NAMES, "species"]) + "\n1,2,3,inf,a\n",
            "line 2: petal_width is not finite",
        ),
        (",".join([*FEATURE_NAMES, "species"]) + "\n1,2,3,a\n", "line 2: 4 fields, expected 5"),
        (",".join([*FEATURE_NAMES, "species"]) + "\n1,2,3,4,a\n1,2,3,4,a\n", "at least 2 classes"),
        (
            ",".join([*FEATURE_NAMES, "species"]) + "\n1,2,3,4,a\n1,2,3,4,b\n1,2,3,4,b\n",
            "at least 2 rows",
        ),
        (
            ",".join([*FEATURE_NAMES, "species"]) + "\n" + "1,2,3,4,a\n1,2,3,4,b\n" * 2,
            "cannot split",
        ),
        ("", "is empty"),
    ],
)
def test_bad_training_data_is_one_readable_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, reason: str
) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(content)
    assert main(["--model-dir", str(tmp_path / "m"), "--train-data", str(data)]) == 2
    errors = [e for e in log_lines(capsys.readouterr().err) if e["level"] == "error"]
    assert len(errors) == 1
    assert reason in str(errors[0]["message"])
    assert "error" not in errors[0]  # no traceback attached
    assert ModelStore(tmp_path / "m").current_version() is None


def test_missing_training_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.csv"
    assert main(["--model-dir", str(tmp_path), "--train-data", str(missing)]) == 2
    assert f"cannot read {missing}: No such file" in capsys.readouterr().err


def test_unwritable_model_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["--model-dir", str(blocker / "models")]) == 1
    errors = [e for e in log_lines(capsys.readouterr().err) if e["level"] == "error"]
    assert errors[0]["message"] == f"cannot publish to {blocker / 'models'}: Not a directory"


def test_bundled_and_csv_data_agree(tmp_path: Path) -> None:
    bundled = load_training_data(None)
    from_csv = load_training_data(iris_csv(tmp_path / "iris.csv"))
    np.testing.assert_array_equal(bundled.features, from_csv.features)
    np.testing.assert_array_equal(bundled.labels, from_csv.labels)
    assert bundled.class_names == from_csv.class_names
