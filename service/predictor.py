"""Predictions from a loaded model, without scikit-learn's per-call overhead where that is safe.

scikit-learn validates its input on every call (about 100 us), while a logistic regression on
four features is a dozen multiply-adds. For linear models (a bare LogisticRegression, or the
pickle-free form of a training pipeline, see service.linear_form) the predictors here compute
the same preprocessing, decision function and link (softmax, the logistic function for two
classes, identity for regression) directly: numpy for a batch, plain floats for a single row.
Their output equals scikit-learn's to rounding (the tests compare them on random inputs).
Every other estimator is served by its own methods. Inputs are encoded rows (see
service.signature); scikit-learn is imported only when a pickled estimator is used.

`predict` returns column indices of `predict_proba`, i.e. positions in `class_names`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from service.linear_form import FormError, Imputer, Preprocessor, form_parts
from service.model_store import LoadedModel, ModelStoreError


class Predictor(Protocol):
    """A classifier's predictions."""

    class_names: tuple[str, ...]
    n_features: int

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (rows, classes), float64."""
        ...

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Index of the predicted class of each row, shape (rows,), int64."""
        ...

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """predict and predict_proba at once (sharing the work where they can)."""
        ...

    def predict_row(self, row: Sequence[float]) -> tuple[int, list[float]]:
        """The predicted class index and the class probabilities of one row."""
        ...


class LinearSoftmaxPredictor:
    """Multinomial logistic regression: softmax of X @ coef.T + intercept.

    Batches are scored class-major, (classes, rows): numpy reduces a (rows, 3) array along
    its short axis several times slower than it combines three long rows.
    """

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, class_names: tuple[str, ...]):
        self.class_names = class_names
        self.n_features = coef.shape[1]
        self._coef = np.ascontiguousarray(coef, dtype=np.float64)
        self._intercept = np.asarray(intercept, dtype=np.float64).reshape(-1, 1)
        # Python floats, for the single-row path (numpy's per-call cost dwarfs 12 products).
        self._rows = tuple(
            (tuple(float(c) for c in weights), float(b))
            for weights, b in zip(coef, intercept, strict=True)
        )

    def _class_scores(self, features: np.ndarray) -> np.ndarray:
        """Decision values, shape (classes, rows)."""
        return self._coef @ features.T + self._intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.classify(features)[1]

    def predict(self, features: np.ndarray) -> np.ndarray:
        return _top_of_columns(self._class_scores(features))[1]

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = self._class_scores(features)
        # scikit-learn's predict takes the argmax of the scores, not of the probabilities.
        top, indices = _top_of_columns(scores)
        return indices, _softmax_of_columns(scores, top)

    def predict_row(self, row: Sequence[float]) -> tuple[int, list[float]]:
        # The same order of operations as numpy's (x @ w) + b, so the results agree to rounding.
        scores = [sum(map(operator.mul, weights, row)) + bias for weights, bias in self._rows]
        top = max(scores)
        best = scores.index(top)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return best, [e / total for e in exps]


class LinearBinaryPredictor:
    """Two-class logistic regression: the logistic function of one decision value."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, class_names: tuple[str, ...]):
        self.class_names = class_names
        self.n_features = coef.shape[1]
        self._coef = np.asarray(coef[0], dtype=np.float64)
        self._intercept = float(intercept[0])
        self._weights = tuple(float(c) for c in coef[0])

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        positive = _logistic(features @ self._coef + self._intercept)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, features: np.ndarray) -> np.ndarray:
        return (features @ self._coef + self._intercept > 0).astype(np.int64)

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = features @ self._coef + self._intercept
        positive = _logistic(scores)
        return (scores > 0).astype(np.int64), np.column_stack([1.0 - positive, positive])

    def predict_row(self, row: Sequence[float]) -> tuple[int, list[float]]:
        score = sum(map(operator.mul, self._weights, row)) + self._intercept
        if score >= 0:
            positive = 1.0 / (1.0 + math.exp(-score))
        else:
            exp = math.exp(score)
            positive = exp / (1.0 + exp)
        return int(score > 0), [1.0 - positive, positive]


def _top_of_columns(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The maximum of each column of (classes, rows) scores, and its row (the first on ties).

    np.argmax along the class axis walks the array across its strides, several times
    slower than comparing whole rows, one class at a time.
    """
    top = scores[0].copy()
    indices = np.zeros(scores.shape[1], dtype=np.int64)
    for k in range(1, scores.shape[0]):
        row = scores[k]
        indices[row > top] = k
        np.maximum(top, row, out=top)
    return top, indices


