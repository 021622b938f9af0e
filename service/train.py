"""`iris-train`: fit the classifier, check its test accuracy, and publish it to the model store.

Runs as the Kubernetes Job `iris-train-job`. Exit status 0 means a new model is current;
1 means nothing was published (bad data, quality gate, unwritable store), with the reason
as one log line; 2 means a bad setting.
"""

from __future__ import annotations

import logging
import platform
import sys
import warnings
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from service.data import FEATURE_NAMES, DataError, Dataset, load_training_data
from service.logs import configure_logging
from service.model_store import ModelStore, ModelStoreError
from service.settings import TrainSettings, load_settings

log = logging.getLogger("iris.train")


class QualityGateError(Exception):
    """The model is not good enough to publish."""


def fit(data: Dataset, settings: TrainSettings) -> tuple[LogisticRegression, dict[str, Any]]:
    """Split, fit and score; returns the model and the metadata describing it."""
    counts = np.bincount(data.labels)
    if len(counts) < 2:
        raise DataError(f"{data.source}: needs at least 2 classes, found {len(counts)}")
    if counts.min() < 2:
        raise DataError(f"{data.source}: every class needs at least 2 rows for a stratified split")
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            data.features,
            data.labels,
            test_size=settings.test_size,
            random_state=settings.random_seed,
            stratify=data.labels,
        )
    except ValueError as exc:
        raise DataError(f"{data.source}: cannot split {len(data.labels)} rows: {exc}") from None
    model = LogisticRegression(
        C=settings.model_c, max_iter=settings.model_max_iter, random_state=settings.random_seed
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x_train, y_train)
    for warning in caught:
        log.warning(str(warning.message).splitlines()[0])
    metadata = {
        "estimator": type(model).__name__,
        "params": model.get_params(),
        "train_accuracy": round(float(model.score(x_train, y_train)), 6),
        "test_accuracy": round(float(model.score(x_test, y_test)), 6),
        "feature_names": list(FEATURE_NAMES),
        "class_names": list(data.class_names),
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
    return model, metadata


def train(settings: TrainSettings) -> str:
    """Train on the configured data and publish; returns the published version."""
    data = load_training_data(settings.train_data)
    model, metadata = fit(data, settings)
    log.info(
        "trained model",
        extra={
            "train_accuracy": metadata["train_accuracy"],
            "test_accuracy": metadata["test_accuracy"],
            "n_train": metadata["n_train"],
            "n_test": metadata["n_test"],
            "source": data.source,
            "C": settings.model_c,
        },
    )
    if metadata["test_accuracy"] < settings.min_accuracy:
        raise QualityGateError(
            f"test accuracy {metadata['test_accuracy']:.3f} is below MIN_ACCURACY "
            f"{settings.min_accuracy:.3f}; model not published"
        )
    store = ModelStore(settings.model_dir, keep=settings.model_keep)
    try:
        version = store.publish(model, metadata)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ModelStoreError(f"cannot publish to {settings.model_dir}: {reason}") from None
    log.info(
        "published model",
        extra={
            "version": version,
            "test_accuracy": metadata["test_accuracy"],
            "path": str(settings.model_dir / "versions" / version),
        },
    )
    return version


def main(argv: list[str] | None = None) -> int:
    settings = load_settings(
        TrainSettings,
        prog="iris-train",
        description="Train the Iris classifier and publish it to the model store.",
        argv=argv,
    )
    configure_logging(settings.log_level)
    try:
        train(settings)
    except (DataError, QualityGateError, ModelStoreError) as exc:
        log.error(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
