"""kill -9 at random moments never leaves the store pointing at an incomplete model."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sklearn.datasets import load_iris

from service.model_store import ModelStore, NoModelError
from tests.service.core_fixtures import BIN, clean_env

# Publishes as fast as it can, so that a kill almost always lands inside a publish.
PUBLISH_FOREVER = """
import sys
from pathlib import Path
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from service.model_store import ModelStore
data = load_iris()
model = LogisticRegression(max_iter=300).fit(data.data, data.target)
store = ModelStore(Path(sys.argv[1]), keep=2)
metadata = {"feature_names": list(data.feature_names), "class_names": ["a", "b", "c"]}
print("ready", flush=True)
while True:
    store.publish(model, metadata)
"""


def assert_loads_cleanly(model_dir: Path) -> bool:
    """Load the current model; True if there is one, False if none. Anything else fails."""
    try:
        loaded = ModelStore(model_dir).load()
    except NoModelError:
        return False
    assert loaded.estimator.predict_proba(load_iris().data[:5]).shape == (5, 3)
    return True


def kill_after(process: subprocess.Popen[bytes], delay: float) -> None:
    time.sleep(delay)
    process.kill()
    process.wait(timeout=10)


@pytest.mark.slow
def test_killing_iris_train_at_random_moments(tmp_path: Path) -> None:
    env = clean_env(MODEL_DIR=tmp_path / "models", MODEL_KEEP="2", LOG_LEVEL="error")
    started = time.monotonic()
    subprocess.run([str(BIN / "iris-train")], env=env, check=True, capture_output=True)
    whole_run = time.monotonic() - started
    rng = random.Random(20261129)
    loaded = 0
    kills = 8
    # Most of a run is importing scikit-learn; the kills aim at the later part, where it fits
    # and publishes (test_killing_a_publisher_mid_publish covers the publish itself densely).
    for _ in range(kills):
        process = subprocess.Popen([str(BIN / "iris-train")], env=env, stderr=subprocess.DEVNULL)
        kill_after(process, rng.uniform(0.5, 1.1) * whole_run)
        loaded += assert_loads_cleanly(tmp_path / "models")
    assert loaded == kills  # the first, complete run published a model that no kill can undo

    subprocess.run([str(BIN / "iris-train")], env=env, check=True, capture_output=True)
    assert not list((tmp_path / "models").rglob(".tmp-*"))
    assert len(ModelStore(tmp_path / "models").versions()) == 2


@pytest.mark.slow
def test_killing_a_publisher_mid_publish(tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    rng = random.Random(7)
    outcomes = {True: 0, False: 0}
    for _ in range(8):
        process = subprocess.Popen(
            [sys.executable, "-c", PUBLISH_FOREVER, str(model_dir)],
            env=clean_env(),
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        kill_after(process, rng.uniform(0, 0.2))
        outcomes[assert_loads_cleanly(model_dir)] += 1
    assert outcomes[True] >= 1

    store = ModelStore(model_dir, keep=2)
    store.publish(store.load().estimator, dict(store.load().metadata))
    assert not list(model_dir.rglob(".tmp-*"))
    assert len(store.versions()) == 2
