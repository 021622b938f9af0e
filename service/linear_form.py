"""The pickle-free form of linear models: their parameters as JSON, served with numpy alone.

Training writes it (`extract_form`) beside model.joblib for a bare LogisticRegression and for
the Pipeline `service.train.make_pipeline` builds (median imputer, StandardScaler, most-frequent
imputer, one-hot encoder) ending in LogisticRegression, Ridge or LinearRegression. Serving
reads it back (`Preprocessor`, `form_parts`) without importing scikit-learn or unpickling
anything, which is most of a pod's start-up time and all of a pickle's risk. Floats survive
JSON exactly (shortest repr round-trips), and the operations are scikit-learn's (in its order,
except that without one-hot columns the scaling is folded into the model's coefficients,
`Preprocessor.fold`, so a row of any width costs its products alone), so predictions agree with
the pickled pipeline to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from service.signature import Signature

FORMAT = "iris-linear/1"


class FormError(ValueError):
    """A pickle-free form that does not fit its signature; one line."""


def extract_form(model: Any, signature: Signature) -> dict[str, Any] | None:
    """The form of `model`, or None when it has none (trees, a team's own estimator...)."""
    prepare, estimator = None, model
    if type(model).__name__ == "Pipeline":
        steps = dict(model.steps)
        if list(steps) != ["prepare", "model"]:
            return None
        prepare, estimator = steps["prepare"], steps["model"]
    head = _linear_head(estimator, signature)
    if head is None:
        return None
    n = len(signature.features)
    numeric: dict[str, Any] = {
        "columns": [i for i, f in enumerate(signature.features) if f.kind == "numeric"],
        "impute": None,
        "mean": None,
        "scale": None,
    }
    categorical: list[dict[str, Any]] = []
    if prepare is None:
        if any(f.kind != "numeric" for f in signature.features):
            return None
    else:
        parts = _prepare_parts(prepare, n)
        if parts is None:
            return None
        numeric, categorical = parts
    return {"format": FORMAT, **head, "numeric": numeric, "categorical": categorical}


def _linear_head(estimator: Any, signature: Signature) -> dict[str, Any] | None:
    kind = type(estimator).__name__
    coef = np.atleast_2d(np.asarray(getattr(estimator, "coef_", []), dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(getattr(estimator, "intercept_", 0.0), dtype=np.float64))
    if kind == "LogisticRegression" and signature.task == "classification":
        classes = len(signature.class_names)
        multiclass_ovr = classes > 2 and (
            getattr(estimator, "multi_class", "auto") == "ovr" or estimator.solver == "liblinear"
        )
        if multiclass_ovr:
            return None
        link = "logistic" if classes == 2 else "softmax"
    elif kind in ("Ridge", "LinearRegression") and signature.task == "regression":
        link = "identity"
    else:
        return None
    return {"link": link, "coef": coef.tolist(), "intercept": intercept.tolist()}


def _prepare_parts(prepare: Any, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    if type(prepare).__name__ != "ColumnTransformer" or prepare.remainder != "drop":
        return None
    numeric: dict[str, Any] = {"columns": [], "impute": None, "mean": None, "scale": None}
    categorical: list[dict[str, Any]] = []
    for name, transformer, columns in prepare.transformers_:
        if name == "remainder":
            continue
        steps = dict(getattr(transformer, "steps", []))
        if name == "numeric" and list(steps) == ["impute", "scale"]:
            impute, scale = steps["impute"], steps["scale"]
            if impute.strategy != "median" or not (scale.with_mean and scale.with_std):
                return None
            numeric = {
                "columns": [int(c) for c in columns],
                "impute": impute.statistics_.tolist(),
                "mean": scale.mean_.tolist(),
                "scale": scale.scale_.tolist(),
            }
        elif name == "categorical" and list(steps) == ["impute", "onehot"]:
            onehot = steps["onehot"]
            if onehot.drop is not None:
                return None
            for column, mode, known in zip(
                columns, steps["impute"].statistics_, onehot.categories_, strict=True
            ):
                if not np.array_equal(known, np.arange(len(known), dtype=float)):
                    return None
                categorical.append({"column": int(column), "impute": int(mode), "size": len(known)})
        else:
            return None
    used = sorted([*numeric["columns"], *(c["column"] for c in categorical)])
    return (numeric, categorical) if used == list(range(n)) else None


class Preprocessor:
    """The form's preprocessing of encoded rows: impute, scale, one-hot, in scikit-learn's order."""

    def __init__(self, form: dict[str, Any], n_features: int) -> None:
        numeric = form["numeric"]
        self._columns = np.asarray(numeric["columns"], dtype=np.intp)
        self._impute = _optional_array(numeric["impute"])
        self._mean = _optional_array(numeric["mean"])
        self._scale = _optional_array(numeric["scale"])
        self._categorical = [(c["column"], c["impute"], c["size"]) for c in form["categorical"]]
        self.n_features = n_features
        self.n_outputs = len(self._columns) + sum(size for _, _, size in self._categorical)
        used = sorted([*numeric["columns"], *(c for c, _, _ in self._categorical)])
        if used != list(range(n_features)):
            raise FormError(f"the form's columns {used} are not the signature's {n_features}")
        self.identity = (
            not self._categorical
            and self._impute is None
            and self._mean is None
            and list(self._columns) == list(range(n_features))
        )
        # Plain Python numbers for one row: numpy's per-call cost dwarfs a dozen operations.
        self._row_numeric = [
            (
                int(c),
                float(self._impute[i]) if self._impute is not None else math.nan,
                float(self._mean[i]) if self._mean is not None else 0.0,
                float(self._scale[i]) if self._scale is not None else 1.0,
            )
            for i, c in enumerate(self._columns)
        ]

    def fold(
        self, coef: np.ndarray, intercept: np.ndarray
    ) -> tuple[Imputer, np.ndarray, np.ndarray] | None:
        """The linear model `coef`, `intercept` with the scaling folded in: coefficients over
        the encoded features themselves, so a row costs the model's products and nothing more.
        None when a one-hot block makes the preprocessing more than impute and scale.

        w . (x - mean) / scale + b is (w / scale) . x + (b - w . mean / scale): the same
        function, rounded differently (a few ulps of the larger terms, far below the 1e-9
        the tests hold scikit-learn's answers to).
        """
        if self._categorical:
            return None
        mean = self._mean if self._mean is not None else np.zeros(len(self._columns))
        scale = self._scale if self._scale is not None else np.ones(len(self._columns))
        weights = np.asarray(coef, dtype=np.float64) / scale
        folded = np.zeros((weights.shape[0], self.n_features))
        folded[:, self._columns] = weights
        bias = np.asarray(intercept, dtype=np.float64) - weights @ mean
        medians = None
        if self._impute is not None:
            medians = np.empty(self.n_features)
            medians[self._columns] = self._impute
        return Imputer(self.n_features, medians), folded, bias

    def transform(self, features: np.ndarray) -> np.ndarray:
        numbers = features[:, self._columns]
        if self._impute is not None:
            missing = np.isnan(numbers)
            if missing.any():
                numbers = np.where(missing, self._impute, numbers)
        if self._mean is not None:
            numbers = numbers - self._mean
        if self._scale is not None:
            numbers /= self._scale
        if not self._categorical:
            return numbers
        blocks = [numbers]
        rows = np.arange(len(features))
        for column, mode, size in self._categorical:
            codes = features[:, column]
            codes = np.where(np.isnan(codes), mode, codes).astype(np.intp)
            onehot = np.zeros((len(features), size))
            onehot[rows, codes] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks)

    def transform_row(self, row: Sequence[float]) -> list[float]:
        out = []
        for column, median, mean, scale in self._row_numeric:
            value = row[column]
            if value != value:  # NaN: missing
                value = median
            out.append((value - mean) / scale)
        for column, mode, size in self._categorical:
            code = row[column]
            onehot = [0.0] * size
            onehot[mode if code != code else int(code)] = 1.0
            out.extend(onehot)
        return out


class Imputer:
    """The median imputation of encoded numeric rows, all that is left of a Preprocessor once
    its scaling is folded into the model (Preprocessor.fold)."""

    def __init__(self, n_features: int, medians: np.ndarray | None) -> None:
        self.n_features = n_features
        self.identity = medians is None
        self._medians = medians
        self._row_medians = None if medians is None else medians.tolist()

    def transform(self, features: np.ndarray) -> np.ndarray:
        if self._medians is None:
            return features
        missing = np.isnan(features)
        return np.where(missing, self._medians, features) if missing.any() else features

    def transform_row(self, row: Sequence[float]) -> Sequence[float]:
        total = sum(row)
        # A sum is NaN when a value is (or when infinities cancel: then nothing is replaced).
        if total == total or self._row_medians is None:
            return row
        return [m if v != v else v for v, m in zip(row, self._row_medians, strict=True)]


def form_parts(form: dict[str, Any]) -> tuple[str, np.ndarray, np.ndarray]:
    """The form's link ("softmax", "logistic" or "identity"), coefficients and intercepts."""
    if form.get("format") != FORMAT:
        raise FormError(f"unknown pickle-free format {form.get('format')!r}")
    link = form["link"]
    if link not in ("softmax", "logistic", "identity"):
        raise FormError(f"unknown link {link!r}")
    coef = np.atleast_2d(np.asarray(form["coef"], dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(form["intercept"], dtype=np.float64))
    return link, coef, intercept


def _optional_array(values: list[float] | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)
