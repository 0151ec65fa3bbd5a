"""The studio's REST API in process: a job's life and its event stream, the queue,
cancelling, deleting, and every kind of bad input it must refuse (bad images, too large, bad
options, paths from clients)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sqlite3
import threading

import numpy as np
import pytest
from PIL import Image
from studio_helpers import WRITE, in_process, png_bytes, watch

pytest.importorskip("fastapi")

from painterly.io.files import write_json  # noqa: E402
from painterly.report.similarity import edge_agreement  # noqa: E402
from painterly.studio.service import Studio  # noqa: E402
from painterly.studio.uploads import Limits  # noqa: E402
from painterly.studio.worker import position_path  # noqa: E402

TINY = {"size": 48, "iterations": 3}


def _client(tmp_path, workers=True, **kwargs):
    studio = Studio(tmp_path / "data", devices=["cpu"], checkpoint_every=2, **kwargs)
    return in_process(studio, workers=workers)


@pytest.fixture()
def client(tmp_path, one_thread):
    with _client(tmp_path) as client:
        yield client


@pytest.fixture()
def idle(tmp_path):
    """A studio whose workers never start: jobs stay queued (for validation tests)."""
    with _client(tmp_path, workers=False) as client:
        yield client


def _upload(client, name="tubingen.jpg", side=64, filename="photo.png"):
    response = client.post(
        "/api/uploads", files={"file": (filename, png_bytes(name, side), "image/png")}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _job(client, options=None, styles=None, content=None):
    body = {
        "content": content or {"upload": _upload(client)},
        "styles": styles or [{"upload": _upload(client, "starry_night.jpg")}],
        "options": TINY if options is None else options,
    }
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _events(client, job_id):
    """Every event of the job, until its last (it finished) or it was deleted."""
    with watch(client, job_id) as events:
        return list(events)


def _finish(client, job_id):
    """The job once it has finished, as its stream's last event tells (no polling)."""
    return _events(client, job_id)[-1]


def _image(data_url):
    assert data_url.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    image.load()
    return image


def test_a_job_streams_progress_and_previews_then_its_result_downloads(client):
    job = _job(client)
    assert job["state"] == "queued" and job["total"] == 3
    # However fast the job runs, and whenever the stream opens, these hold.
    events = _events(client, job["id"])
    iterations = [e["iteration"] for e in events]
    assert iterations == sorted(iterations)
    final = events[-1]
    assert final["state"] == "done" and final["iteration"] == final["total"] == 3
    assert all(e["state"] not in ("done", "failed") for e in events[:-1])
    previews = [_image(e["preview"]) for e in events if "preview" in e]
    assert previews and "preview" in final
    done = client.get(f"/api/jobs/{job['id']}").json()
    assert done["iteration"] == 3 and set(done["losses"]) >= {"content", "style", "total"}
    result = client.get(done["urls"]["result"])
    assert result.status_code == 200 and "attachment" in result.headers["content-disposition"]
    image = Image.open(io.BytesIO(result.content))
    assert image.format == "PNG" and max(image.size) == 48
    assert previews[-1].size == image.size  # the final preview is the result


def test_a_stream_open_before_the_job_runs_is_told_of_every_change_in_order(tmp_path, one_thread):
    studio = Studio(tmp_path / "data", devices=["cpu"], checkpoint_every=2)
    with in_process(studio, workers=False) as client:
        job = _job(client)
        with watch(client, job["id"]) as events:
            queued = next(events)  # the stream now holds the job's Live
            live = studio.lives.hold(job["id"])
            studio.start()
            # Not reading the stream until the job has finished: it must catch up with every
            # change, not just the latest, however far the job got meanwhile.
            while (change := live.latest).state != "done":
                assert live.wait_newer(change.version, timeout=60), "the worker went quiet"
            told = list(events)
    assert queued["state"] == "queued" and "preview" not in queued
    # Taken up, then each of the 3 evaluations; a checkpoint every 2 but not at the end.
    progress = [(e["state"], e["iteration"], e["checkpoint"]) for e in told]
    assert progress == [
        ("running", 0, 0),
        ("running", 1, 0),
        ("running", 2, 2),
        ("running", 3, 2),
        ("done", 3, 2),
    ]
    assert "preview" not in told[0] and "preview" in told[1]  # the first evaluation's
    assert told[1]["eta"] is not None and told[-1]["eta"] is None
    assert all(e["urls"]["result"] is None for e in told[:-1]) and told[-1]["urls"]["result"]


