"""Time as the controllers see it, optionally running faster than the wall clock.

A ``Clock(speed=60)`` makes a minute of schedules and back-offs pass in a real second, so tests
can watch CronJobs fire without waiting. Object timestamps stay on real time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Sandbox time: starts at the real time and advances ``speed`` times faster."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed}")
        self.speed = speed
        self._origin = time.time()
        self._origin_monotonic = time.monotonic()

    def timestamp(self) -> float:
        """Seconds since the epoch in sandbox time."""
        return self._origin + (time.monotonic() - self._origin_monotonic) * self.speed

    def now(self) -> datetime:
        """The current sandbox time, timezone-aware UTC."""
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def real_seconds(self, seconds: float) -> float:
        """How long ``seconds`` of sandbox time last on the wall clock."""
        return seconds / self.speed

    def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of sandbox time."""
        time.sleep(self.real_seconds(seconds))


def format_time(moment: datetime | None = None) -> str:
    """A Kubernetes ``metav1.Time``: RFC 3339, UTC, whole seconds (now when no moment given)."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse a Kubernetes timestamp (RFC 3339, optionally with fractional seconds)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_time_nano(epoch_ns: int) -> str:
    """RFC 3339 with nanoseconds, as container log lines are stamped."""
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