def _softmax_of_columns(scores: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Softmax of each column of (classes, rows) scores, as (rows, classes) probabilities.

    In place, in scikit-learn's order of operations: subtract the maximum (`top`), exp,
    normalise.
    """
    scores -= top
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=0)
    return np.ascontiguousarray(scores.T)


def _logistic(scores: np.ndarray) -> np.ndarray:
    # Split by sign so that exp never overflows.
    out = np.empty_like(scores)
    positive = scores >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-scores[positive]))
    exp = np.exp(scores[~positive])
    out[~positive] = exp / (1.0 + exp)
    return out


class EstimatorPredictor:
    """Any scikit-learn classifier, through its own predict_proba."""

    def __init__(self, estimator: Any, class_names: tuple[str, ...], n_features: int):
        self.class_names = class_names
        self.n_features = n_features
        self._estimator = estimator

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self._estimator.predict_proba(features), dtype=np.float64)

    def predict(self, features: np.ndarray) -> np.ndarray:
        labels = self._estimator.predict(features)
        return np.searchsorted(self._estimator.classes_, labels).astype(np.int64)

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.predict(features), self.predict_proba(features)

    def predict_row(self, row: Sequence[float]) -> tuple[int, list[float]]:
        features = np.asarray([row], dtype=np.float64)
        return int(self.predict(features)[0]), self.predict_proba(features)[0].tolist()


class PreparedPredictor:
    """A linear classifier behind the pickle-free form's preprocessing (or, with the scaling
    folded into the classifier, behind its imputation alone)."""

    def __init__(self, preprocessor: Preprocessor | Imputer, inner: Predictor) -> None:
        self.class_names = inner.class_names
        self.n_features = preprocessor.n_features
        self._prepare = preprocessor
        self._inner = inner

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self._inner.predict_proba(self._prepare.transform(features))

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self._inner.predict(self._prepare.transform(features))

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._inner.classify(self._prepare.transform(features))

    def predict_row(self, row: Sequence[float]) -> tuple[int, list[float]]:
        return self._inner.predict_row(self._prepare.transform_row(row))


@runtime_checkable
class Regressor(Protocol):
    """A regressor's predictions."""

    n_features: int

    def values(self, features: np.ndarray) -> np.ndarray:
        """The predicted value of each row, shape (rows,), float64."""
        ...

    def value_row(self, row: Sequence[float]) -> float:
        """The predicted value of one row."""
        ...


class LinearRegressor:
    """A linear regression (Ridge, LinearRegression) from its pickle-free form."""

    def __init__(
        self, preprocessor: Preprocessor | Imputer, coef: np.ndarray, intercept: float
    ) -> None:
        self.n_features = preprocessor.n_features
        self._prepare = preprocessor
        self._coef = np.asarray(coef, dtype=np.float64)
        self._intercept = intercept
        self._weights = tuple(float(c) for c in coef)

    def values(self, features: np.ndarray) -> np.ndarray:
        return self._prepare.transform(features) @ self._coef + self._intercept

    def value_row(self, row: Sequence[float]) -> float:
        prepared = self._prepare.transform_row(row)
        return sum(map(operator.mul, self._weights, prepared)) + self._intercept


