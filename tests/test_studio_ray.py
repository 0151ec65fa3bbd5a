"""The studio with its jobs on a real Ray cluster (``painterly serve --ray``): the same job
store, progress, previews, checkpoints, cancel and pixels as with its own workers."""

from __future__ import annotations

import io
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import refused, run_cli
from PIL import Image
from studio_helpers import in_process, png_bytes, watch

pytest.importorskip("fastapi")

from painterly.batch.ray_engine import CLIPS, clip_key  # noqa: E402
from painterly.commands.serve import ray_engines  # noqa: E402
from painterly.studio.service import Studio  # noqa: E402

JOB = {"size": 48, "iterations": 6}


@pytest.fixture()
def on_ray(ray_cluster, tmp_path):
    """A studio whose workers are the cluster's two actors, checkpointing every 2."""
    engines = ray_engines(ray_cluster, None, "1", 2)
    studio = Studio(tmp_path / "ray", checkpoint_every=2, engines=engines)
    with in_process(studio) as client:
        yield client
    import ray

    ray.shutdown()


def _submit(client, options):
    ids = []
    for name in ("tubingen.jpg", "starry_night.jpg"):
        response = client.post(
            "/api/uploads", files={"file": ("a.png", png_bytes(name, 64), "image/png")}
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    body = {"content": {"upload": ids[0]}, "styles": [{"upload": ids[1]}], "options": options}
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _events(client, job_id, until=None):
    """The job's events until its last, or until ``until(event)`` (then the job is still
    running and the stream is closed)."""
    seen = []
    with watch(client, job_id) as events:
        for event in events:
            seen.append(event)
            if until is not None and until(event):
                break
    return seen


def _result(client, job):
    url = client.get(f"/api/jobs/{job['id']}").json()["urls"]["result"]
    response = client.get(url)
    assert response.status_code == 200
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_a_job_on_ray_streams_its_progress_and_paints_the_local_pixels(on_ray, tmp_path):
    job = _submit(on_ray, JOB)
    events = _events(on_ray, job["id"])
    assert events[-1]["state"] == "done" and events[-1]["iteration"] == 6
    iterations = [e["iteration"] for e in events]
    assert iterations == sorted(iterations) and any(0 < i < 6 for i in iterations)
    assert any("preview" in e for e in events)
    assert max(e.get("checkpoint", 0) for e in events) == 4  # every 2, before the last
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the actors run
    try:
        with in_process(Studio(tmp_path / "here", devices=["cpu"])) as here:
            local = _submit(here, JOB)
            assert _events(here, local["id"])[-1]["state"] == "done"
            assert np.array_equal(_result(on_ray, events[-1]), _result(here, local))
    finally:
        torch.set_num_threads(threads)


def test_cancel_reaches_the_job_on_ray_and_keeps_its_best_image(on_ray):
    job = _submit(on_ray, {"size": 48, "iterations": 100000})
    _events(on_ray, job["id"], until=lambda e: e["iteration"] >= 2)
    assert on_ray.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    stopped = _events(on_ray, job["id"])[-1]
    assert stopped["state"] == "cancelled" and 2 <= stopped["iteration"] < 100000
    assert max(_result(on_ray, stopped).shape[:2]) == 48


def test_serve_refuses_bad_ray_flags_in_one_sentence(capsys, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run_cli(capsys, "serve", "--data-dir", tmp_path, "--port", port, "--ray",
                           "auto", "--cpus-per-worker", "0")  # fmt: skip
    refused(code, err, "--cpus-per-worker must be a whole number, at least 1")


def _clip_folder(tmp_path, job) -> Path:
    """The node's folder where an actor paints the job's clip."""
    result = tmp_path / "ray" / "jobs" / job["id"] / "result.mp4"
    return Path(tempfile.gettempdir()) / CLIPS / clip_key(result)


def _clip_job(client, tmp_path, options, video=None):
    from video_helpers import write_clip

    write_clip(tmp_path / "pan.mp4", frames=3)
    data = (tmp_path / "pan.mp4").read_bytes()
    response = client.post("/api/uploads", files={"file": ("pan.mp4", data, "video/mp4")})
    assert response.status_code == 201, response.text
    style = client.post(
        "/api/uploads", files={"file": ("s.png", png_bytes("starry_night.jpg", 64), "image/png")}
    ).json()["id"]
    body = {"content": {"upload": response.json()["id"]}, "styles": [{"upload": style}],
            "options": options, **({"video": video} if video else {})}  # fmt: skip
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_video_job_runs_on_an_actor_and_its_clip_comes_back(on_ray, tmp_path):
    pytest.importorskip("av", reason="video needs PyAV (pip install 'painterly[video]')")
    from painterly.io.video import read_frames

    job = _clip_job(on_ray, tmp_path, {"method": "adain", "size": 64})
    events = _events(on_ray, job["id"])
    assert events[-1]["state"] == "done" and events[-1]["iteration"] == 3, events[-1]
    assert [e["iteration"] for e in events if "preview" in e][-1] == 3
    url = on_ray.get(f"/api/jobs/{job['id']}").json()["urls"]["result"]
    response = on_ray.get(url)
    assert response.headers["content-type"] == "video/mp4"
    (tmp_path / "back.mp4").write_bytes(response.content)
    assert len(list(read_frames(tmp_path / "back.mp4"))) == 3
    # The actor painted it in its node's folder for clips (removed once the clip was back),
    # not in the studio's job folder.
    assert (Path(tempfile.gettempdir()) / CLIPS).is_dir()
    assert not _clip_folder(tmp_path, job).exists()
    assert not (tmp_path / "ray" / "jobs" / job["id"] / "result.mp4.frames").exists()


def test_a_cancel_reaches_a_video_job_on_an_actor_within_its_frame(on_ray, tmp_path):
    pytest.importorskip("av", reason="video needs PyAV (pip install 'painterly[video]')")
    job = _clip_job(on_ray, tmp_path, {"size": 48, "iterations": 200000, "scales": "none"})
    _events(on_ray, job["id"], until=lambda e: bool(e.get("losses")))  # frame 1 under way
    assert on_ray.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    stopped = _events(on_ray, job["id"])[-1]
    assert stopped["state"] == "cancelled" and stopped["iteration"] == 0
    kept = _clip_folder(tmp_path, job)  # kept on the node for a restart
    (clip,) = kept.glob("clip.*")
    assert clip.read_bytes() == (tmp_path / "pan.mp4").read_bytes()
    assert on_ray.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert not kept.exists()  # deleting the job removes it from the node
