"""`iris-train`: fit a model on Iris or a CSV, check its quality, and publish it with its signature.

Runs as the Kubernetes Job `iris-train-job`. A CSV model is a scikit-learn Pipeline: median
imputation and scaling of the numeric columns, most-frequent imputation and one-hot encoding of
the categorical ones, then MODEL. The bundled Iris keeps the course's bare logistic regression
(four complete measurements in one unit need neither). Exit status 0 means a new model is
current; 1 means nothing was published (quality gate, unwritable store); 2 means bad data or a
bad setting, with the reason as one log line.
"""

from __future__ import annotations

import importlib
import logging
import math
import platform
import sys
import warnings
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.base import is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from service.data import CsvOptions, DataError, Dataset, load_training_data
from service.linear_form import extract_form
from service.logs import configure_logging
from service.model_store import ModelStore, ModelStoreError
from service.settings import TrainSettings, load_settings
from service.signature import Signature

log = logging.getLogger("iris.train")

CLASSIFIERS = {
    "logistic_regression": lambda s: LogisticRegression(
        C=s.model_c, max_iter=s.model_max_iter, random_state=s.random_seed
    ),
    "hist_gradient_boosting": lambda s: HistGradientBoostingClassifier(random_state=s.random_seed),
    "random_forest": lambda s: RandomForestClassifier(random_state=s.random_seed, n_jobs=1),
}
REGRESSORS = {
    "ridge": lambda s: Ridge(alpha=1.0 / s.model_c, random_state=s.random_seed),
    "hist_gradient_boosting": lambda s: HistGradientBoostingRegressor(random_state=s.random_seed),
    "random_forest": lambda s: RandomForestRegressor(random_state=s.random_seed, n_jobs=1),
}


class QualityGateError(Exception):
    """The model is not good enough to publish."""


class SettingError(Exception):
    """MODEL (or another setting) cannot be used with this data; one readable line."""


def make_estimator(settings: TrainSettings, signature: Signature) -> Any:
    """MODEL for the task: a named estimator, or what `package.module:factory` returns."""
    task = signature.task
    name = settings.model or ("logistic_regression" if task == "classification" else "ridge")
    if ":" in name:
        return _factory_estimator(name, task)
    table = CLASSIFIERS if task == "classification" else REGRESSORS
    if name not in table:
        known = sorted({*CLASSIFIERS, *REGRESSORS})
        if name in known:
            raise SettingError(f"MODEL={name} does not do {task}; use one of {', '.join(table)}")
        raise SettingError(
            f"MODEL={name} is not one of {', '.join(known)} or package.module:factory"
        )
    return table[name](settings)


def _factory_estimator(spec: str, task: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
        estimator = factory()
    except Exception as exc:
        raise SettingError(f"MODEL={spec}: cannot make the estimator: {exc}") from None
    fits = is_classifier(estimator) if task == "classification" else is_regressor(estimator)
    if not hasattr(estimator, "fit") or not fits:
        raise SettingError(f"MODEL={spec} did not return a scikit-learn {task} estimator")
    if task == "classification" and not hasattr(estimator, "predict_proba"):
        raise SettingError(f"MODEL={spec}: the classifier has no predict_proba")
    return estimator


def make_pipeline(signature: Signature, estimator: Any) -> Pipeline:
    """Preprocessing of the encoded rows as the columns need, then `estimator`."""
    numeric = [i for i, f in enumerate(signature.features) if f.kind == "numeric"]
    categorical = [i for i, f in enumerate(signature.features) if f.kind == "categorical"]
    steps: list[tuple[str, Any, list[int]]] = []
    if numeric:
        numbers = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        steps.append(("numeric", numbers, numeric))
    if categorical:
        # The encoded rows hold category indices; every one is a known category.
        known = [list(np.arange(len(signature.features[i].categories), dtype=float))
                 for i in categorical]  # fmt: skip
        codes = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(categories=known, sparse_output=False)),
            ]
        )
        steps.append(("categorical", codes, categorical))
    return Pipeline([("prepare", ColumnTransformer(steps)), ("model", estimator)])


