"""The model store: publishing, verified loading, pruning and what it refuses."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from service.model_store import (
    LoadedModel,
    ModelStore,
    ModelStoreError,
    NoModelError,
    file_sha256,
)
from tests.service.core_fixtures import store_files

METADATA = {
    "feature_names": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
    "class_names": ["setosa", "versicolor", "virginica"],
    "test_accuracy": 0.97,
}


@pytest.fixture(scope="module")
def estimator() -> LogisticRegression:
    data = load_iris()
    return LogisticRegression(max_iter=300).fit(data.data, data.target)


def test_empty_store_has_no_model(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    assert store.current_version() is None
    assert store.versions() == []
    with pytest.raises(NoModelError, match="no model published"):
        store.load()


def test_publish_then_load_returns_the_same_model(
    tmp_path: Path, estimator: LogisticRegression
) -> None:
    store = ModelStore(tmp_path)
    version = store.publish(estimator, dict(METADATA))

    assert store.current_version() == version
    loaded = store.load()
    assert isinstance(loaded, LoadedModel)
    assert loaded.version == version
    assert loaded.class_names == tuple(METADATA["class_names"])
    assert loaded.feature_names == tuple(METADATA["feature_names"])
    assert loaded.metadata["version"] == version
    assert loaded.metadata["sha256"] == file_sha256(
        tmp_path / "versions" / version / "model.joblib"
    )
    assert loaded.metadata["test_accuracy"] == 0.97
    sample = load_iris().data[:20]
    np.testing.assert_array_equal(
        loaded.estimator.predict_proba(sample), estimator.predict_proba(sample)
    )
    assert (tmp_path / "current").read_text().strip() == version


def test_load_of_an_older_version_by_name(tmp_path: Path, estimator: LogisticRegression) -> None:
    store = ModelStore(tmp_path)
    first = store.publish(estimator, dict(METADATA))
    second = store.publish(estimator, dict(METADATA))
    assert store.load(first).version == first
    assert store.load().version == second


def test_keeps_the_newest_versions_and_never_the_current_one(
    tmp_path: Path, estimator: LogisticRegression
) -> None:
    store = ModelStore(tmp_path, keep=2)
    published = [store.publish(estimator, dict(METADATA)) for _ in range(4)]
    assert store.versions() == published[-2:]
    assert store.current_version() == published[-1]

    single = ModelStore(tmp_path, keep=1)
    latest = single.publish(estimator, dict(METADATA))
    assert single.versions() == [latest]


def test_corrupt_model_is_refused(tmp_path: Path, estimator: LogisticRegression) -> None:
    store = ModelStore(tmp_path)
    version = store.publish(estimator, dict(METADATA))
    model_file = tmp_path / "versions" / version / "model.joblib"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(ModelStoreError, match="corrupt or incomplete") as error:
        store.load()
    assert not isinstance(error.value, NoModelError)


def test_truncated_model_is_refused(tmp_path: Path, estimator: LogisticRegression) -> None:
    store = ModelStore(tmp_path)
    version = store.publish(estimator, dict(METADATA))
    model_file = tmp_path / "versions" / version / "model.joblib"
    model_file.write_bytes(model_file.read_bytes()[:100])
    with pytest.raises(ModelStoreError, match="sha256"):
        store.load()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no-metadata", "metadata.json is missing"),
        ("bad-metadata", "cannot read"),
        ("no-model", "cannot read"),
        ("no-folder", "is missing from"),
    ],
)
def test_incomplete_versions_are_refused(
    tmp_path: Path, estimator: LogisticRegression, damage: str, message: str
) -> None:
    store = ModelStore(tmp_path)
    folder = tmp_path / "versions" / store.publish(estimator, dict(METADATA))
    if damage == "no-metadata":
        (folder / "metadata.json").unlink()
    elif damage == "bad-metadata":
        (folder / "metadata.json").write_text('{"version": "trunc')
    elif damage == "no-model":
        (folder / "model.joblib").unlink()
    else:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
    with pytest.raises(ModelStoreError, match=message):
        store.load()


@pytest.mark.parametrize("pointer", ["../../etc/passwd", "latest", "20261129T051200Z"])
def test_a_malformed_current_pointer_is_refused(tmp_path: Path, pointer: str) -> None:
    (tmp_path / "current").write_text(pointer + "\n")
    with pytest.raises(ModelStoreError, match="invalid model version"):
        ModelStore(tmp_path).load()


def test_leftovers_of_a_crash_are_ignored_then_cleaned(
    tmp_path: Path, estimator: LogisticRegression
) -> None:
    store = ModelStore(tmp_path)
    version = store.publish(estimator, dict(METADATA))
    staging = tmp_path / "versions" / ".tmp-20991231T000000Z-dead"
    staging.mkdir()
    (staging / "model.joblib").write_bytes(b"half")
    stray_pointer = tmp_path / ".tmp-current.abc"
    stray_pointer.write_text("20991231T000000Z-dead")

    assert store.versions() == [version]
    assert store.load().version == version

    newer = store.publish(estimator, dict(METADATA))
    assert not staging.exists()
    assert not stray_pointer.exists()
    assert store.versions() == [version, newer]


def test_a_failed_publish_changes_nothing(tmp_path: Path, estimator: LogisticRegression) -> None:
    store = ModelStore(tmp_path)
    version = store.publish(estimator, dict(METADATA))
    before = store_files(store)
    with pytest.raises(pickle.PicklingError):
        store.publish(lambda: None, dict(METADATA))  # a lambda cannot be pickled
    assert store.current_version() == version
    assert store_files(store).keys() == before.keys()


def test_load_never_writes(tmp_path: Path, estimator: LogisticRegression) -> None:
    store = ModelStore(tmp_path)
    store.publish(estimator, dict(METADATA))
    before = store_files(store)
    store.load()
    store.versions()
    store.current_version()
    assert store_files(store) == before


def test_metadata_records_the_checksum_and_version(
    tmp_path: Path, estimator: LogisticRegression
) -> None:
    store = ModelStore(tmp_path)
    version = store.publish(estimator, dict(METADATA))
    metadata = json.loads((tmp_path / "versions" / version / "metadata.json").read_text())
    assert metadata["version"] == version
    assert metadata["created"].endswith("+00:00")
    assert len(metadata["sha256"]) == 64
    assert os.stat(tmp_path / "current").st_mode & 0o044 == 0o044  # other pods may read it