@pytest.mark.parametrize(
    ("options", "saved", "size", "expected"),
    [
        ({"size": 48, "iterations": 5}, (2, 0, 2), (48, 36), [2, 3, 4, 5]),
        # Coarse to fine, stopped in the second stage: it continues there, at its size.
        ({"scales": "32:3,48:3"}, (4, 1, 1), (48, 36), [4, 5, 6]),
    ],
)
def test_a_restarted_job_resumes_from_its_checkpoint_and_ends_at_its_full_total(
    tmp_path, one_thread, options, saved, size, expected
):
    studio = Studio(tmp_path / "data", devices=["cpu"], checkpoint_every=2)
    iteration, stage, within = saved
    total = expected[-1]
    with in_process(studio, workers=False) as client:
        job = _job(client, options)
        # What a studio stopped at that evaluation leaves: the job interrupted, that iterate
        # saved with the place in the schedule where it was taken.
        studio.job_dir(job["id"]).mkdir()
        checkpoint = studio.checkpoint_path(job["id"])
        Image.new("RGB", size, "grey").save(checkpoint)
        record = {"iteration": iteration, "stage": stage, "stage_iteration": within}
        write_json(record, position_path(checkpoint))
        studio.store.update_job(
            job["id"], state="interrupted", checkpoint=iteration, iteration=iteration
        )
        assert client.post(f"/api/jobs/{job['id']}/restart").json()["iteration"] == iteration
        with watch(client, job["id"]) as events:
            assert next(events)["state"] == "queued"
            studio.start()
            told = list(events)
    assert [(e["state"], e["iteration"]) for e in told] == [
        *(("running", n) for n in expected),
        ("done", total),
    ]
    assert told[-1]["total"] == total
    assert told[-1]["checkpoint"] == max(n for n in expected[:-1] if n % 2 == 0)
    with Image.open(io.BytesIO(base64.b64decode(told[-1]["preview"].split(",")[1]))) as final:
        assert final.size == size


def test_a_job_that_finished_before_its_stream_opens_yields_one_final_event(client):
    job = _job(client)
    assert _finish(client, job["id"])["state"] == "done"
    [final] = _events(client, job["id"])
    assert final["state"] == "done" and final["iteration"] == 3
    assert max(_image(final["preview"]).size) == 48


def test_jobs_submitted_while_busy_are_queued_and_run_in_order(client):
    content, style = _upload(client), _upload(client, "the_scream.jpg")
    refs = {"content": {"upload": content}, "styles": [{"upload": style}]}
    busy = {"size": 48, "iterations": 100000}
    ids = [
        client.post("/api/jobs", json={**refs, "options": options}).json()["id"]
        for options in (busy, TINY, TINY)
    ]
    with watch(client, ids[0]) as events:
        next(e for e in events if e["iteration"] >= 1)  # the first job runs
        assert [client.get(f"/api/jobs/{i}").json()["state"] for i in ids[1:]] == ["queued"] * 2
        client.post(f"/api/jobs/{ids[0]}/cancel")
        assert list(events)[-1]["state"] == "cancelled"
    finished = [_finish(client, i) for i in ids[1:]]
    assert [job["state"] for job in finished] == ["done", "done"]
    starts = [client.get(f"/api/jobs/{ids[0]}").json()["started"]]
    starts += [job["started"] for job in finished]
    assert starts == sorted(starts)
    assert [j["id"] for j in client.get("/api/jobs").json()] == ids[::-1]  # newest first


def test_cancel_stops_a_running_job_keeps_its_best_image_and_drops_a_queued_one(client):
    running = _job(client, {"size": 48, "iterations": 100000})
    queued = _job(client, TINY, content=running["content"], styles=running["styles"])
    response = client.post(f"/api/jobs/{queued['id']}/cancel")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    with watch(client, running["id"]) as events:
        next(e for e in events if e["iteration"] >= 1)  # a long job: still running here
        assert client.post(f"/api/jobs/{running['id']}/cancel").status_code == 200
        stopped = list(events)[-1]
    assert stopped["state"] == "cancelled" and 1 <= stopped["iteration"] < 100000
    assert stopped == client.get(f"/api/jobs/{running['id']}").json() | {
        "preview": stopped["preview"]
    }
    best = Image.open(io.BytesIO(client.get(stopped["urls"]["result"]).content))
    assert _image(stopped["preview"]).size == best.size
    assert client.post(f"/api/jobs/{running['id']}/cancel").status_code == 409
    assert client.get(f"/api/jobs/{queued['id']}").json()["iteration"] == 0


