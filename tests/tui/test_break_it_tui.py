"""What the TUI shows when the stack is broken on purpose (the README's exercises)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import DataTable

from sandbox.testing import SandboxProcess, start_sandbox
from tests.tui.test_app_sandbox import SIZE, app_for, wait_until
from tui.status import LinkState

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NS = ("-n", "ml-course")


@pytest.fixture
def broken(tmp_path: Path) -> Iterator[SandboxProcess]:
    """The minikube stack with its API Deployment set to an image the node does not have."""
    sandbox = start_sandbox(tmp_path / "sandbox")
    try:
        sandbox.kubectl("apply", "--server-side", "-k", str(REPO / "overlays/minikube"))
        sandbox.kubectl(*NS, "rollout", "status", "deploy/iris-api", "--timeout=120s", timeout=130)
        sandbox.kubectl(*NS, "set", "image", "deploy/iris-api", "iris-api=iris-ml:0.2.0")
        yield sandbox
    finally:
        sandbox.stop()


def cells(table: DataTable[Text], column: str) -> list[str]:
    return [str(value) for value in table.get_column(column)]


async def test_a_wrong_image_shows_its_status_and_its_warning(broken: SandboxProcess) -> None:
    app = app_for(broken.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.status.state is LinkState.CONNECTED)
        pods = app.dashboard.table("pods").table
        await wait_until(pilot, lambda: "ImagePullBackOff" in cells(pods, "STATUS"), timeout=60)
        assert cells(pods, "STATUS").count("Running") >= 2, "the old pods keep serving"
        events = app.dashboard.table("events").table
        await wait_until(
            pilot,
            lambda: any("Failed to pull image" in m for m in cells(events, "MESSAGE")),
            timeout=60,
        )
        assert "Failed" in cells(events, "REASON")
