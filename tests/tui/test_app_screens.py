"""Pilot tests of the screens against a fake session (no cluster): keys, drill-down, filter,
in-place updates, confirmations, logs, help and the command log."""

from __future__ import annotations

import copy
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable, Input, Log, RichLog, Static

from tests.tui.fakes import FakeSession, frozen_clock, objects
from tests.tui.waiting import wait_until
from tui.app import IrisApp
from tui.cluster.watch import WatchEvent
from tui.screens.confirm import ConfirmScreen
from tui.screens.deploy import DeployScreen
from tui.screens.describe import DescribeScreen
from tui.screens.help import HelpScreen
from tui.screens.logs import LogsScreen
from tui.screens.predict import PredictScreen
from tui.session import ClusterSession, Options
from tui.status import LinkState
from tui.widgets.probability_bars import ProbabilityBars

SIZE = (120, 36)


def make_app(session: FakeSession | None = None) -> IrisApp:
    return IrisApp(session or FakeSession(), clock=frozen_clock, refresh_ages=False)


def cell_texts(table: DataTable[Text], column: str) -> list[str]:
    return [str(value) for value in table.get_column(column)]


async def test_tables_show_the_namespace_and_the_header_is_connected() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pods = app.dashboard.table("pods").table
        assert pods.row_count == 4
        assert "CrashLoopBackOff" in cell_texts(pods, "STATUS")
        assert app.dashboard.table("cronjobs").table.row_count == 1
        assert app.status.state is LinkState.CONNECTED
        assert app.status.model_version == "20261129T051200Z-3f9a"


async def test_watch_events_update_rows_in_place() -> None:
    session = FakeSession()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.dashboard.table("pods").table
        await pilot.press("down")
        selected_before = table.cursor_row
        crashed = copy.deepcopy(objects()["pods"][1])
        crashed["status"]["containerStatuses"][0]["state"] = {"running": {}}
        crashed["status"]["containerStatuses"][0]["ready"] = True
        assert session.on_event is not None
        session.on_event(WatchEvent("pods", "MODIFIED", obj=crashed))
        await pilot.pause()
        assert str(table.get_cell("uid-iris-api-7d9f8-fghij", "STATUS")) == "Running"
        assert table.row_count == 4
        assert table.cursor_row == selected_before

        session.on_event(WatchEvent("pods", "DELETED", obj=crashed))
        await pilot.pause()
        assert table.row_count == 3
        new = copy.deepcopy(crashed)
        new["metadata"].update(name="iris-api-7d9f8-zzzzz", uid="uid-new")
        session.on_event(WatchEvent("pods", "RESYNC", items=[new]))
        await pilot.pause()
        assert cell_texts(table, "NAME") == ["iris-api-7d9f8-zzzzz"]


async def test_filter_narrows_the_table_and_escape_clears_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"crash", "enter")
        table = app.dashboard.table("pods").table
        assert cell_texts(table, "NAME") == ["iris-api-7d9f8-fghij"]
        await pilot.press("escape")
        assert table.row_count == 4


async def test_enter_drills_from_cronjob_to_jobs_to_pods_to_logs() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("4", "enter")
        assert app.dashboard.current_kind() == "jobs"
        jobs = app.dashboard.table("jobs").table
        assert cell_texts(jobs, "NAME") == ["iris-batch-predict-29100"]
        await pilot.press("enter")
        assert app.dashboard.current_kind() == "pods"
        pods = app.dashboard.table("pods").table
        assert cell_texts(pods, "NAME") == ["iris-batch-predict-29100-q8z7w"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen)
        assert app.screen.pod == "iris-batch-predict-29100-q8z7w"
        assert any("kubectl" in line and "logs" in line for line in app.commands)


async def test_logs_show_the_end_of_the_stream_search_pause_and_previous() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # the first pod's logs
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        for _ in range(100):  # the stream runs in a worker; a busy machine makes it slow
            if any(line.marker and "pod deleted" in line.text for line in screen.buffer):
                break
            await pilot.pause(0.05)
        texts = [line.text for line in screen.buffer]
        assert texts[0] == '{"level": "info", "msg": "request 0"}'
        assert "── pod deleted ──" in texts
        await pilot.press("slash", *"error", "enter")
        state = str(screen.query_one("#log-state", Static).render())
        assert "1 lines match 'error'" in state
        # What the user types is text, not markup.
        screen.query_one("#log-search", Input).value = "[b]"
        await pilot.pause()
        assert "lines match '[b]'" in str(screen.query_one("#log-state", Static).render())
        await pilot.press("escape", "p")
        assert screen.paused
        await pilot.press("v")
        await pilot.pause(0.3)
        assert [line.text for line in screen.buffer][:2] == [
            "Traceback (most recent call last):",
            "ValueError: boom",
        ]
        assert screen.query_one(RichLog).max_lines == 5000
        await pilot.press("v", "f")  # back to following, then the other pod of the ReplicaSet
        await pilot.pause(0.3)
        assert screen.pod == "iris-api-7d9f8-fghij"
        assert "logs iris-api-7d9f8-fghij" in (app.last_command() or "")
        await pilot.press("escape")
        assert not isinstance(app.screen, LogsScreen)


