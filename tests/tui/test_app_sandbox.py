"""The app against the sandbox cluster: tables, retrain, batch, predict, logs, reconnect, and
an unreachable cluster. Each waits on what the screen shows, with short polling."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import DataTable, Static

from sandbox.testing import SandboxProcess, start_sandbox
from tests.tui.waiting import wait_until
from tui.app import IrisApp
from tui.screens.logs import LogsScreen
from tui.screens.predict import PredictScreen
from tui.session import ClusterSession, Options
from tui.status import LinkState

pytestmark = pytest.mark.slow

SIZE = (120, 36)
NAMESPACE = """
apiVersion: v1
kind: Namespace
metadata: {name: ml-course}
"""
JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: after, namespace: ml-course}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: "iris-ml:0.1.0-dev", command: [iris-train]}]
"""


def app_for(kubeconfig: Path) -> IrisApp:
    return IrisApp(ClusterSession(Options(kubeconfig=str(kubeconfig))))


def names(app: IrisApp, kind: str) -> list[str]:
    table: DataTable[Text] = app.dashboard.table(kind).table
    return [str(name) for name in table.get_column("NAME")]


def status_of(app: IrisApp, kind: str, prefix: str) -> str | None:
    """The STATUS cell of the first row whose name starts with ``prefix``."""
    table = app.dashboard.table(kind).table
    for row_key in table.rows:
        if str(table.get_cell(row_key, "NAME")).startswith(prefix):
            return str(table.get_cell(row_key, "STATUS"))
    return None


async def test_tables_show_the_pods_jobs_and_cronjob(minikube_stack: SandboxProcess) -> None:
    app = app_for(minikube_stack.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.status.state is LinkState.CONNECTED)
        await wait_until(
            pilot, lambda: len([n for n in names(app, "pods") if "iris-api" in n]) == 2
        )
        assert "iris-train-job" in names(app, "jobs")
        assert names(app, "cronjobs") == ["iris-batch-predict"]
        assert names(app, "deployments") == ["iris-api"]
        assert names(app, "services") == ["iris-api-svc"]
        assert status_of(app, "jobs", "iris-train-job") == "Complete"
        await wait_until(pilot, lambda: app.status.model_version)


async def test_retrain_completes_the_version_changes_and_the_api_log_follows(
    minikube_stack: SandboxProcess,
) -> None:
    app = app_for(minikube_stack.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.status.model_version)
        old_version = app.status.model_version
        await pilot.press("t")
        await wait_until(pilot, lambda: app.last_command() and "iris-train-" in app.last_command())
        # Follow an API pod's log while the new model is trained and picked up.
        await pilot.press("slash", *"iris-api", "enter", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LogsScreen))
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        await wait_until(pilot, lambda: logs.buffer)
        await wait_until(pilot, lambda: app.status.model_version != old_version, timeout=90)
        new_version = app.status.model_version
        # The pod's stream may be either API pod; both reload within RELOAD_INTERVAL.
        await wait_until(pilot, lambda: any(new_version in line.text for line in logs.buffer))
        await pilot.press("escape")
        await wait_until(pilot, lambda: status_of(app, "jobs", "iris-train-2") == "Complete")


async def test_run_batch_now_creates_a_job(minikube_stack: SandboxProcess) -> None:
    app = app_for(minikube_stack.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.status.state is LinkState.CONNECTED)
        await wait_until(pilot, lambda: names(app, "cronjobs"))
        await pilot.press("b")
        await wait_until(
            pilot,
            lambda: any(n.startswith("iris-batch-predict-manual-") for n in names(app, "jobs")),
        )
        assert "create job --from=cronjob/iris-batch-predict" in (app.last_command() or "")


async def test_predict_returns_setosa_through_the_node_port(
    minikube_stack: SandboxProcess,
) -> None:
    app = app_for(minikube_stack.kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.status.state is LinkState.CONNECTED)
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PredictScreen))
        await pilot.press("ctrl+s")
        screen = app.screen
        assert isinstance(screen, PredictScreen)
        await wait_until(
            pilot, lambda: screen.query_one("#history", DataTable).row_count or screen.error
        )
        assert screen.error is None
        answer = screen.query_one("#answer", Static)
        assert "setosa" in str(answer.render())
        meta = str(app.screen.query_one("#answer-meta", Static).render())
        # The minikube overlay's NodePort answers on the sandbox's node, so the TUI takes it
        # first, as on minikube (tests/tui/test_cluster_deploy.py covers the other routes).
        assert "via NodePort" in meta and ":30080" in meta
        assert app.screen.query_one("#history", DataTable).row_count == 1


async def test_a_sandbox_restart_shows_reconnecting_then_connected(tmp_path: Path) -> None:
    cluster = start_sandbox(tmp_path / "sandbox", run_pods=False)
    try:
        cluster.kubectl("apply", "-f", "-", input=NAMESPACE)
        app = app_for(cluster.kubeconfig)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.status.state is LinkState.CONNECTED)
            cluster.stop()
            await wait_until(pilot, lambda: app.status.state is LinkState.RECONNECTING)
            assert "retrying" in app.status.detail
            await asyncio.to_thread(cluster.start)
            await wait_until(pilot, lambda: app.status.state is LinkState.CONNECTED, timeout=30)
            cluster.kubectl("apply", "-f", "-", input=JOB)
            await wait_until(pilot, lambda: names(app, "jobs") == ["after"])
    finally:
        cluster.stop()


async def test_an_unreachable_cluster_shows_a_message(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: closed
  cluster: {{server: "http://127.0.0.1:{port}"}}
users:
- name: someone
  user: {{token: abc}}
contexts:
- name: closed
  context: {{cluster: closed, user: someone, namespace: ml-course}}
current-context: closed
"""
    )
    app = app_for(kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.status.state is LinkState.FAILED)
        problem = str(app.dashboard.query_one("#problem", Static).render())
        assert f"127.0.0.1:{port}" in problem
        assert "Press R" in problem