def fit(data: Dataset, settings: TrainSettings) -> tuple[Any, dict[str, Any]]:
    """Split, fit and score; returns the model and the metadata describing it."""
    signature = data.signature
    classification = signature.task == "classification"
    estimator = make_estimator(settings, signature)
    if classification:
        counts = np.bincount(data.labels)
        if len(counts) < 2:
            raise DataError(f"{data.source}: needs at least 2 classes, found {len(counts)}")
        if counts.min() < 2:
            raise DataError(
                f"{data.source}: every class needs at least 2 rows for a stratified split"
            )
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            data.features,
            data.labels,
            test_size=settings.test_size,
            random_state=settings.random_seed,
            stratify=data.labels if classification else None,
        )
    except ValueError as exc:
        raise DataError(f"{data.source}: cannot split {len(data.labels)} rows: {exc}") from None
    bare = data.source == "iris" and type(estimator) is LogisticRegression
    model = estimator if bare else make_pipeline(signature, estimator)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(x_train, y_train)
        except ValueError as exc:
            raise DataError(
                f"{data.source}: cannot fit {type(estimator).__name__}: {exc}"
            ) from None
    for warning in caught:
        log.warning(str(warning.message).splitlines()[0])
    metadata: dict[str, Any] = {
        "estimator": type(estimator).__name__,
        "params": estimator.get_params(),
        "task": signature.task,
    }
    if classification:
        metadata["train_accuracy"] = round(float(model.score(x_train, y_train)), 6)
        metadata["test_accuracy"] = round(float(model.score(x_test, y_test)), 6)
    else:
        metadata["train_r2"] = round(float(model.score(x_train, y_train)), 6)
        metadata["test_r2"] = round(float(model.score(x_test, y_test)), 6)
        rmse = math.sqrt(mean_squared_error(y_test, model.predict(x_test)))
        metadata["test_rmse"] = round(rmse, 6)
    metadata.update(
        {
            "feature_names": list(signature.feature_names),
            "class_names": list(signature.class_names),
            "signature": signature.to_json(),
            "n_train": len(y_train),
            "n_test": len(y_test),
            "data_source": data.source,
            "library_versions": {
                "python": platform.python_version(),
                "sklearn": sklearn.__version__,
                "numpy": np.__version__,
                "joblib": joblib.__version__,
            },
        }
    )
    return model, metadata


def check_quality(metadata: dict[str, Any], settings: TrainSettings) -> None:
    if metadata["task"] == "classification":
        if metadata["test_accuracy"] < settings.min_accuracy:
            raise QualityGateError(
                f"test accuracy {metadata['test_accuracy']:.3f} is below MIN_ACCURACY "
                f"{settings.min_accuracy:.3f}; model not published"
            )
        return
    if metadata["test_r2"] < settings.min_r2:
        raise QualityGateError(
            f"test R2 {metadata['test_r2']:.3f} is below MIN_R2 {settings.min_r2:.3f}; "
            "model not published"
        )
    if settings.max_rmse is not None and metadata["test_rmse"] > settings.max_rmse:
        raise QualityGateError(
            f"test RMSE {metadata['test_rmse']:.4g} is above MAX_RMSE {settings.max_rmse:.4g}; "
            "model not published"
        )


def csv_options(settings: TrainSettings) -> CsvOptions:
    features = tuple(n.strip() for n in (settings.features or "").split(",") if n.strip())
    return CsvOptions(settings.label_column, features, settings.task, settings.max_categories)


def train(settings: TrainSettings) -> str:
    """Train on the configured data and publish; returns the published version."""
    data = load_training_data(settings.train_data, csv_options(settings))
    model, metadata = fit(data, settings)
    scores = {k: metadata[k] for k in metadata if k.startswith(("train_", "test_"))}
    log.info(
        "trained model",
        extra={
            **scores,
            "task": metadata["task"],
            "estimator": metadata["estimator"],
            "features": len(data.signature.features),
            "n_train": metadata["n_train"],
            "n_test": metadata["n_test"],
            "source": data.source,
            # MODEL_C as the estimator took it (C, or Ridge's alpha = 1/C); none has both.
            **{k: v for k, v in metadata["params"].items() if k in ("C", "alpha")},
        },
    )
    check_quality(metadata, settings)
    store = ModelStore(settings.model_dir, keep=settings.model_keep)
    try:
        version = store.publish(model, metadata, extract_form(model, data.signature))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ModelStoreError(f"cannot publish to {settings.model_dir}: {reason}") from None
    log.info(
        "published model",
        extra={
            "version": version,
            **{k: v for k, v in scores.items() if k.startswith("test_")},
            "path": str(settings.model_dir / "versions" / version),
        },
    )
    return version


def main(argv: list[str] | None = None) -> int:
    settings = load_settings(
        TrainSettings,
        prog="iris-train",
        description="Train a model on Iris or a CSV and publish it to the model store.",
        argv=argv,
    )
    configure_logging(settings.log_level)
    try:
        train(settings)
    except (DataError, SettingError) as exc:
        log.error(str(exc))
        return 2
    except (QualityGateError, ModelStoreError) as exc:
        log.error(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
