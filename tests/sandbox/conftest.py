"""Fixtures of the sandbox's own tests: ``cluster``, the controllers and kubelet in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.inprocess import Cluster, running_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A fresh in-process cluster (store, controllers, scheduler, kubelet) per test."""
    with running_cluster(tmp_path) as running:
        yield running
