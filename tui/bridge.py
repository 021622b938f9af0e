"""Carry items from cluster threads to the UI thread in batches.

A watcher or a log stream produces items one at a time in its own thread. Posting a Textual
message per item would make a burst of 1,000 pod updates 1,000 trips through the message
queue; instead items go into a queue and one message is posted whenever the queue turns
non-empty, so the UI drains everything that arrived since in one go.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchQueue(Generic[T]):
    """A thread-safe queue that calls ``notify`` once per batch of ``put`` calls."""

    def __init__(self, notify: Callable[[], object]) -> None:
        self._notify = notify
        self._items: list[T] = []
        self._lock = threading.Lock()

    def put(self, item: T) -> None:
        with self._lock:
            first = not self._items
            self._items.append(item)
        if first:
            self._notify()

    def drain(self) -> list[T]:
        with self._lock:
            items, self._items = self._items, []
        return items
