"""The controllers' work queue: keys collapse, delays hold, the earliest request wins."""

from __future__ import annotations

import threading
import time

from sandbox.controllers.queue import WorkQueue


def test_a_key_queued_twice_is_handed_out_once() -> None:
    queue = WorkQueue()
    queue.add(("lab", "a"))
    queue.add(("lab", "b"))
    queue.add(("lab", "a"))
    assert [queue.get(timeout=0), queue.get(timeout=0)] == [("lab", "a"), ("lab", "b")]
    assert queue.get(timeout=0) is None


def test_a_taken_key_can_be_queued_again() -> None:
    queue = WorkQueue()
    queue.add(("lab", "a"))
    assert queue.get(timeout=0) == ("lab", "a")
    queue.add(("lab", "a"))
    assert queue.get(timeout=0) == ("lab", "a")


def test_a_delayed_key_waits_and_keys_come_in_due_order() -> None:
    queue = WorkQueue()
    started = time.monotonic()
    queue.add(("lab", "later"), 0.4)
    queue.add(("lab", "sooner"), 0.3)
    queue.add(("lab", "now"))
    assert queue.get(timeout=0) == ("lab", "now")
    assert queue.get(timeout=0) is None  # nothing else due yet
    assert queue.get(timeout=5) == ("lab", "sooner")
    assert time.monotonic() - started >= 0.3
    assert queue.get(timeout=5) == ("lab", "later")
    assert time.monotonic() - started >= 0.4


def test_an_earlier_request_supersedes_a_later_one_but_not_the_reverse() -> None:
    queue = WorkQueue()
    queue.add(("lab", "a"), 30)
    queue.add(("lab", "a"))  # the change it was waiting for: now
    assert queue.get(timeout=0) == ("lab", "a")
    assert queue.get(timeout=0.05) is None  # the superseded 30 s entry is not handed out too
    queue.add(("lab", "b"))
    queue.add(("lab", "b"), 30)  # a requeue with a delay must not postpone a pending key
    assert queue.get(timeout=0) == ("lab", "b")


def test_get_times_out_empty_and_close_wakes_a_waiting_consumer() -> None:
    queue = WorkQueue()
    started = time.monotonic()
    assert queue.get(timeout=0.05) is None
    assert time.monotonic() - started >= 0.05
    got: list[object] = []
    consumer = threading.Thread(target=lambda: got.append(queue.get(timeout=30)))
    consumer.start()
    time.sleep(0.05)
    queue.close()
    consumer.join(timeout=2)
    assert not consumer.is_alive() and got == [None]


def test_an_add_wakes_a_waiting_consumer_at_once() -> None:
    queue = WorkQueue()
    got: list[object] = []
    consumer = threading.Thread(target=lambda: got.append(queue.get(timeout=30)))
    consumer.start()
    time.sleep(0.05)
    queue.add(("lab", "a"))
    consumer.join(timeout=2)
    assert got == [("lab", "a")]