class EstimatorRegressor:
    """Any scikit-learn regressor, through its own predict."""

    def __init__(self, estimator: Any, n_features: int) -> None:
        self.n_features = n_features
        self._estimator = estimator

    def values(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self._estimator.predict(features), dtype=np.float64).reshape(-1)

    def value_row(self, row: Sequence[float]) -> float:
        return float(self.values(np.asarray([row], dtype=np.float64))[0])


def make_predictor(loaded: LoadedModel) -> Predictor | Regressor:
    """The fastest predictor that gives the model's own results: a Predictor for a
    classifier, a Regressor for a regression model.

    Raises ModelStoreError when the model does not fit its metadata (feature or class count).
    """
    if loaded.form is not None:
        try:
            return _form_predictor(loaded)
        except (FormError, KeyError, TypeError, ValueError) as exc:
            raise ModelStoreError(f"model {loaded.version}: unusable {FORM_NAME}: {exc}") from None
    estimator = loaded.estimator
    n_features = len(loaded.feature_names)
    fitted_features = getattr(estimator, "n_features_in_", n_features)
    if fitted_features != n_features:
        raise ModelStoreError(
            f"model {loaded.version} expects {fitted_features} features but its metadata "
            f"names {n_features}"
        )
    if loaded.signature.task == "regression":
        return EstimatorRegressor(estimator, n_features)
    classes = getattr(estimator, "classes_", None)
    if classes is None or len(classes) != len(loaded.class_names):
        raise ModelStoreError(
            f"model {loaded.version} has {0 if classes is None else len(classes)} classes but "
            f"its metadata names {len(loaded.class_names)}"
        )
    from sklearn.linear_model import LogisticRegression

    if type(estimator) is LogisticRegression and _is_plain_link(estimator, len(classes)):
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        intercept = np.asarray(estimator.intercept_, dtype=np.float64)
        return _linear_classifier(coef, intercept, loaded.class_names)
    return EstimatorPredictor(estimator, loaded.class_names, n_features)


FORM_NAME = "pickle-free form"


def _form_predictor(loaded: LoadedModel) -> Predictor | Regressor:
    assert loaded.form is not None
    link, coef, intercept = form_parts(loaded.form)
    preprocessor = Preprocessor(loaded.form, len(loaded.feature_names))
    if coef.shape[1] != preprocessor.n_outputs:
        raise FormError(f"{coef.shape[1]} coefficients for {preprocessor.n_outputs} inputs")
    prepare: Preprocessor | Imputer = preprocessor
    folded = preprocessor.fold(coef, intercept)
    if folded is not None:
        prepare, coef, intercept = folded
    if link == "identity":
        if loaded.signature.task != "regression" or coef.shape[0] != 1:
            raise FormError("an identity link is for a single regression target")
        return LinearRegressor(prepare, coef[0], float(intercept[0]))
    classes = 2 if link == "logistic" else coef.shape[0]
    if loaded.signature.task != "classification" or classes != len(loaded.class_names):
        raise FormError(f"{classes} classes but the signature names {len(loaded.class_names)}")
    inner = _linear_classifier(coef, intercept, loaded.class_names)
    return inner if prepare.identity else PreparedPredictor(prepare, inner)


def _linear_classifier(
    coef: np.ndarray, intercept: np.ndarray, class_names: tuple[str, ...]
) -> Predictor:
    if len(class_names) == 2:
        return LinearBinaryPredictor(coef, intercept, class_names)
    return LinearSoftmaxPredictor(coef, intercept, class_names)


def _is_plain_link(estimator: Any, n_classes: int) -> bool:
    # A multiclass model pickled by an older scikit-learn may be one-vs-rest (multi_class="ovr",
    # or the liblinear solver), whose probabilities are normalised sigmoids; those keep
    # scikit-learn's own code path.
    if n_classes == 2:
        return True
    one_vs_rest = getattr(estimator, "multi_class", "auto") == "ovr"
    return not one_vs_rest and estimator.solver != "liblinear"
