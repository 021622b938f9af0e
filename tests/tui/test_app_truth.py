"""Pilot tests that what the TUI shows is true and current (issue 11): the served model after
a retrain started elsewhere, the newest commands, failures with their reason and fix, and the
small lies (a stale diff, a healthy pod "replaced", a finished Job's pod "waiting", raw
escapes, a number field refusing keys silently, stale bars, keys the help misnames)."""

from __future__ import annotations

import asyncio
import copy
import io
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.command import CommandPalette
from textual.widgets import Input, OptionList, Static

from tests.tui.fakes import FakeSession, frozen_clock, objects
from tests.tui.waiting import notes_of
from tui.app import IrisApp
from tui.cluster.logs import LogEnd, LogLine, LogNotice
from tui.cluster.watch import WatchEvent
from tui.screens.confirm import ConfirmScreen
from tui.screens.deploy import DeployScreen
from tui.screens.describe import DescribeScreen
from tui.screens.help import HelpScreen, key_table
from tui.screens.logs import LogsScreen
from tui.screens.predict import PredictScreen
from tui.widgets.command_log import CommandLog
from tui.widgets.key_footer import KeyFooter
from tui.widgets.probability_bars import ProbabilityBars

SIZE = (120, 36)
# What kubectl diff -k overlays/cloud-loadbalancer printed against the sandbox with the
# minikube overlay applied (the pod template shortened).
IMMUTABLE = (
    'The Job "iris-train-job" is invalid: spec.template: Invalid value: '
    'map[string]interface {}{"metadata":map[string]interface {}{}}: field is immutable'
)


def make_app(session: FakeSession | None = None) -> IrisApp:
    return IrisApp(session or FakeSession(), clock=frozen_clock, refresh_ages=False)


def training_job(name: str, *, complete: bool) -> dict[str, Any]:
    job = copy.deepcopy(objects()["jobs"][0])
    job["metadata"].update(name=name, uid=f"uid-{name}")
    job["status"] = (
        {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        if complete
        else {"active": 1}
    )
    return job


async def test_the_header_follows_a_retrain_started_outside_the_tui() -> None:
    session = FakeSession()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.status.model_version == session.served
        # Someone ran the TUI's retrain command in a terminal; the API loads the new model
        # a while after the Job completes.
        session.loads = "20261129T055900Z-77aa"
        assert session.on_event is not None
        name = "iris-train-20261129-055500"
        session.on_event(WatchEvent("jobs", "ADDED", obj=training_job(name, complete=False)))
        session.on_event(WatchEvent("jobs", "MODIFIED", obj=training_job(name, complete=True)))
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.status.model_version == "20261129T055900Z-77aa"


async def test_the_first_list_of_finished_trainings_is_not_a_new_model() -> None:
    session = FakeSession(loads="should-not-be-asked")
    session.data["jobs"].append(training_job("iris-train-20261128-120000", complete=True))
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert session.loads == "should-not-be-asked"


async def test_every_screen_shows_the_newest_command_wrapped() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for i in range(12):
            app.log_command(f"kubectl get pods --selector=app=iris-api,run={i:02d} " + "x" * 90)
        steps = {
            "predict": lambda: app.switch_mode("predict"),
            "deploy": lambda: app.switch_mode("deploy"),
            "dashboard": lambda: app.switch_mode("watch"),
            "yaml": app.dashboard.action_describe,
            "logs": lambda: app.push_screen(LogsScreen("iris-api-7d9f8-abcde")),
        }
        for key, step in steps.items():
            step()
            await app.workers.wait_for_complete()
            await pilot.pause()
            log = app.screen.query_one(CommandLog)
            # Laying out wrapped lines takes a few refreshes; on a busy machine more.
            for _ in range(40):
                if log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y:
                    break
                await pilot.pause(0.05)
            assert log.max_scroll_y > 0, key
            assert log.scroll_y == log.max_scroll_y, f"{key}: not scrolled to the newest"
            rendered = [strip.text for strip in log.lines]
            assert any("run=11" in line for line in rendered), key
            # Wrapped: more screen lines than commands, none wider than the log.
            assert len(rendered) > len(app.commands), key
            assert all(len(line.rstrip()) <= log.size.width for line in rendered), key
        assert isinstance(app.screen, LogsScreen)


async def newest_shown(pilot: Any, log: CommandLog, text: str) -> bool:
    """Whether ``log`` shows ``text`` in its last lines, scrolled to them (laying out a
    wrapped line takes a few refreshes; on a busy machine more)."""
    for _ in range(40):
        rendered = [strip.text for strip in log.lines]
        if any(text in line for line in rendered[-2:]) and log.scroll_y == log.max_scroll_y:
            return True
        await pilot.pause(0.05)
    return False


async def test_a_command_logged_anywhere_shows_at_once_in_the_log_in_view() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for i in range(8):
            app.log_command(f"kubectl get pods --selector=run={i:02d} " + "x" * 90)
        app.push_screen(LogsScreen("iris-api-7d9f8-abcde"))
        await app.workers.wait_for_complete()
        await pilot.pause()
        logs = app.screen
        # A dashboard action's worker finishes while the logs screen is in front: its
        # command comes from that thread, as _action_worker reports it.
        await asyncio.to_thread(
            app.call_from_thread, app.log_command, "kubectl rollout restart deployment/iris-api"
        )
        assert await newest_shown(pilot, logs.query_one(CommandLog), "rollout restart")
        assert app.screen is logs

        # Back on the dashboard, a question in front of it: the log below the question is
        # still in view, and a command logged meanwhile shows there.
        app.pop_screen()
        await pilot.pause()
        app.push_screen(ConfirmScreen("Delete pod iris-api-7d9f8-abcde?"))
        await pilot.pause()
        app.log_command("kubectl scale deployment/iris-api --replicas=3")
        assert await newest_shown(pilot, app.dashboard.query_one(CommandLog), "--replicas=3")
        assert isinstance(app.screen, ConfirmScreen)


async def test_a_failed_diff_shows_kubectls_reason_and_what_to_do() -> None:
    session = FakeSession(diff_output=([IMMUTABLE, "exit status 1"], 2))
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.press("f")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DeployScreen)
        shown = str(screen.query_one("#diff-view", Static).render())
        assert "field is immutable" in shown
        assert "Apply deletes the finished training Job (iris-train-job) first" in shown


