"""``painterly serve`` as a real process: what it says when it starts, its refusals of bad
flags, ports, hosts and databases (one line, exit 2, no lock left), and recovery after it
is killed with SIGKILL in the middle of a job."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from itertools import takewhile

import pytest
from studio_helpers import Server, free_port, png_bytes

from painterly.commands import main
from painterly.errors import PainterlyError
from painterly.studio.store import SCHEMA_VERSION

pytest.importorskip("fastapi")

LONG = 100000
"""Evaluations of a job that must still be running when the test acts on it."""


def test_serve_refuses_a_port_out_of_range(capsys, tmp_path):
    assert main(["serve", "--port", "70000", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["painterly: error: --port must be a whole number from 1 to 65535, not '70000'"]


def test_serve_refuses_a_data_dir_that_is_a_file(capsys, tmp_path):
    path = tmp_path / "jobs.txt"
    path.write_text("not a folder")
    assert main(["serve", "--data-dir", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a directory" in err[0]


def test_a_second_studio_on_the_same_data_dir_is_refused(capsys, tmp_path):
    from painterly.studio.service import Studio

    studio = Studio(tmp_path, devices=["cpu"])
    try:
        assert main(["serve", "--port", "8999", "--data-dir", str(tmp_path)]) == 2
        assert "another painterly studio is using" in capsys.readouterr().err
    finally:
        studio.close()


def test_a_job_killed_mid_run_is_interrupted_and_resumes_after_a_restart(tmp_path):
    data = tmp_path / "data"
    server = Server(data, "--checkpoint-every", "2")
    try:
        assert "bound to localhost only" in server.output()
        content = server.upload(png_bytes("tubingen.jpg", 64), "photo.png")
        style = server.upload(png_bytes("starry_night.jpg", 64), "style.png")
        refs = {"content": {"upload": content}, "styles": [{"upload": style}]}

        def submit(iterations: int) -> str:
            options = {"size": 48, "iterations": iterations}
            return server.request("POST", "/api/jobs", {**refs, "options": options})["id"]

        finished = submit(2)
        assert server.last_event(finished)["state"] == "done"
        result = server.get(f"/api/jobs/{finished}/result")
        long = submit(LONG)  # still running when killed, however fast the machine
        queued = submit(2)
        server.first_event(long, lambda job: job["checkpoint"] >= 2)
        server.kill()
    finally:
        server.stop()

    server = Server(data, "--checkpoint-every", "2")
    try:
        jobs = {job["id"]: job for job in server.get("/api/jobs")}
        assert set(jobs) == {finished, long, queued}
        assert jobs[finished]["state"] == "done"
        assert server.get(f"/api/jobs/{finished}/result") == result
        assert server.get(f"/api/uploads/{content}/image")[:8] == b"\x89PNG\r\n\x1a\n"
        interrupted = jobs[long]
        assert interrupted["state"] == "interrupted"
        assert "stopped while this job was running" in interrupted["error"]
        checkpoint = interrupted["checkpoint"]
        assert 2 <= checkpoint < LONG
        # The job queued behind it was never dropped: the new process runs it.
        assert server.last_event(queued)["state"] == "done"

        restarted = server.request("POST", f"/api/jobs/{long}/restart")
        assert restarted["state"] == "queued"
        assert restarted["iteration"] == checkpoint  # resumes, not from 0
        with closing(server.events(long)) as events:
            # Up to its first evaluation past the checkpoint; then it is cancelled.
            seen = list(takewhile(lambda job: job["iteration"] <= checkpoint, events))
            server.request("POST", f"/api/jobs/{long}/cancel")
            seen += events
        assert all(job["iteration"] >= checkpoint for job in seen)
        stopped = seen[-1]
        assert stopped["state"] == "cancelled" and checkpoint < stopped["iteration"] < LONG
        assert stopped["total"] == LONG
        assert server.get(f"/api/jobs/{long}/result")[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        assert server.stop() == 0, server.output()


def _serve(*args: str) -> subprocess.CompletedProcess:
    """``painterly serve`` as a process that is expected to stop by itself."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    command = [sys.executable, "-m", "painterly", "serve", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_serve_on_a_port_in_use_exits_2_in_one_line_and_leaves_no_lock(tmp_path):
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve("--port", str(port), "--data-dir", str(data))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"painterly: error: port {port} on 127.0.0.1 is in use by another program; "
        "choose another --port"
    ]
    assert not (data / "studio.lock").exists()


