"""Shared fixtures: sandboxes (simulated clusters) for the sandbox, TUI and end-to-end tests.

- ``sandbox``: a fresh sandbox per test, state in the test's tmp_path.
- ``shared_sandbox``: one sandbox per test session; tests isolate themselves in namespaces.
- ``minikube_stack``: one sandbox per session with overlays/minikube applied, the training Job
  complete and the API Deployment rolled out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.kubelet import containerview
from sandbox.testing import SandboxProcess, start_sandbox

# Prints the image test's sizes and timings, or why it was skipped, at the end of the run.
pytest_plugins = ("tests.image.report",)

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without namespaces containers see the host's paths (mountPaths rewritten), so a test of
    what a container sees at its mountPaths cannot hold there: skipped."""
    marked = [item for item in items if item.get_closest_marker("container_view")]
    if marked and not containerview.available():
        skip = pytest.mark.skip(
            reason="this machine gives the sandbox no user and mount namespaces: "
            "containers see the host's paths"
        )
        for item in marked:
            item.add_marker(skip)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path / "sandbox")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path_factory.mktemp("shared-sandbox"))
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def minikube_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path_factory.mktemp("minikube-stack"))
    try:
        process.kubectl("apply", "--server-side", "-k", str(REPO_ROOT / "overlays/minikube"))
        process.kubectl(
            "wait", "--for=condition=complete", "job/iris-train-job", "--timeout=120s", timeout=130
        )
        process.kubectl("rollout", "status", "deployment/iris-api", "--timeout=120s", timeout=130)
        yield process
    finally:
        process.stop()