async def test_the_diff_of_one_overlay_is_not_shown_for_another() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.press("f")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DeployScreen)
        assert "+  replicas: 2" in screen.diff_text
        screen.query_one("#overlays", OptionList).highlighted = 0  # autoscale
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.overlay is not None and screen.overlay.name == "autoscale"
        assert screen.diff_text == ""
        assert "replicas" not in str(screen.query_one("#diff-view", Static).render())


async def test_the_batch_job_run_with_b_says_when_it_ends() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        seen = notes_of(app)
        await pilot.press("b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "job manual completed" in seen, seen


async def test_the_palette_describes_actions_in_words() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        commands = list(app.get_system_commands(app.screen))
        helps = {command.title: command.help for command in commands}
        assert helps["CronJobs (4)"] == "show the CronJobs tab"
        assert helps["Batch now (b)"] == "run the batch CronJob's Job now"
        assert not [h for h in helps.values() if " action" in h or "_" in h], helps
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)


async def test_f_does_not_leave_a_healthy_pod_for_its_sibling() -> None:
    session = FakeSession(log_items=[LogNotice("attached to iris-api-7d9f8-abcde/main")])
    session.log_items += [LogLine(f"GET /predict {i}") for i in range(3)]
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        seen = notes_of(app)
        await pilot.press("enter")  # the running iris-api-7d9f8-abcde
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await pilot.press("f")
        await pilot.pause()
        assert screen.pod == "iris-api-7d9f8-abcde"
        assert any("is running: f follows its replacement" in note for note in seen), seen


async def test_a_finished_job_pod_is_not_waiting_to_run_again() -> None:
    ended = LogEnd("container main ended: Completed (exit code 0)")
    session = FakeSession(log_items=[LogLine("accuracy 0.97"), ended])
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"train", "enter", "enter")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        assert screen.pod == "iris-train-job-xk2p9"
        texts = [line.text for line in screen.buffer]
        assert "── the Job's pod finished: it does not run again ──" in texts
        assert not any("waiting for the container to run again" in t for t in texts)


async def test_json_log_lines_show_no_escape_sequences() -> None:
    line = '{"level": "info", "msg": "\\u001b[36mINFO\\u001b[0m: model loaded"}'
    session = FakeSession(log_items=[LogLine(line), LogLine("\x1b[32mready\x1b[0m")])
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        assert [line.text for line in screen.buffer if not line.marker] == [
            '{"level": "info", "msg": "INFO: model loaded"}',
            "ready",
        ]


async def test_letters_in_a_number_field_are_taken_and_refused_with_a_reason() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PredictScreen)
        box = screen.query_one("#sepal_length", Input)
        box.focus()
        box.value = ""
        seen = notes_of(app)
        await pilot.press("a", "b", "c")
        assert box.value == "abc"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert any("'abc' is not a number" in note for note in seen), seen


async def test_the_bars_show_the_csv_batch_not_the_earlier_prediction(tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PredictScreen)
        assert screen.query_one(ProbabilityBars).probabilities["setosa"] == 0.97
        csv = tmp_path / "flowers.csv"
        csv.write_text(
            "sepal_length,sepal_width,petal_length,petal_width\n"
            "5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n6.5,3.0,5.8,2.2\n7.1,3.0,5.9,2.1\n"
        )
        screen.query_one("#csv-path", Input).value = str(csv)
        await pilot.press("ctrl+b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one(ProbabilityBars).probabilities == {
            "setosa": 0.25,
            "versicolor": 0.0,
            "virginica": 0.75,
        }


def footer_keys(app: IrisApp) -> dict[str, str]:
    """Key shown -> description, for the bindings the footer shows."""
    return {
        (active.binding.key_display or app.get_key_display(active.binding)): (
            active.binding.description
        )
        for active in app.screen.active_bindings.values()
        if active.binding.show and app.screen.query(KeyFooter)
    }


async def test_help_shows_the_footers_keys_and_enter() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = footer_keys(app)
        assert shown["q"] == "Quit"
        assert "w" not in shown, "Watch does nothing on the dashboard"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(key_table(app.dashboard))
        keys = {
            (cells[i], cells[i + 1])
            for line in console.export_text().splitlines()
            for cells in [line.split()]
            for i in range(0, len(cells) - 1)
        }
        assert ("q", "Quit") in keys
        assert ("^q", "Quit") not in keys
        assert ("enter", "open:") in keys
        assert not [pair for pair in keys if pair[1] == "Watch"]


async def test_w_goes_back_to_the_dashboard_from_a_yaml_screen() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("y")
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, DescribeScreen)
        assert footer_keys(app)["w"] == "Watch"
        await pilot.press("w")
        await pilot.pause()
        assert app.screen is app.dashboard
