"""The studio's change signal: a job's Live tells whoever waits of every change, in order,
without a server, a model or a clock."""

from __future__ import annotations

import gc
import threading

from painterly.studio.live import KEEP, Change, Live, Lives, shown
from painterly.studio.store import Job

HANG = 60.0
"""A deadline that only a broken signal reaches: then the test fails instead of hanging."""


class _Announcing(threading.Condition):
    """A condition that says when a waiter goes to sleep on it: from then on its lock is free,
    and only a notification wakes the waiter."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.sleeping.set()
        return super().wait(timeout)


def test_a_sleeping_waiter_is_woken_by_every_change_and_told_of_each_in_order():
    live, rounds = Live(), 50
    live._changed = condition = _Announcing()
    told: list[list[Change]] = []

    def waiter() -> None:
        version = 0
        for _ in range(rounds):
            changes = live.wait_newer(version, timeout=None)
            told.append(changes)
            version = changes[-1].version

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    for i in range(1, rounds + 1):
        # Each change is made while the waiter sleeps, so it cannot see one without being told.
        assert condition.sleeping.wait(HANG), f"the waiter was not woken by change {i - 1}"
        condition.sleeping.clear()
        live.update(iteration=i)
    thread.join(HANG)
    assert [[(c.version, c.iteration) for c in changes] for changes in told] == [
        [(i, i)] for i in range(1, rounds + 1)
    ]


def test_a_waiter_that_fell_behind_gets_the_changes_it_missed_oldest_first():
    live = Live()
    for i in range(1, 11):
        live.update(state="running", iteration=i)
    assert [c.iteration for c in live.wait_newer(3, timeout=0)] == list(range(4, 11))
    assert live.wait_newer(10, timeout=0) == []


def test_a_live_keeps_only_its_latest_changes():
    live = Live()
    for i in range(KEEP + 10):
        live.update(iteration=i)
    assert [c.version for c in live.wait_newer(0, timeout=0)] == list(range(11, KEEP + 11))


def test_a_change_keeps_the_last_preview_and_when_it_came():
    live = Live()
    live.update(iteration=1, preview=b"first")
    live.update(iteration=2)
    latest = live.latest
    assert (latest.version, latest.preview, latest.preview_version) == (2, b"first", 1)


def test_a_job_has_one_live_while_someone_holds_it():
    lives = Lives()
    live = lives.hold("job")
    assert lives.hold("job") is live
    live.update(state="running")
    lives.touch("job")
    assert lives.latest("job").version == 2
    del live
    gc.collect()
    assert lives.latest("job") is None
    lives.touch("job")  # no one watches: nothing to tell
    assert lives.hold("job").latest.version == 0


def test_live_progress_is_laid_over_the_stored_job_only_while_the_change_says_it_runs():
    job = Job("job", "running", {}, [], {}, 0.0, iteration=4, total=10, checkpoint=4)
    running = Change(3, "running", iteration=7, total=10, losses={"total": 1.0}, checkpoint=6)
    view = shown(job, running)
    assert (view.iteration, view.checkpoint, view.losses) == (7, 6, {"total": 1.0})
    # A Live can outlive its run while a stream holds it; its end says nothing of the next run.
    assert shown(job, Change(9, "cancelled", iteration=8)) is job
    assert shown(job, None) is job
