"""Helpers shared by the model store, training, batch and CLI tests."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.data import FEATURE_NAMES
from service.model_store import ModelStore
from service.settings import BatchSettings, ServeSettings, TrainSettings
from service.train import train

BIN = Path(sys.executable).parent


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def publish_model(model_dir: Path) -> str:
    """Train on the bundled Iris data and publish into `model_dir`; returns the version."""
    return train(TrainSettings(model_dir=model_dir, train_data=None))


def random_features(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low, high = [4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5]
    return np.round(rng.uniform(low, high, size=(rows, len(FEATURE_NAMES))), 1)


def write_features_csv(path: Path, features: np.ndarray) -> None:
    lines = [",".join(FEATURE_NAMES)] + [",".join(f"{v:g}" for v in row) for row in features]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def clean_env(**values: str | Path) -> dict[str, str]:
    """The test's environment without any of the services' settings, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SETTINGS}
    env.update({k: str(v) for k, v in values.items()})
    return env


def run_cli(
    command: str, *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / command), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def store_files(store: ModelStore) -> dict[str, float]:
    """Every path under the store with its modification time (to see that nothing changed)."""
    return {str(p): p.stat().st_mtime_ns for p in sorted(store.root.rglob("*"))}


_SETTINGS = {
    name.upper()
    for settings in (TrainSettings, BatchSettings, ServeSettings)
    for name in settings.model_fields
}
