"""The Iris data: feature names, and loading a training set from scikit-learn or a CSV.

Either source comes out as a `Dataset` whose labels are 0..k-1 and whose `class_names[i]`
names label i, which is also column i of the trained model's predict_proba.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURE_NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
# The label column of a training CSV may have any of these names (first one found wins).
LABEL_COLUMNS = ("species", "label", "target", "class")
IRIS_CLASS_NAMES = ("setosa", "versicolor", "virginica")


class DataError(Exception):
    """The training data cannot be used; the message is one readable line."""


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # shape (rows, 4), float64
    labels: np.ndarray  # shape (rows,), int, 0..k-1
    class_names: tuple[str, ...]
    source: str


def load_training_data(path: Path | None) -> Dataset:
    """The CSV at `path`, or the Iris data shipped with scikit-learn when `path` is None."""
    return _bundled_iris() if path is None else _read_csv(path)


def _bundled_iris() -> Dataset:
    # Imported here: scikit-learn takes a second to import, and iris-batch, which imports this
    # module for FEATURE_NAMES, needs none of it before a model is loaded.
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = tuple(str(name) for name in iris.target_names)
    return Dataset(iris.data.astype(np.float64), iris.target.astype(np.int64), names, "iris")


def _read_csv(path: Path) -> Dataset:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except csv.Error as exc:
        raise DataError(f"{path} is not valid CSV: {exc}") from None
    if not rows:
        raise DataError(f"{path} is empty")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in FEATURE_NAMES if name not in header]
    label = next((name for name in LABEL_COLUMNS if name in header), None)
    if missing or label is None:
        wanted = missing + ([] if label else ["a label column (" + "/".join(LABEL_COLUMNS) + ")"])
        raise DataError(f"{path}: missing column(s): {', '.join(wanted)}")
    columns = [header.index(name) for name in FEATURE_NAMES]
    label_column = header.index(label)

    features: list[list[float]] = []
    raw_labels: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path} line {line}: {len(row)} fields, expected {len(header)}")
        features.append(
            [
                _number(path, line, name, row[i])
                for name, i in zip(FEATURE_NAMES, columns, strict=True)
            ]
        )
        value = row[label_column].strip()
        if not value:
            raise DataError(f"{path} line {line}: empty {label}")
        raw_labels.append(value)
    labels, class_names = _encode_labels(raw_labels)
    return Dataset(
        np.array(features, dtype=np.float64).reshape(-1, 4), labels, class_names, str(path)
    )


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path} line {line}: {column} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path} line {line}: {column} is not finite: {text!r}")
    return value


def _encode_labels(raw: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as 0..k-1 plus the name of each; indices 0-2 take the Iris species names."""
    if all(value.lstrip("-").isdigit() for value in raw):
        indices = np.array([int(value) for value in raw], dtype=np.int64)
        present, labels = np.unique(indices, return_inverse=True)
        if present.min(initial=0) >= 0 and present.max(initial=0) < len(IRIS_CLASS_NAMES):
            names = tuple(IRIS_CLASS_NAMES[i] for i in present)
        else:
            names = tuple(str(i) for i in present)
        return labels.astype(np.int64), names
    present_names, labels = np.unique(np.array(raw, dtype=str), return_inverse=True)
    return labels.astype(np.int64), tuple(str(name) for name in present_names)
