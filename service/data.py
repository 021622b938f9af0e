"""Training data: the bundled Iris set, or any CSV with a label column, as encoded rows.

A CSV's features are its other columns (or the FEATURES list), each numeric or categorical as
its values show (or as declared, `name:categorical`); empty, `NA`, `NaN`, `null` and `?` are
missing. The result is a `Dataset`: rows encoded as `service.signature` describes (NaN for a
missing value, a category's index for a categorical one), the labels, and the signature.

Read with the csv module and numpy rather than pandas: the columns are typed by one pass of
float() over their text, which is all pandas' inference would give here, and the image (and
iris-batch's import time) stays without a 60 MB dependency.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.signature import Feature, Signature, Task, iris_measurement

FEATURE_NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
# Without LABEL_COLUMN, the label is the first of these a CSV has.
LABEL_COLUMNS = ("species", "label", "target", "class")
IRIS_CLASS_NAMES = ("setosa", "versicolor", "virginica")
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
# A numeric label with more distinct values than this (or any fraction) is a regression target.
MAX_CLASSES_INFERRED = 20


class DataError(Exception):
    """The training data cannot be used; the message is one readable line."""


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # shape (rows, features), float64, encoded (see service.signature)
    labels: np.ndarray  # classification: int 0..k-1 (class_names[i] names i); else float64
    signature: Signature
    source: str

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.signature.class_names


@dataclass(frozen=True)
class CsvOptions:
    label_column: str | None = None
    features: tuple[str, ...] = ()  # `name` or `name:numeric` / `name:categorical`
    task: Task | None = None
    max_categories: int = 100


def load_training_data(path: Path | None, options: CsvOptions | None = None) -> Dataset:
    """The CSV at `path`, or the Iris data shipped with scikit-learn when `path` is None."""
    return _bundled_iris() if path is None else _read_csv(path, options or CsvOptions())


def _bundled_iris() -> Dataset:
    # Imported here: scikit-learn takes a second to import, and iris-batch, which imports this
    # module, needs none of it before a model is loaded.
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = tuple(str(name) for name in iris.target_names)
    data = iris.data.astype(np.float64)
    features = tuple(
        iris_measurement(name, float(data[:, i].min()), float(data[:, i].max()))
        for i, name in enumerate(FEATURE_NAMES)
    )
    signature = Signature(features, "classification", "species", names)
    return Dataset(data, iris.target.astype(np.int64), signature, "iris")


def _read_csv(path: Path, options: CsvOptions) -> Dataset:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except csv.Error as exc:
        raise DataError(f"{path} is not valid CSV: {exc}") from None
    if not rows:
        raise DataError(f"{path} is empty")
    header = [name.strip() for name in rows[0]]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DataError(f"{path}: duplicated column(s): {', '.join(duplicated)}")
    label = _label_column(path, header, options.label_column)
    declared = _declared_features(path, header, label, options.features)
    body = [(line, row) for line, row in enumerate(rows[1:], start=2) if row]
    if not body:
        raise DataError(f"{path} has a header but no rows")
    for line, row in body:
        if len(row) != len(header):
            raise DataError(f"{path} line {line}: {len(row)} fields, expected {len(header)}")

    def column(name: str) -> list[tuple[int, str]]:
        i = header.index(name)
        return [(line, row[i].strip()) for line, row in body]

    features = [
        _feature(path, name, kind, column(name), options.max_categories)
        for name, kind in declared.items()
    ]
    encoded = np.column_stack([values for _, values in features])
    signature_features = tuple(feature for feature, _ in features)
    raw_labels = column(label)
    for line, value in raw_labels:
        if value.lower() in MISSING:
            raise DataError(f"{path} line {line}: empty {label}")
    task = options.task or _infer_task([v for _, v in raw_labels])
    if task == "regression":
        labels = np.array([_number(path, line, label, v) for line, v in raw_labels])
        signature = Signature(signature_features, "regression", label)
    else:
        iris_like = tuple(declared) == FEATURE_NAMES
        labels, class_names = _encode_labels([v for _, v in raw_labels], iris_like)
        signature = Signature(signature_features, "classification", label, class_names)
    return Dataset(encoded.astype(np.float64), labels, signature, str(path))


def _label_column(path: Path, header: list[str], wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in header:
            raise DataError(
                f"{path}: no label column {wanted!r} (LABEL_COLUMN); columns: {', '.join(header)}"
            )
        return wanted
    found = next((name for name in LABEL_COLUMNS if name in header), None)
    if found is None:
        raise DataError(
            f"{path}: missing column(s): a label column (" + "/".join(LABEL_COLUMNS) + "); "
            "set LABEL_COLUMN to name yours"
        )
    return found


def _declared_features(
    path: Path, header: list[str], label: str, declared: tuple[str, ...]
) -> dict[str, str | None]:
    """Feature name -> declared kind (None: as the data shows), in signature order."""
    if not declared:
        # An identifier predicts nothing and would make the API demand it: leave it out.
        names = [
            n for n in header if n != label and n.lower() != "id" and not n.lower().endswith("_id")
        ]
        if not names:
            raise DataError(f"{path}: no feature columns besides the label {label!r}")
        return dict.fromkeys(names)
    out: dict[str, str | None] = {}
    for item in declared:
        name, _, kind = item.partition(":")
        name, kind = name.strip(), kind.strip().lower()
        if kind and kind not in ("numeric", "categorical"):
            raise DataError(f"FEATURES: {item!r}: the type must be numeric or categorical")
        out[name] = kind or None
    missing = [name for name in out if name not in header]
    if missing:
        raise DataError(f"{path}: missing column(s): {', '.join(missing)}")
    if label in out:
        raise DataError(f"FEATURES lists the label column {label!r}")
    return out


def _feature(
    path: Path, name: str, kind: str | None, cells: list[tuple[int, str]], max_categories: int
) -> tuple[Feature, np.ndarray]:
    present = [(line, text) for line, text in cells if text.lower() not in MISSING]
    if not present:
        raise DataError(f"{path}: column {name} has no values (every row is missing it)")
    nullable = len(present) < len(cells)
    if kind is None:
        kind = _infer_kind(path, name, present)
    if kind == "numeric":
        values = np.array(
            [math.nan if t.lower() in MISSING else _number(path, ln, name, t) for ln, t in cells]
        )
        finite = values[~np.isnan(values)]
        feature = Feature(
            name, "numeric", float(finite.min()), float(finite.max()), nullable=nullable
        )
        return feature, values
    categories = tuple(sorted({text for _, text in present}))
    if len(categories) > max_categories:
        raise DataError(
            f"{path}: column {name} has {len(categories)} distinct values, more than "
            f"MAX_CATEGORIES ({max_categories}); an identifier or free text? leave it out "
            "with FEATURES"
        )
    feature = Feature(name, "categorical", categories=categories, nullable=nullable)
    codes = {c: float(i) for i, c in enumerate(categories)}
    values = np.array([codes.get(text, math.nan) for _, text in cells])
    return feature, values


def _infer_kind(path: Path, name: str, present: list[tuple[int, str]]) -> str:
    numbers = [(line, text) for line, text in present if _is_number(text)]
    if len(numbers) == len(present):
        return "numeric"
    if numbers:
        text_line, text = next((ln, t) for ln, t in present if not _is_number(t))
        number_line, number = numbers[0]
        raise DataError(
            f"{path}: column {name} mixes numbers and text (line {number_line}: {number!r}, "
            f"line {text_line}: {text!r}); fix the data or declare it in FEATURES as "
            f"{name}:categorical"
        )
    return "categorical"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _infer_task(labels: list[str]) -> Task:
    if not all(_is_number(v) for v in labels):
        return "classification"
    values = {float(v) for v in labels}
    whole = all(math.isfinite(v) and v.is_integer() for v in values)
    return "classification" if whole and len(values) <= MAX_CLASSES_INFERRED else "regression"


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path} line {line}: {column} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path} line {line}: {column} is not finite: {text!r}")
    return value


def _encode_labels(raw: list[str], iris_like: bool) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as 0..k-1 plus the name of each; an Iris CSV's 0-2 take the species names."""
    if all(_is_number(v) and float(v).is_integer() for v in raw):
        indices = np.array([int(float(value)) for value in raw], dtype=np.int64)
        present, labels = np.unique(indices, return_inverse=True)
        if iris_like and present.min() >= 0 and present.max() < len(IRIS_CLASS_NAMES):
            names = tuple(IRIS_CLASS_NAMES[i] for i in present)
        else:
            names = tuple(str(i) for i in present)
        return labels.astype(np.int64), names
    present_names, labels = np.unique(np.array(raw, dtype=str), return_inverse=True)
    return labels.astype(np.int64), tuple(str(name) for name in present_names)