def test_cancelling_or_deleting_a_watched_queued_job_tells_its_stream(tmp_path):
    studio = Studio(tmp_path / "data", devices=["cpu"])
    with in_process(studio, workers=False) as client:
        cancelled, deleted = _job(client), _job(client)
        watched = {i: studio.lives.hold(i) for i in (cancelled["id"], deleted["id"])}
        with watch(client, cancelled["id"]) as events:
            assert next(events)["state"] == "queued"
            client.post(f"/api/jobs/{cancelled['id']}/cancel")
            assert [e["state"] for e in events] == ["cancelled"]
        with client.stream("GET", f"/api/jobs/{deleted['id']}/events") as stream:
            lines = stream.iter_lines()
            assert json.loads(next(lines)[5:])["state"] == "queued"
            assert client.delete(f"/api/jobs/{deleted['id']}").status_code == 204
            assert "event: deleted" in list(lines)
        # Told at once, not found by a stream's next look at the store.
        assert [live.latest.version for live in watched.values()] == [1, 1]


def test_delete_removes_the_job_and_its_files(client, tmp_path):
    job = _job(client)
    assert _finish(client, job["id"])["state"] == "done"
    folder = tmp_path / "data" / "jobs" / job["id"]
    assert (folder / "result.png").is_file()
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 404


def test_an_artflow_job_paints_with_the_shipped_model(client):
    assert "artflow" in client.get("/api/options").json()["methods"]
    job = _job(client, {"method": "artflow", "transform": "wct", "size": 48})
    final = _finish(client, job["id"])
    assert final["state"] == "done", final
    result = client.get(client.get(f"/api/jobs/{job['id']}").json()["urls"]["result"])
    image = Image.open(io.BytesIO(result.content))
    assert image.size == (48, 36)
    photo = Image.open(io.BytesIO(png_bytes("tubingen.jpg", 64))).convert("RGB").resize((48, 36))
    difference = np.abs(np.asarray(image.convert("RGB"), float) - np.asarray(photo, float))
    assert difference.mean() > 3.0, "the job stylised, not copied, the photograph"


def test_a_photorealistic_job_smooths_its_result_along_the_photographs_edges(client):
    fields = {f["name"]: f for f in client.get("/api/options").json()["fields"]}
    assert fields["photorealistic"]["default"] is False
    results = []
    for photorealistic in (False, True):
        options = {"method": "wct", "size": 48, "photorealistic": photorealistic}
        job = _job(client, options)
        assert _finish(client, job["id"])["state"] == "done"
        result = client.get(client.get(f"/api/jobs/{job['id']}").json()["urls"]["result"])
        results.append(Image.open(io.BytesIO(result.content)).convert("RGB"))
    photo = Image.open(io.BytesIO(png_bytes("tubingen.jpg", 64))).convert("RGB").resize((48, 36))
    plain, smoothed = (edge_agreement(image, photo) for image in results)
    assert smoothed > plain + 0.1, (plain, smoothed)


def test_restart_queues_a_cancelled_job_again(idle):
    job = _job(idle)
    idle.post(f"/api/jobs/{job['id']}/cancel")
    assert idle.post(f"/api/jobs/{job['id']}/restart").json()["state"] == "queued"
    assert idle.post(f"/api/jobs/{job['id']}/restart").status_code == 409


def test_jobs_can_use_bundled_examples_by_name(idle):
    job = _job(idle, content={"example": "tubingen.jpg"}, styles=[{"example": "wave.jpg"}])
    assert job["urls"]["content"] == "/api/examples/tubingen.jpg"
    assert idle.get(job["urls"]["content"]).headers["content-type"] == "image/jpeg"
    assert "gatys" in idle.get("/api/options").json()["methods"]


def _refused(response, status, *words):
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail
    return detail


def _post_file(client, data, name="x.png"):
    return client.post("/api/uploads", files={"file": (name, data, "image/png")})


def test_an_upload_that_is_not_an_image_is_refused_whatever_its_name(idle):
    _refused(_post_file(idle, b"<html>not an image</html>", "photo.png"), 422, "not an image")
    _refused(_post_file(idle, b""), 422, "empty")


