"""Snapshots of the main screens, fed with fixed objects and a frozen clock (deterministic).

Regenerate after an intended change with ``pytest tests/tui/test_snapshot_screens.py
--snapshot-update`` and look at the SVGs in tests/tui/__snapshots__/ before committing.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.fakes import FakeSession, frozen_clock
from tui.app import IrisApp

SIZE = (120, 36)


def make_app(session: FakeSession | None = None) -> IrisApp:
    return IrisApp(session or FakeSession(), clock=frozen_clock, refresh_ages=False)


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    # A blinking cursor would make the picture depend on the moment it is taken.
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


def test_dashboard_pods(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=settle)


def test_dashboard_jobs_of_the_cronjob(snap_compare: Any) -> None:
    assert snap_compare(make_app(), press=["4", "enter"], terminal_size=SIZE, run_before=settle)


def test_help_for_services(snap_compare: Any) -> None:
    assert snap_compare(make_app(), press=["5", "question_mark"], terminal_size=SIZE)


def test_logs_after_the_stream_ended(snap_compare: Any) -> None:
    async def open_logs(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_logs)


def test_describe_yaml(snap_compare: Any) -> None:
    async def describe(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=describe)


def test_confirm_delete(snap_compare: Any) -> None:
    async def ask(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=ask)


def test_predict_answer(snap_compare: Any) -> None:
    async def predict(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=predict)


def test_deploy_rendered_overlay(snap_compare: Any) -> None:
    async def deploy(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=deploy)


def test_unreachable_cluster(snap_compare: Any) -> None:
    session = FakeSession(
        fail_with="cannot reach the cluster at http://127.0.0.1:1: connection refused"
    )
    assert snap_compare(make_app(session), terminal_size=SIZE, run_before=settle)
