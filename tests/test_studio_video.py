"""Video jobs in the studio, in process: a clip upload is probed and kept, a job of it tells
every frame as it is finished and ends with an MP4 of them all, its settings are read as
``painterly video`` reads them, a cancel stops it within a frame and keeps the frames done,
a restart goes on after them; and every clip the studio must not take is refused in one
sentence, with nothing kept (tiny clips made here, real weights, real FFmpeg)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from studio_helpers import in_process, png_bytes, watch

pytest.importorskip("fastapi")
av = pytest.importorskip("av", reason="video needs PyAV (pip install 'painterly[video]')")
pytest.importorskip("cv2", reason="video needs OpenCV (pip install 'painterly[video]')")

from video_helpers import write_clip  # noqa: E402

from painterly.config.options import Options  # noqa: E402
from painterly.engine.optimize import Cancel  # noqa: E402
from painterly.errors import Interrupted  # noqa: E402
from painterly.studio.service import Studio  # noqa: E402
from painterly.studio.uploads import Limits  # noqa: E402
from painterly.video.run import frames_folder, stylize_video  # noqa: E402
from painterly.video.settings import VideoSettings  # noqa: E402

FRAMES, SIZE, FPS = 6, (64, 48), 8
ONE_PASS = {"method": "adain", "size": 64}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    """A pan of 6 frames of 64 x 48 at 8 fps (0.75 s), as an H.264 MP4."""
    path = tmp_path_factory.mktemp("clip") / "pan.mp4"
    write_clip(path, frames=FRAMES, size=SIZE, fps=FPS)
    return path.read_bytes()


def _studio(tmp_path, **kwargs) -> Studio:
    return Studio(tmp_path / "data", devices=["cpu"], **kwargs)


@pytest.fixture()
def idle(tmp_path):
    """A studio whose workers never start: jobs stay queued."""
    with in_process(_studio(tmp_path), workers=False) as client:
        yield client


def _post(client, data, name="pan.mp4", kind="video/mp4"):
    return client.post("/api/uploads", files={"file": (name, data, kind)})


def _upload(client, data, name="pan.mp4"):
    response = _post(client, data, name)
    assert response.status_code == 201, response.text
    return response.json()


def _style(client) -> dict:
    return {"upload": _upload(client, png_bytes("starry_night.jpg", 64), "style.png")["id"]}


def _submit(client, content, options, video=None, styles=None):
    body = {"content": content, "styles": styles or [_style(client)], "options": options}
    if video is not None:
        body["video"] = video
    return client.post("/api/jobs", json=body)


def _job(client, content, options, video=None):
    response = _submit(client, content, options, video)
    assert response.status_code == 201, response.text
    return response.json()


def _picture(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), np.float64)


def _preview(event) -> np.ndarray:
    assert event["preview"].startswith("data:image/jpeg;base64,")
    return _picture(base64.b64decode(event["preview"].split(",", 1)[1]))


def _decoded(data: bytes) -> list[np.ndarray]:
    """Every frame of a video, decoded by PyAV alone (not by the code under test)."""
    with av.open(io.BytesIO(data)) as container:
        return [frame.to_ndarray(format="rgb24").astype(np.float64)
                for frame in container.decode(video=0)]  # fmt: skip


def _refused(response, status, *words) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    for word in words:
        assert word in detail, detail
    return detail


def test_a_clip_upload_is_probed_and_kept_with_its_first_frame_as_its_image(idle, clip, tmp_path):
    upload = _upload(idle, clip)
    assert upload["kind"] == "video" and (upload["width"], upload["height"]) == SIZE
    assert upload["video"]["frames"] == FRAMES and upload["video"]["fps"] == str(FPS)
    assert upload["video"]["duration"] == pytest.approx(FRAMES / FPS, abs=0.01)
    uploads = tmp_path / "data" / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == [
        f"{upload['id']}.png",
        f"{upload['id']}.video",
    ]
    assert (uploads / f"{upload['id']}.video").read_bytes() == clip  # kept as it came
    first = _picture(idle.get(upload["url"]).content)
    assert first.shape == (SIZE[1], SIZE[0], 3)
    frames = _decoded(clip)
    assert np.abs(first - frames[0]).mean() < 1.0 < np.abs(first - frames[-1]).mean()
    still = _upload(idle, png_bytes("tubingen.jpg", 64), "photo.png")
    assert still["kind"] == "image" and still["video"] is None
    # A GIF is a clip when it moves, an image when it does not (whatever its name says).
    colours = [Image.new("RGB", (32, 24), (40 * i, 90, 200 - 40 * i)) for i in range(3)]
    kinds = []
    for frames in (colours, colours[:1]):
        buffer = io.BytesIO()
        frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
        gif = _upload(idle, buffer.getvalue(), "moving.mp4")
        assert (gif["width"], gif["height"]) == (32, 24)
        kinds.append((gif["kind"], gif["video"] and gif["video"]["frames"]))
    assert kinds == [("video", 3), ("image", None)]
    limits = idle.get("/api/options").json()["limits"]
    assert limits["max_video_upload_bytes"] == 64 * 2**20 and limits["max_video_seconds"] == 20


def test_a_video_job_tells_each_frame_as_it_is_finished_and_its_result_is_an_mp4_of_them(
    tmp_path, one_thread, clip
):
    studio = _studio(tmp_path)
    with in_process(studio, workers=False) as client:
        content = {"upload": _upload(client, clip)["id"]}
        job = _job(client, content, ONE_PASS, {"blend": 0.5})
        assert (job["kind"], job["total"], job["video"]) == ("video", FRAMES, {"blend": 0.5})
        with watch(client, job["id"]) as events:
            assert next(events)["state"] == "queued"
            studio.start()
            told = list(events)
        final = told[-1]
        result = client.get(final["urls"]["result"])
        inline = client.get(final["urls"]["result"], params={"download": "false"})
        still = client.get(final["urls"]["preview"])
        folder = frames_folder(studio.result_path(studio.store.get_job(job["id"])))
    assert final["state"] == "done" and final["iteration"] == final["total"] == FRAMES
    frames = [e for e in told[:-1] if "preview" in e]
    assert [e["iteration"] for e in frames] == list(range(1, FRAMES + 1))
    assert all(e["state"] == "running" and e["total"] == FRAMES for e in frames)
    assert [e["checkpoint"] for e in frames] == list(range(1, FRAMES + 1))
    assert result.headers["content-type"] == "video/mp4"
    assert "attachment" in result.headers["content-disposition"]
    assert ".mp4" in result.headers["content-disposition"]
    assert "attachment" not in inline.headers.get("content-disposition", "")  # for <video>
    written, source = _decoded(result.content), _decoded(clip)
    assert len(written) == FRAMES and written[0].shape == (SIZE[1], SIZE[0], 3)
    for i, event in enumerate(frames):
        shown = _preview(event)
        # Each frame told is that frame of the result (JPEG and H.264 apart: a few levels
        # at this size, consecutive frames 20 or more), and painted.
        distances = [np.abs(shown - frame).mean() for frame in written]
        assert np.argmin(distances) == i and distances[i] < 8.0, (i, distances)
        assert np.abs(shown - source[i]).mean() > 15.0, i
    assert np.abs(_preview(final) - written[-1]).mean() < 8.0  # the last frame ends it
    assert np.abs(_picture(still.content) - written[-1]).mean() < 8.0
    assert not folder.exists()  # the frames are in the result now


@pytest.mark.parametrize(
    ("options", "video", "words"),
    [
        (ONE_PASS, {"blend": 2}, ["--blend must be at most 0.95"]),
        (ONE_PASS, {"blnd": 0.3}, ["unknown video setting 'blnd'"]),
        (ONE_PASS, {"every": 1.5}, ["--every must be a whole number"]),
        (ONE_PASS, {"start": 5}, ["'pan.mp4' has no frames after 5 s", "0.75 s long"]),
        (ONE_PASS, {"per_frame": "maybe"}, ["--per-frame is true or false"]),
        # 600,000 for the first frame, then 100,000 for each of the other 5.
        ({"size": 64, "iterations": 600000}, {"frame_iterations": 100000},
         ["6 frames would take 1,100,000 evaluations", "at most 1,000,000"]),
    ],
)  # fmt: skip
def test_video_settings_are_read_as_painterly_video_reads_them(idle, clip, options, video, words):
    content = {"upload": _upload(idle, clip)["id"]}
    _refused(_submit(idle, content, options, video), 422, *words)
    assert idle.get("/api/jobs").json() == []


def test_clips_and_images_keep_to_their_places_in_a_job(idle, clip):
    clip_ref = {"upload": _upload(idle, clip)["id"]}
    photo = {"example": "tubingen.jpg"}
    _refused(_submit(idle, photo, ONE_PASS, {"blend": 0.3}), 422, "video settings are for a clip")
    _refused(_submit(idle, photo, ONE_PASS, styles=[clip_ref]), 422, "styles must be still images")
    _refused(_submit(idle, clip_ref, ONE_PASS, "fast"), 422, "video")
    assert idle.get("/api/jobs").json() == []
    # An image job with no video settings, or empty ones, is an image job as before.
    assert _job(idle, photo, ONE_PASS, {})["kind"] == "image"


def _nothing_kept(tmp_path) -> bool:
    return list((tmp_path / "data" / "uploads").iterdir()) == []


def test_a_clip_over_the_duration_limit_is_refused_and_nothing_is_kept(tmp_path, clip):
    with in_process(_studio(tmp_path, limits=Limits(max_video_seconds=0.5)), workers=False) as c:
        detail = _refused(_post(c, clip), 413, "'pan.mp4' lasts 0.75 s", "limit of 0.5 s")
        assert c.get("/api/options").json()["limits"]["max_video_seconds"] == 0.5
    assert str(tmp_path) not in detail
    assert _nothing_kept(tmp_path)


def test_a_file_that_only_pretends_to_be_a_clip_is_refused_in_one_sentence(idle, clip, tmp_path):
    from test_video_io import make_video

    for data in [b"this is not a video\n" * 50, clip[: len(clip) // 2], bytes(4096)]:
        detail = _refused(
            _post(idle, data, "clip.mp4"), 422, "'clip.mp4' is not an image or a video"
        )
        assert str(tmp_path) not in detail
    sound = make_video(tmp_path / "talk.mp4", video_stream=False, audio="aac").read_bytes()
    _refused(_post(idle, sound, "talk.mp4"), 422, "'talk.mp4' has no video stream (only audio)")
    assert _nothing_kept(tmp_path)


def test_a_clip_over_the_byte_or_pixel_limit_is_refused_with_413(tmp_path, clip, monkeypatch):
    from painterly.io import video

    image = png_bytes("tubingen.jpg", 128)
    limits = Limits(max_bytes=len(image) - 1, max_video_bytes=len(clip) - 1)
    with in_process(_studio(tmp_path, limits=limits), workers=False) as client:
        _refused(_post(client, clip), 413, "the video is larger than the limit")
        # The image limit is the image's, however large the clip's is.
        _refused(_post(client, image, "photo.png", "image/png"), 413, "the image is larger")
    assert _nothing_kept(tmp_path)
    monkeypatch.setattr(video, "MAX_VIDEO_PIXELS", SIZE[0] * SIZE[1] - 1)
    with in_process(_studio(tmp_path), workers=False) as client:
        _refused(_post(client, clip), 413, "'pan.mp4' is 64x48 pixels, more than painterly's limit")
    assert _nothing_kept(tmp_path)


def test_a_clip_whose_record_cannot_be_stored_leaves_no_file(idle, clip, tmp_path, monkeypatch):
    import sqlite3

    from painterly.studio.store import SqliteStore

    def full(self, upload):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(SqliteStore, "add_upload", full)
    response = _post(idle, clip)
    assert response.status_code == 500 and response.json()["detail"].startswith("internal error")
    assert _nothing_kept(tmp_path)


def test_a_cancelled_video_job_stops_within_a_frame_keeps_the_frames_done_and_goes_on_after_them(
    tmp_path, one_thread, clip
):
    studio = _studio(tmp_path)
    # gatys: the first frame is quick; the next could not finish while the test runs.
    options = {"size": 48, "iterations": 2, "scales": "none"}
    with in_process(studio) as client:
        job = _job(client, {"upload": _upload(client, clip)["id"]}, options,
                   {"frame_iterations": 100000})  # fmt: skip
        with watch(client, job["id"]) as events:
            done = next(e for e in events if e["iteration"] == 1)
            next(e for e in events if e["losses"] != done["losses"])  # frame 2 under way
            assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
            stopped = list(events)[-1]
        assert (
            stopped["state"] == "cancelled" and stopped["iteration"] == stopped["checkpoint"] == 1
        )
        assert stopped["urls"]["result"] is None and "preview" in stopped
        assert client.get(f"/api/jobs/{job['id']}/result").status_code == 404
        assert client.get(stopped["urls"]["preview"]).headers["content-type"] == "image/png"
        folder = frames_folder(studio.result_path(studio.store.get_job(job["id"])))
        [kept] = sorted(folder.glob("0*.png"))
        made = kept.stat().st_mtime_ns

        restarted = client.post(f"/api/jobs/{job['id']}/restart").json()
        assert restarted["state"] == "queued" and restarted["iteration"] == 1
        with watch(client, job["id"]) as events:
            running = next(e for e in events if e["state"] == "running" and e["losses"])
            assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
            seen = [running, *events]
    assert all(e["iteration"] == 1 for e in seen)  # frame 1 was not made again
    assert seen[-1]["state"] == "cancelled"
    assert sorted(folder.glob("0*.png")) == [kept] and kept.stat().st_mtime_ns == made


def test_a_restarted_video_job_goes_on_after_the_frames_kept_to_the_whole_clip(
    tmp_path, one_thread, clip
):
    studio = _studio(tmp_path)
    with in_process(studio, workers=False) as client:
        job = studio.store.get_job(
            _job(client, {"upload": _upload(client, clip)["id"]}, ONE_PASS)["id"]
        )
        # What a studio stopped after two frames leaves: the frames in the job's folder, as
        # its worker makes them, and the job interrupted.
        studio.job_dir(job.id).mkdir()
        cancel = Cancel()

        def two(p) -> None:
            if p.done == 2:
                cancel.set("interrupted")

        with pytest.raises(Interrupted):
            stylize_video(
                studio.input_path(job.content), [studio.input_path(s) for s in job.styles],
                studio.result_path(job), Options.build(**job.options).replace(device="cpu"),
                VideoSettings.build(**job.video), on_frame=two, cancel=cancel,
            )  # fmt: skip
        studio.store.update_job(job.id, state="interrupted", checkpoint=2, iteration=2)
        assert client.post(f"/api/jobs/{job.id}/restart").json()["iteration"] == 2
        with watch(client, job.id) as events:
            assert next(events)["state"] == "queued"
            studio.start()
            told = list(events)
        result = client.get(told[-1]["urls"]["result"]).content
    assert [(e["state"], e["iteration"]) for e in told if "preview" in e] == [
        *(("running", n) for n in range(3, FRAMES + 1)),
        ("done", FRAMES),
    ]
    assert len(_decoded(result)) == FRAMES
