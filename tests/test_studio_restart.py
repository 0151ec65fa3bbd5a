"""``painterly serve`` as a real process: what it says when it starts, its refusals of bad
flags, and recovery after it is killed with SIGKILL in the middle of a job."""

from __future__ import annotations

from contextlib import closing
from itertools import takewhile

import pytest
from studio_helpers import Server, png_bytes

from painterly.commands import main

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
