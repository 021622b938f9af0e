"""Letting a pilot-driven app run until what a test waits for has happened, and recording
what it told the user on the way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot


async def wait_until(pilot: Pilot[None], check: Callable[[], object], timeout: float = 20) -> None:
    """Let the app run until ``check()`` is true; fail with the header's state otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out; header: {pilot.app.status}")  # type: ignore[attr-defined]
        await pilot.pause(0.1)


def notes_of(app: App[Any]) -> list[str]:
    """Record every notification's text from now on."""
    seen: list[str] = []
    original = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append(message)
        original(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return seen