async def test_delete_asks_first_and_only_yes_deletes() -> None:
    session = FakeSession()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert session.actions == []
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert session.actions == ["delete pods iris-api-7d9f8-abcde"]
        assert app.last_command() == (
            "kubectl --context sandbox -n ml-course delete pods iris-api-7d9f8-abcde"
        )


async def test_actions_write_their_kubectl_equivalent_and_c_copies_it() -> None:
    session = FakeSession()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in ("b", "s", "r", "plus", "t"):
            await pilot.press(key)
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert session.actions == [
            "batch",
            "suspend iris-batch-predict True",
            "restart iris-api",
            "scale iris-api 3",
            "retrain",
        ]
        assert app.last_command() is not None
        await pilot.press("c")
        assert app.clipboard == app.last_command()


async def test_describe_shows_yaml() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DescribeScreen)
        assert "name: iris-api-7d9f8-abcde" in app.screen.yaml


async def test_help_explains_the_selected_kind() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("5", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Service" in str(app.screen.query_one("#help-what", Static).render())
        commands = str(app.screen.query_one("#help-commands", Static).render())
        assert "kubectl -n ml-course get services" in commands


async def test_an_unreachable_cluster_shows_the_message_and_r_retries() -> None:
    session = FakeSession(fail_with="cannot reach the cluster at http://127.0.0.1:1")
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        # not workers.wait_for_complete(): it re-raises the failed connect worker's error
        await wait_until(pilot, lambda: app.status.state is LinkState.FAILED)
        await pilot.pause()
        problem = str(app.dashboard.query_one("#problem", Static).render())
        assert "cannot reach the cluster" in problem
        session.fail_with = None
        await pilot.press("R")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.status.state is LinkState.CONNECTED
        assert app.dashboard.table("pods").table.row_count == 4


async def test_predict_form_validates_and_shows_the_answer(tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PredictScreen)
        box = screen.query_one("#sepal_length", Input)
        box.value = "500"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.query_one("#history", DataTable).row_count == 0
        box.value = "5.1"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "setosa" in str(screen.query_one("#answer", Static).render())
        assert screen.query_one(ProbabilityBars).probabilities["setosa"] == 0.97
        assert screen.query_one("#history", DataTable).row_count == 1

        csv = tmp_path / "flowers.csv"
        csv.write_text(
            "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n"
        )
        screen.query_one("#csv-path", Input).value = str(csv)
        await pilot.press("ctrl+b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "1 setosa, 1 virginica" in str(screen.query_one("#answer", Static).render())
        assert screen.query_one("#history", DataTable).row_count == 3


async def test_deploy_renders_diffs_and_applies_after_confirmation() -> None:
    session = FakeSession()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DeployScreen)
        assert screen.overlay is not None and screen.overlay.name == "minikube"
        assert [title for title, _ in screen.documents] == [
            "PersistentVolumeClaim/ml-model-pvc",
            "Service/iris-api-svc",
        ]
        await pilot.press("f")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "+  replicas: 2" in screen.diff_text.splitlines()

        await pilot.press("A")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        output = screen.query_one("#output", Log).lines
        assert output[-1] == "exit status 0"
        assert "job.batch/iris-train-job created" in output
        assert session.actions == ["apply minikube"]

        await pilot.press("X", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one("#output", Log).lines[-1] == "exit status 1"
        await pilot.press("escape")
        assert app.current_mode == "watch"


async def test_the_command_palette_runs_actions_by_name() -> None:
    session = FakeSession()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p", *"Batch now")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert session.actions == ["batch"]


async def test_a_missing_kubeconfig_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    app = IrisApp(ClusterSession(Options(kubeconfig=str(missing))), refresh_ages=False)
    async with app.run_test(size=SIZE) as pilot:
        # not workers.wait_for_complete(): it re-raises the failed connect worker's error
        await wait_until(pilot, lambda: app.status.state is LinkState.FAILED)
        await pilot.pause()
        problem = str(app.dashboard.query_one("#problem", Static).render())
        assert f"no kubeconfig found at {missing}" in problem


async def test_deploy_without_a_cluster_says_so() -> None:
    session = FakeSession(fail_with="cannot reach the cluster")
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, DeployScreen)
        assert session.actions == []


async def test_enter_on_a_deployment_or_service_lists_its_pods() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for tab in ("1", "5"):
            await pilot.press(tab, "enter")
            assert app.dashboard.current_kind() == "pods"
            pods = app.dashboard.table("pods").table
            assert cell_texts(pods, "NAME") == ["iris-api-7d9f8-abcde", "iris-api-7d9f8-fghij"]
            assert app.last_command() == (
                "kubectl --context sandbox -n ml-course get pods -l app=iris-api"
            )
            await pilot.press("escape")
            assert pods.row_count == 4
