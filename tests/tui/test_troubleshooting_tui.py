"""What the TUI shows for the README's troubleshooting table, all rows on one broken stack.

One sandbox, so that the pilot stays fast: the autoscale overlay with its training data missing
(the Job fails, the API never gets ready, the HPA has no metrics), and beside it a pod with a
missing image, a crash-looping pod, a pod without its Secret, a claim made while no class is
the default, and a LoadBalancer Service.  Multi-Attach cannot happen on one node: no row here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import DataTable

from sandbox.testing import SandboxProcess, start_sandbox
from tests.sandbox import troubles
from tests.tui.test_app_sandbox import SIZE, app_for, status_of, wait_until
from tui.app import IrisApp
from tui.screens.logs import LogsScreen
from tui.status import LinkState

pytestmark = pytest.mark.slow

NS = "ml-course"


@pytest.fixture
def troubled(tmp_path: Path) -> Iterator[SandboxProcess]:
    sandbox = start_sandbox(tmp_path / "sandbox")
    try:
        kit = troubles.untrained_kit("overlays/autoscale")
        sandbox.kubectl("apply", "--server-side", "-f", "-", input=kit)
        sandbox.kubectl(
            "-n",
            NS,
            "wait",
            "--for=jsonpath={.status.phase}=Bound",
            "pvc/ml-model-pvc",
            "--timeout=60s",
        )
        sandbox.kubectl("delete", "storageclass", "standard")
        manifests = [
            troubles.wrong_image(NS),
            troubles.crash_loop(NS),
            troubles.needs_secret(NS),
            troubles.claim(NS, "data"),
            troubles.load_balancer(NS),
        ]
        sandbox.kubectl("apply", "-f", "-", input="---\n".join(manifests))
        sandbox.kubectl(
            "-n",
            NS,
            "wait",
            "--for=condition=failed",
            "job/iris-train-job",
            "--timeout=240s",
            timeout=250,
        )
        yield sandbox
    finally:
        sandbox.stop()


def cell(app: IrisApp, kind: str, name: str, column: str) -> str | None:
    table: DataTable[Text] = app.dashboard.table(kind).table
    for row_key in table.rows:
        if str(table.get_cell(row_key, "NAME")) == name:
            return str(table.get_cell(row_key, column))
    return None


def column(app: IrisApp, kind: str, name: str) -> list[str]:
    return [str(value) for value in app.dashboard.table(kind).table.get_column(name)]


def readiness(app: IrisApp) -> list[str]:
    table: DataTable[Text] = app.dashboard.table("pods").table
    return [
        str(table.get_cell(key, "READY"))
        for key in table.rows
        if str(table.get_cell(key, "NAME")).startswith("iris-api-")
    ]


async def test_every_reproducible_row_shows_where_the_table_says(troubled: SandboxProcess) -> None:
    app = app_for(troubled.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.status.state is LinkState.CONNECTED)
        # The pod's STATUS column, for the image, the crash loop and the missing Secret.
        await wait_until(
            pilot,
            lambda: status_of(app, "pods", "wrong-image") in ("ErrImagePull", "ImagePullBackOff"),
        )
        await wait_until(
            pilot, lambda: status_of(app, "pods", "crash") == "CrashLoopBackOff", timeout=60
        )
        restarts = cell(app, "pods", "crash", "RESTARTS") or ""
        assert int(restarts.split()[0]) >= 1, restarts  # "2 (14s ago)", as kubectl prints it
        await wait_until(
            pilot, lambda: status_of(app, "pods", "needs-secret") == "CreateContainerConfigError"
        )
        # API pods never ready: READY 0/1.
        await wait_until(pilot, lambda: readiness(app) == ["0/1", "0/1"])
        # The Jobs, PVCs, Services and HPA tables.
        await wait_until(pilot, lambda: status_of(app, "jobs", "iris-train-job") == "Failed")
        assert status_of(app, "persistentvolumeclaims", "data") == "Pending"
        assert cell(app, "services", "web-lb", "EXTERNAL-IP") == "<pending>"
        await wait_until(
            pilot,
            lambda: (
                cell(app, "horizontalpodautoscalers", "iris-api-hpa", "TARGETS")
                == "cpu: <unknown>/60%"
            ),
        )
        # The Warning events (8).
        wanted = (
            ("Failed", f'Failed to pull image "{troubles.MISSING_IMAGE}": '),
            ("Failed", 'Error: secret "iris-api-secret" not found'),
            ("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
            ("FailedGetResourceMetric", "failed to get cpu utilization: "),
        )

        def warned() -> bool:
            reasons, messages = column(app, "events", "REASON"), column(app, "events", "MESSAGE")
            shown = list(zip(reasons, messages, strict=True))
            return all(
                any(r == reason and m.startswith(text) for r, m in shown) for reason, text in wanted
            )

        await wait_until(pilot, warned, timeout=30)

        # `l` then `v` on the crash-looping pod: the crashed run's log names the setting.
        await pilot.press("2", "slash", *"crash", "enter", "l")
        await wait_until(pilot, lambda: isinstance(app.screen, LogsScreen))
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        await pilot.press("v")
        await wait_until(pilot, lambda: any("LOG_LEVEL" in line.text for line in logs.buffer))
        await pilot.press("escape", "escape")  # back, and the Pods table's filter cleared

        # `enter` on the failed Job, then its pod's log: the reason is the last line.
        await pilot.press("3", "slash", *"iris-train-job", "enter", "enter")
        await wait_until(pilot, lambda: app.dashboard.current_kind() == "pods")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LogsScreen))
        job_logs = app.screen
        assert isinstance(job_logs, LogsScreen)
        reason = f"cannot read {troubles.BAD_TRAIN_DATA}: No such file or directory"
        await wait_until(pilot, lambda: any(reason in line.text for line in job_logs.buffer))
