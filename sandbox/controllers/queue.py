"""A work queue of object keys: duplicates collapse, items can be delayed, one consumer."""

from __future__ import annotations

import heapq
import threading
import time

Key = tuple[str, str]  # (namespace, name)


class WorkQueue:
    """Keys waiting to be reconciled; a key queued twice before it is taken is taken once."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}
        self._counter = 0
        self._closed = False

    def add(self, key: Key, delay: float = 0.0) -> None:
        """Queue ``key`` to be handed out after ``delay`` seconds (earliest request wins)."""
        due = time.monotonic() + max(delay, 0.0)
        with self._cond:
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            self._counter += 1
            heapq.heappush(self._heap, (due, self._counter, key))
            self._cond.notify()

    def get(self, timeout: float) -> Key | None:
        """The next due key, or None after ``timeout`` seconds or once closed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded by an earlier request
                if self._heap and self._heap[0][0] <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    return key
                wake = min(deadline, self._heap[0][0]) if self._heap else deadline
                if wake <= now:
                    return None
                self._cond.wait(wake - now)
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