def test_a_truncated_image_is_refused(idle):
    data = png_bytes("tubingen.jpg", 96)
    _refused(_post_file(idle, data[: len(data) // 2]), 422, "truncated or corrupt")


def test_an_image_too_small_for_the_network_is_refused(idle):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 40)).save(buffer, format="PNG")
    _refused(_post_file(idle, buffer.getvalue()), 422, "at least 16")


def test_a_decompression_bomb_is_refused_before_it_is_decoded(idle):
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buffer, format="PNG")  # 48 MP in a few kB
    assert len(buffer.getvalue()) < 100_000
    _refused(_post_file(idle, buffer.getvalue()), 413, "more pixels than the limit")


def test_an_upload_over_the_byte_limit_is_refused(tmp_path):
    limits = Limits(max_bytes=10_000, max_video_bytes=20_000)
    with _client(tmp_path, workers=False, limits=limits) as small:
        detail = _refused(_post_file(small, png_bytes("tubingen.jpg", 128)), 413, "limit")
        assert "0.0095" in detail or "10,000" in detail or "MB" in detail
        # Over both limits (an image's and a clip's): cut off before it is stored.
        big = b"\0" * 200_000
        _refused(_post_file(small, big), 413, "larger than the limit")


def test_uploads_are_stored_under_server_chosen_names(idle, tmp_path):
    upload = idle.post(
        "/api/uploads", files={"file": ("../../escape.png", png_bytes("wave.jpg", 64), "x/y")}
    ).json()
    stored = sorted(p.name for p in (tmp_path / "data" / "uploads").iterdir())
    assert stored == [f"{upload['id']}.png"]
    assert upload["name"] == "../../escape.png"  # shown back as text only
    assert not list(tmp_path.rglob("escape.png"))
    image = Image.open(io.BytesIO(idle.get(upload["url"]).content))
    assert image.format == "PNG" and image.size == (upload["width"], upload["height"]) == (64, 48)


@pytest.mark.parametrize(
    "path",
    [
        "/api/uploads/..%2Fstudio.sqlite3/image",
        "/api/uploads/..%2F..%2Fpyproject.toml/image",
        "/api/examples/..%2Fpyproject.toml",
        "/api/examples/SOURCES.md",
        "/api/jobs/..%2Fstudio.sqlite3",
        "/api/jobs/..%2F..%2Fetc%2Fpasswd/result",
        "/static/..%2F..%2F..%2Fpyproject.toml",
    ],
)
def test_no_endpoint_serves_a_path_from_the_client(idle, path):
    response = idle.get(path)
    assert response.status_code == 404
    assert b"[project]" not in response.content and b"SQLite" not in response.content


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"sizee": 64}, ["unknown option 'sizee'"]),
        ({"size": -3}, ["size must be"]),
        ({"strength": 2}, ["strength must be between 0 and 1"]),
        ({"method": "dreams"}, ["method must be one of", "gatys"]),
        ({"preset": "nope"}, ["unknown preset"]),
        ({"init": "/etc/passwd"}, ["init must be one of"]),
        ({"weights": "/root/.cache/painterly/x.safetensors"}, ["weights must be one of"]),
        ({"masks": ["/etc/hosts:/etc/hosts"]}, ["'masks' cannot be set"]),
        ({"device": "cuda:3"}, ["'device' cannot be set"]),
        ({"style_blend": "0.5,0.3,0.2"}, ["3 weights but 1 style image"]),
        ({"size": 4096}, ["at most 2048 px"]),
    ],
)
def test_invalid_options_are_refused_with_the_reason(idle, options, words):
    _refused(
        idle.post(
            "/api/jobs",
            json={
                "content": {"example": "tubingen.jpg"},
                "styles": [{"example": "wave.jpg"}],
                "options": options,
            },
        ),
        422,
        *words,
    )
    assert idle.get("/api/jobs").json() == []


@pytest.mark.parametrize(
    ("content", "styles", "words"),
    [
        ({"example": "../pyproject.toml"}, [{"example": "wave.jpg"}], ["no bundled example"]),
        ({"upload": "../../studio.sqlite3"}, [{"example": "wave.jpg"}], ["does not exist"]),
        ({"upload": "0" * 32}, [{"example": "wave.jpg"}], ["does not exist"]),
        ({"example": "wave.jpg"}, [{}], ['{"upload": ID} or {"example": NAME}']),
    ],
)
def test_inputs_must_be_known_uploads_or_examples(idle, content, styles, words):
    body = {"content": content, "styles": styles, "options": {}}
    _refused(idle.post("/api/jobs", json=body), 422, *words)