@pytest.mark.parametrize(
    "content", [b"this is not a database " * 200, b"SQLite format 3\x00" + b"\xff" * 4000]
)
def test_serve_on_a_damaged_database_exits_2_in_one_line_and_leaves_no_lock(tmp_path, content):
    data = tmp_path / "data"
    data.mkdir()
    (data / "studio.sqlite3").write_bytes(content)
    done = _serve("--port", str(free_port()), "--data-dir", str(data))
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("painterly: error: ") and "is not a sound painterly studio" in line
    assert not (data / "studio.lock").exists()
    assert (data / "studio.sqlite3").read_bytes() == content  # left for the user to look at


def test_a_database_of_a_newer_schema_or_other_tables_is_refused_and_unlocked(capsys, tmp_path):
    path = tmp_path / "studio.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    assert main(["serve", "--port", str(free_port()), "--data-dir", str(tmp_path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    newer = f"studio schema {SCHEMA_VERSION + 1}; this one knows {SCHEMA_VERSION}"
    assert f"written by a newer painterly ({newer})" in line
    assert not (tmp_path / "studio.lock").exists()
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (id TEXT)")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    assert main(["serve", "--port", str(free_port()), "--data-dir", str(tmp_path)]) == 2
    assert "its uploads table is not the studio's" in capsys.readouterr().err
    assert not (tmp_path / "studio.lock").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--host", "no-such-host.invalid"], "neither an address nor a name"),
        (["--host", "300.1.2.3"], "neither an address nor a name"),
        (["--token", "short"], "--token must be at least 16"),
        (["--max-video-seconds", "0"], "--max-video-seconds must be greater than 0, not 0"),
        (["--max-video-mb", "lots"], "--max-video-mb must be a number, not 'lots'"),
        (["--max-video-mb", "4096"], "--max-video-mb must be at most 1024"),
    ],
)
def test_serve_refuses_a_bad_host_or_token_or_limit_in_one_line(capsys, tmp_path, args, words):
    assert main(["serve", "--port", str(free_port()), "--data-dir", str(tmp_path), *args]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("painterly: error: ") and words in line
    assert not (tmp_path / "studio.lock").exists()


def test_a_studio_that_stops_removes_its_lock_and_the_next_one_can_start(tmp_path):
    from painterly.studio.service import Studio

    first = Studio(tmp_path, devices=["cpu"])
    with pytest.raises(PainterlyError, match="another painterly studio is using"):
        Studio(tmp_path, devices=["cpu"])
    assert (tmp_path / "studio.lock").exists()  # the refused one left the holder's lock
    first.close()
    first.close()  # a second close is harmless
    assert not (tmp_path / "studio.lock").exists()
    second = Studio(tmp_path, devices=["cpu"])
    second.close()


def test_a_lock_on_a_file_removed_meanwhile_is_not_taken_for_the_lock(tmp_path, monkeypatch):
    import fcntl

    from painterly.studio import service

    path = tmp_path / "studio.lock"
    real, calls = fcntl.flock, []

    def flock_then_released(file, how):
        real(file, how)
        calls.append(file)
        if len(calls) == 1:  # as if the holder removed the file just after this open
            path.unlink()
            path.write_text("")

    monkeypatch.setattr(service.fcntl, "flock", flock_then_released)
    lock = service.DataDirLock(path)
    lock.acquire()
    assert len(calls) == 2 and calls[0].closed  # the removed file's lock was let go
    assert os.path.samestat(os.fstat(calls[1].fileno()), os.stat(path))
    lock.release()
    assert not path.exists()
