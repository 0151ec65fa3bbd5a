"""The studio's job store and resume rule, without a server or a network."""

from __future__ import annotations

import json
import sqlite3

import pytest

from painterly.config.options import Options
from painterly.engine.optimize import Progress
from painterly.errors import PainterlyError
from painterly.studio.store import SCHEMA_VERSION, SqliteStore
from painterly.studio.worker import START, Resume, resume_point

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
    with pytest.raises(PainterlyError, match="written by a newer painterly"):
        SqliteStore(path)


SCHEMA_1 = """
CREATE TABLE uploads (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, state TEXT NOT NULL,
    content TEXT NOT NULL, styles TEXT NOT NULL, options TEXT NOT NULL, parent TEXT,
    created REAL NOT NULL, started REAL, finished REAL, iteration INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0, losses TEXT NOT NULL DEFAULT '{}',
    elapsed REAL NOT NULL DEFAULT 0, eta REAL, checkpoint INTEGER NOT NULL DEFAULT 0, error TEXT
);
PRAGMA user_version=1;
"""
"""The studio's database as painterly wrote it before clips (schema 1)."""


def _columns(path, table) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def test_a_database_of_schema_1_is_brought_up_to_date_and_keeps_its_uploads_and_jobs(tmp_path):
    path = tmp_path / "studio.sqlite3"
    upload_id, job_id = "a" * 32, "b" * 32
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_1)
        db.execute("INSERT INTO uploads VALUES (?, 'photo.png', 64, 48, 1.0)", (upload_id,))
        db.execute(
            "INSERT INTO jobs (id, state, content, styles, options, created, iteration, total) "
            "VALUES (?, 'done', ?, ?, '{\"size\": 48}', 2.0, 3, 3)",
            (job_id, json.dumps({"upload": upload_id}), json.dumps([REF])),
        )
    store = SqliteStore(path)
    upload, job = store.get_upload(upload_id), store.get_job(job_id)
    assert (upload.name, upload.width, upload.kind, upload.video) == (
        "photo.png",
        64,
        "image",
        None,
    )
    assert (job.state, job.options, job.iteration, job.kind, job.video) == (
        "done", {"size": 48}, 3, "image", {},
    )  # fmt: skip
    clip = store.create_job({"upload": upload_id}, [REF], {}, kind="video", video={"blend": 0.3})
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    reopened = SqliteStore(path)  # up to date: opened as it is
    assert reopened.get_job(clip.id).kind == "video"
    assert reopened.get_job(clip.id).video == {"blend": 0.3}
    assert [j.id for j in reopened.list_jobs()] == [clip.id, job_id]


def test_a_schema_1_file_whose_tables_are_not_the_studios_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "studio.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript("CREATE TABLE uploads (id TEXT); CREATE TABLE jobs (id TEXT);")
        db.execute("PRAGMA user_version=1")
    with pytest.raises(PainterlyError, match="is not a sound painterly studio database"):
        SqliteStore(path)
    assert _columns(path, "uploads") == _columns(path, "jobs") == {"id"}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_updates_take_values_as_data_and_refuse_unknown_columns(tmp_path):
    store = _store(tmp_path)
    job = store.create_job(REF, [REF], {})
    store.update_job(job.id, error="x'; DROP TABLE jobs; --")
    assert store.get_job(job.id).error == "x'; DROP TABLE jobs; --"
    with pytest.raises(ValueError):
        store.update_job(job.id, **{"state = 'done', error": "y"})
    with pytest.raises(ValueError):
        store.update_job(job.id, seq=5)


def _position(tmp_path, iteration, stage, within):
    checkpoint = tmp_path / "checkpoint.png"
    checkpoint.write_bytes(b"an image")
    position = tmp_path / "checkpoint.json"
    position.write_text(
        json.dumps({"iteration": iteration, "stage": stage, "stage_iteration": within})
    )
    return checkpoint, position


@pytest.mark.parametrize(
    ("options", "checkpoint", "saved", "expected"),
    [
        ({"size": 64, "iterations": 40}, 10, (10, 0, 10), Resume(10, ((64, 30),), 0, 10)),
        # Coarse to fine: in the second stage, and just at the end of the first one.
        ({"scales": "64:20,128:20"}, 25, (25, 1, 5), Resume(25, ((128, 15),), 1, 5)),
        ({"scales": "64:20,128:20"}, 20, (20, 0, 20), Resume(20, ((128, 20),), 1, 0)),
        ({"scales": "64:20,128:20"}, 10, (10, 0, 10), Resume(10, ((64, 10), (128, 20)), 0, 10)),
        # Nothing to resume from, or a record that does not fit the job: start afresh.
        # (One stage: at 64 px the default schedule has no coarser stage.)
        ({"size": 64, "iterations": 40}, 0, (0, 0, 0), START),
        ({"size": 64, "iterations": 40}, 10, (12, 0, 12), START),
        ({"size": 64, "iterations": 40}, 10, (10, 1, 10), START),
        ({"size": 64, "iterations": 40}, 40, (40, 0, 40), START),
        ({"size": 64, "iterations": 40, "strength": 0.3}, 10, (10, 0, 10), START),
    ],
)
def test_a_restart_resumes_any_schedule_where_its_checkpoint_was_taken(
    tmp_path, options, checkpoint, saved, expected
):
    store = _store(tmp_path)
    job = store.create_job(REF, [REF], options)
    store.update_job(job.id, checkpoint=checkpoint)
    image, position = _position(tmp_path, *saved)
    assert (
        resume_point(store.get_job(job.id), Options.build(**options), image, position) == expected
    )


def test_a_checkpoint_without_its_image_or_record_is_not_resumed(tmp_path):
    store = _store(tmp_path)
    job = store.create_job(REF, [REF], {"iterations": 40})
    store.update_job(job.id, checkpoint=10)
    image, position = _position(tmp_path, 10, 0, 10)
    job = store.get_job(job.id)
    options = Options.build(iterations=40)
    assert resume_point(job, options, image, position).done == 10
    position.write_text("{not json")
    assert resume_point(job, options, image, position) == START
    position.unlink()
    assert resume_point(job, options, image, position) == START
    _position(tmp_path, 10, 0, 10)
    image.unlink()
    assert resume_point(job, options, image, position) == START


def test_a_resumed_runs_reports_are_places_in_the_jobs_own_schedule():
    resume = Resume(25, ((128, 15), (256, 10)), 1, 5)
    report = Progress(3, 25, {}, 0.0, lambda: None, stage=0, stage_iteration=3)
    assert resume.position(report) == {"iteration": 28, "stage": 1, "stage_iteration": 8}
    later = Progress(17, 25, {}, 0.0, lambda: None, stage=1, stage_iteration=2)
    assert resume.position(later) == {"iteration": 42, "stage": 2, "stage_iteration": 2}
    assert resume.start() == {"iteration": 25, "stage": 1, "stage_iteration": 5}
