"""The studio's job store and resume rule, without a server or a network."""

from __future__ import annotations

import sqlite3

import pytest

from painterly.config.options import Options
from painterly.studio.store import SCHEMA_VERSION, SqliteStore
from painterly.studio.worker import resume_plan

REF = {"example": "tubingen.jpg"}


def _store(tmp_path) -> SqliteStore:
    return SqliteStore(tmp_path / "studio.sqlite3")


def test_jobs_are_claimed_in_submission_order_and_a_restart_goes_to_the_back(tmp_path):
    store = _store(tmp_path)
    first, second, third = (store.create_job(REF, [REF], {"size": n}) for n in (1, 2, 3))
    assert store.claim_next().id == first.id
    assert store.requeue(first.id) is False  # running: not requeued
    store.update_job(first.id, state="interrupted")
    assert store.requeue(first.id) is True
    assert [store.claim_next().id for _ in range(3)] == [second.id, third.id, first.id]
    assert store.claim_next() is None


def test_a_new_process_marks_what_was_running_interrupted_and_keeps_the_rest(tmp_path):
    store = _store(tmp_path)
    done, running, queued = (store.create_job(REF, [REF], {}) for _ in range(3))
    store.update_job(done.id, state="done", losses={"total": 1.5})
    store.update_job(running.id, state="running", checkpoint=4)
    store.close()
    reopened = _store(tmp_path)
    assert reopened.interrupt_running() == [running.id]
    states = {job.id: job.state for job in reopened.list_jobs()}
    assert states == {done.id: "done", running.id: "interrupted", queued.id: "queued"}
    assert reopened.get_job(done.id).losses == {"total": 1.5}
    assert reopened.get_job(running.id).checkpoint == 4


def test_only_a_queued_job_is_cancelled_without_a_worker_and_a_running_one_is_not_deleted(
    tmp_path,
):
    store = _store(tmp_path)
    job = store.create_job(REF, [REF], {})
    other = store.create_job(REF, [REF], {})
    assert store.cancel_queued(job.id) is True and store.get_job(job.id).state == "cancelled"
    assert store.cancel_queued(job.id) is False
    store.claim_next()
    assert store.delete_job(other.id) is False and store.get_job(other.id) is not None
    assert store.delete_job(job.id) is True and store.get_job(job.id) is None


def test_a_database_from_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "studio.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="schema version"):
        SqliteStore(path)


def test_updates_take_values_as_data_and_refuse_unknown_columns(tmp_path):
    store = _store(tmp_path)
    job = store.create_job(REF, [REF], {})
    store.update_job(job.id, error="x'; DROP TABLE jobs; --")
    assert store.get_job(job.id).error == "x'; DROP TABLE jobs; --"
    with pytest.raises(ValueError):
        store.update_job(job.id, **{"state = 'done', error": "y"})
    with pytest.raises(ValueError):
        store.update_job(job.id, seq=5)


@pytest.mark.parametrize(
    ("options", "checkpoint", "exists", "expected"),
    [
        ({"iterations": 40}, 10, True, 10),
        ({"iterations": 40}, 10, False, 0),
        ({"iterations": 40}, 0, True, 0),
        ({"iterations": 40}, 40, True, 0),
        ({"iterations": 40, "scales": "64:20,128:20"}, 10, True, 0),
        ({"iterations": 40, "strength": 0.3}, 10, True, 0),
    ],
)
def test_only_a_single_stage_run_without_strength_resumes(
    tmp_path, options, checkpoint, exists, expected
):
    store = _store(tmp_path)
    job = store.create_job(REF, [REF], options)
    store.update_job(job.id, checkpoint=checkpoint)
    assert resume_plan(store.get_job(job.id), Options.build(**options), exists) == expected
