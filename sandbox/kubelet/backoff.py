"""The kubelet's back-off (client-go flowcontrol.Backoff without jitter), on sandbox time.

The kubelet keeps two: one for container restarts (keyed by pod and container) and one for
image pulls (keyed by pod uid and image), both 10 s doubling to 5 min. An entry is forgotten
once the event it is asked about comes more than twice the maximum after its last update.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sandbox.clock import Clock

INITIAL, MAXIMUM = 10.0, 300.0  # kubelet backOffPeriod and MaxContainerBackOff, in seconds


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    """Per-key exponential back-off; times are ``Clock.timestamp()`` seconds."""

    def __init__(self, clock: Clock, initial: float = INITIAL, maximum: float = MAXIMUM) -> None:
        self.clock = clock
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.clock.timestamp()

    def get(self, key: str) -> float:
        with self._lock:
            entry = self._entries.get(key)
            return entry.backoff if entry else 0.0

    def next(self, key: str, event_time: float) -> None:
        """Move the key's window to its next step (or start it afresh)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry):
                self._entries[key] = _Entry(self.initial, self.now())
            else:
                entry.backoff = min(entry.backoff * 2, self.maximum)
                entry.last_update = self.now()

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """Whether less than the key's window has passed since ``event_time``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry):
                return False
            return self.now() - event_time < entry.backoff

    def in_backoff_since_update(self, key: str, event_time: float) -> bool:
        """Whether ``event_time`` falls within the key's window after its last update."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry):
                return False
            return event_time - entry.last_update < entry.backoff

    def last_update(self, key: str) -> float:
        with self._lock:
            entry = self._entries.get(key)
            return entry.last_update if entry else 0.0

    def remaining(self, key: str, since: float) -> float:
        """Sandbox seconds until the window that began at ``since`` ends (0 when over)."""
        with self._lock:
            entry = self._entries.get(key)
            return max(0.0, since + entry.backoff - self.now()) if entry else 0.0

    def forget(self, prefix: str) -> None:
        """Drop every key of a pod that is gone (the kubelet's GC does it later)."""
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > 2 * self.maximum


def go_duration(seconds: float) -> str:
    """A whole-second duration as Go's time.Duration prints it: 10s, 1m20s, 5m0s."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