def test_a_malformed_job_request_is_a_422_not_a_crash(idle):
    assert idle.post("/api/jobs", json={"content": "x"}).status_code == 422
    assert idle.post("/api/jobs", content=b"{not json").status_code == 422
    body = {"content": {"example": "wave.jpg"}, "styles": [], "options": {}}
    assert idle.post("/api/jobs", json=body).status_code == 422


def test_the_page_and_docs_need_nothing_from_the_internet(idle):
    page = idle.get("/")
    assert (
        page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    )
    docs = idle.get("/docs").text
    assert "/docs-static/swagger-ui-bundle.js" in docs
    for text in (page.text, docs, idle.get("/static/app.js").text):
        assert "http://" not in text and "https://" not in text
    assert idle.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    assert "/api/jobs" in idle.get("/openapi.json").json()["paths"]


def _submit(client, options, content=None):
    body = {
        "content": content or {"example": "tubingen.jpg"},
        "styles": [{"example": "wave.jpg"}],
        "options": options,
    }
    return client.post("/api/jobs", json=body)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"seed": 2**64}, ["seed must be a whole number ≤ 18446744073709551615"]),
        ({"weights": "adain-decoder"}, ["weights must be one of vgg19-normalized, vgg19-keras"]),
        ({"weights": " vgg19-normalized"}, ["weights must be one of"]),
        ({"init": " noise"}, ["init must be one of"]),
        ({"size": 2048, "style_scale": 16}, ["style_scale 16 at size 2048", "at most 1"]),
        ({"size": 512, "style_scale": 1e308}, ["style scale must be at most 16"]),
        ({"size": 512, "style_scale": 8}, ["larger than the studio's 2048 px", "at most 4"]),
        ({"size": 64, "style_scale": 0.01}, ["the network needs at least 16", "--style-scale"]),
        ({"iterations": 2**70}, ["iterations must be a whole number ≤ 10000000"]),
        ({"iterations": 2 * 10**6}, ["at most 1,000,000 evaluations"]),
        ({"scales": "32:600000,48:600000"}, ["at most 1,000,000 evaluations"]),
        ({"size": 10**400}, ["size must be a whole number ≤ 65535"]),
        ({"size": 4096}, ["at most 2048 px"]),
        ({"size_side": "short", "size": 2000}, ["2667×2000 pixels", "at most 2048 px a side"]),
    ],
)
def test_what_the_worker_would_fail_on_is_refused_at_submission(idle, options, words):
    _refused(_submit(idle, options), 422, *words)
    assert idle.get("/api/jobs").json() == []


def test_an_option_of_the_wrong_json_type_is_a_422_sentence_and_stores_nothing(idle):
    for options in [
        {"content_layers": 5},
        {"style_blend": 5},
        {"scales": 5},
        {"tv_weight": {"a": [1]}},
        {"init": ["noise"]},
        {"size": [[[[[[[[[[48]]]]]]]]]]},
    ]:
        response = _submit(idle, options)
        assert response.status_code == 422, (options, response.text)
        assert isinstance(response.json()["detail"], str)
    assert idle.get("/api/jobs").json() == []


def test_nan_and_infinity_in_a_request_are_refused(idle):
    for body in [
        b'{"content": NaN, "styles": [{"example": "wave.jpg"}]}',
        b'{"content": {"example": "wave.jpg"}, "styles": [{"example": "wave.jpg"}], '
        b'"options": {"style_weight": 10, "strength": 0.5, "tv_weight": Infinity}}',
    ]:
        response = idle.post(
            "/api/jobs", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert isinstance(response.json()["detail"], str)
    assert idle.get("/api/jobs").json() == []


def test_a_bug_in_option_validation_is_a_422_and_is_logged_as_a_bug(idle, monkeypatch, caplog):
    from painterly.config.options import Options

    def broken(**values):
        raise TypeError("a bug")

    monkeypatch.setattr(Options, "build", broken)
    detail = _refused(_submit(idle, {"size": 48}), 422, "the options could not be read")
    assert "TypeError" not in detail
    [record] = [r for r in caplog.records if r.name == "painterly.studio"]
    assert record.levelname == "ERROR" and "bug" in record.getMessage() and record.exc_info
    assert idle.get("/api/jobs").json() == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"content": "x", "styles": []}, 422, ["content is not valid"]),
        ({"content": {"upload": 5}, "styles": []}, 422, ["content.upload is not valid"]),
        ({"content": {"example": "wave.jpg", "path": "/etc"}, "styles": []}, 422, ["path"]),
        ({"styles": [{"example": "wave.jpg"}]}, 422, ["the request lacks content"]),
        ({"content": {"example": "wave.jpg"}, "styles": "wave.jpg"}, 422, ["styles"]),
        ({"content": {"example": "wave.jpg"}, "styles": [{}] * 9}, 422, ["between 1 and 8"]),
        (
            {"content": {"example": "wave.jpg"}, "styles": [{"example": "wave.jpg"}], "parent": 5},
            422,
            ["parent is not valid"],
        ),
        (
            {
                "content": {"example": "wave.jpg"},
                "styles": [{"example": "wave.jpg"}],
                "parent": "..",
            },
            422,
            ["parent must be the id of a job"],
        ),
    ],
)
def test_a_malformed_job_request_is_answered_in_one_sentence(idle, body, status, words):
    _refused(idle.post("/api/jobs", json=body), status, *words)
    assert idle.get("/api/jobs").json() == []


def test_a_body_that_is_not_json_is_a_400_sentence(idle):
    headers = {"Content-Type": "application/json"}
    _refused(idle.post("/api/jobs", content=b"{not json", headers=headers), 400, "not valid JSON")
    deep = b'{"content": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    assert idle.post("/api/jobs", content=deep, headers=headers).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs/%ED%A0%80",
        "/api/jobs/%FF%FE/result",
        "/api/jobs/%00/preview",
        "/api/uploads/%ED%A0%80/image",
        "/api/examples/%ED%A0%80",
        "/api/jobs/" + "a" * 10_000,
    ],
)
def test_ids_of_any_shape_are_404(idle, path):
    assert idle.get(path).status_code == 404
    assert idle.post(path.removesuffix("/result") + "/cancel").status_code in (404, 405)
    assert idle.delete(path).status_code in (404, 405)


def test_a_json_body_over_its_limit_is_refused(idle):
    options = {"content_layers": "conv4_2," * 10_000}
    _refused(_submit(idle, options), 413, "larger than the limit of 65,536 bytes")


def test_an_upload_whose_record_cannot_be_stored_leaves_no_file(idle, tmp_path, monkeypatch):
    from painterly.studio.store import SqliteStore

    def full(self, upload):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(SqliteStore, "add_upload", full)
    response = _post_file(idle, png_bytes("wave.jpg", 32))
    assert response.status_code == 500 and response.json()["detail"].startswith("internal error")
    assert list((tmp_path / "data" / "uploads").iterdir()) == []


def test_at_most_two_uploads_are_decoded_at_once_and_one_kept_waiting_is_a_503(
    tmp_path, monkeypatch
):
    import httpx

    from painterly.studio import service
    from painterly.studio.app import create_app
    from painterly.studio.guard import Access

    release, count = threading.Event(), threading.Lock()
    inside = most = 0
    real = service.decode_upload

    def held(data, limits):  # a decode that lasts until the test lets it end
        nonlocal inside, most
        with count:
            inside += 1
            most = max(most, inside)
        release.wait(60)
        with count:
            inside -= 1
        return real(data, limits)

    monkeypatch.setattr(service, "decode_upload", held)
    # A short wait: the two decodes in their slots last until released, whatever the speed.
    studio = Studio(tmp_path / "data", devices=["cpu"], limits=Limits(decode_wait=0.2))
    app = create_app(studio, access=Access.create(8000), start_workers=False)
    files = {"file": ("x.png", png_bytes("wave.jpg", 32), "image/png")}

    async def eight_at_once() -> tuple[list, list]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8000", headers=WRITE
        ) as client:
            tasks = {
                asyncio.create_task(client.post("/api/uploads", files=files)) for _ in range(8)
            }
            answered: set = set()
            while len(answered) < 6:
                done, _ = await asyncio.wait(
                    tasks - answered, timeout=60, return_when=asyncio.FIRST_COMPLETED
                )
                assert done, "no upload was refused: more than two were let in"
                answered |= done
            early = [task.result() for task in answered]
            release.set()
            return early, [await task for task in tasks - answered]

    try:
        refused, stored = asyncio.run(eight_at_once())
    finally:
        release.set()
        studio.close()
    assert most == 2
    assert [r.status_code for r in refused] == [503] * 6
    assert all("busy" in r.json()["detail"] and r.headers["retry-after"] for r in refused)
    assert [r.status_code for r in stored] == [201] * 2
    assert len(list((tmp_path / "data" / "uploads").iterdir())) == 2
