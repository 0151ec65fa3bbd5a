"""Properties of the studio's API under arbitrary input, in process: whatever a client sends
(option bodies of any JSON shape, any bytes as an upload, any id or path), the answer is
never a 5xx, nothing is logged with a traceback, and a refused request leaves nothing
behind (no job, no upload record, no file)."""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from studio_helpers import WRITE, in_process, multipart, png_bytes

pytest.importorskip("fastapi")

from painterly.config.options import option_fields  # noqa: E402
from painterly.studio.service import Studio, examples, is_id  # noqa: E402

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Records(logging.Handler):
    """Every record of WARNING or above, from any logger (painterly.studio, uvicorn,
    fastapi, starlette all reach the root)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        taken, self.records = self.records, []
        return taken


@pytest.fixture(scope="module")
def log() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture(scope="module")
def served(tmp_path_factory, log):
    studio = Studio(tmp_path_factory.mktemp("studio") / "data", devices=["cpu"])
    with in_process(studio, workers=False) as client:
        client._transport.raise_server_exceptions = False  # a 500 is an answer to check
        upload = client.post(
            "/api/uploads", files={"file": ("x.png", png_bytes("wave.jpg", 32), "image/png")}
        ).json()["id"]
        yield studio, client, upload
    studio.close()


def _answered(response, log: Records) -> str | None:
    """Check the properties every answer has; return its ``detail`` if it is a refusal."""
    assert response.status_code < 500, response.text
    for record in log.take():
        unexpected = record.exc_info is not None or record.levelno >= logging.ERROR
        assert not unexpected, record.getMessage()
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail and "\n" not in detail
        return detail
    return None


def _state(studio: Studio) -> tuple[int, int, int]:
    """Jobs, upload records and upload files: what a refused request must not change."""
    with studio.store._lock:
        uploads = studio.store._db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0]
    files = sum(1 for _ in studio.uploads_dir.iterdir())
    return len(studio.store.list_jobs()), uploads, files


# JSON of any shape, NaN and ±Infinity included (Python reads them from a body).
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=12)
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# Values that get past the first checks, so that the deeper ones are reached too.
PLAUSIBLE = st.sampled_from(
    [
        48, "48", 16, 17, 2048, 4096, 2**64, -1, 0, 0.001, 0.5, 1, 3, 1e308, "",
        "gatys", "adain", "wct", "auto", "none", "32:2,48:2", "16:1", [[32, 2], [48, 2]],
        "conv4_2", "conv1_1:0.5,conv4_2", {"conv4_2": 1}, "relu4_1", "vgg19-normalized",
        "vgg19-keras", "adain-decoder", "noise", "content", "style", "/etc/passwd",
        "long", "short", "width", "height", "luminance", "histogram", "0.7,0.3", [0.5, 0.5],
        "gatys2016", "lbfgs", "adam", "max", "bf16", "paper", "keras", "cpu",
    ]
)  # fmt: skip
NAMES = [f.name for f in option_fields()] + ["preset", "ratio"]
OPTIONS = st.dictionaries(st.sampled_from(NAMES), PLAUSIBLE | JSON, max_size=3)
"""Options by their own names (mostly), each of any JSON value."""


def _submitted(served, log, body) -> None:
    """Post ``body`` as a job: a 201 stores exactly that job, a refusal nothing."""
    studio, client, _ = served
    before = _state(studio)
    response = client.post(
        "/api/jobs", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    detail = _answered(response, log)
    jobs, *rest = _state(studio)
    if detail is None:
        assert response.status_code == 201
        assert (jobs, *rest) == (before[0] + 1, *before[1:])
        assert studio.store.get_job(response.json()["id"]).options == body.get("options", {})
    else:
        assert response.status_code in (400, 413, 422), response.text
        assert (jobs, *rest) == before


@SETTINGS
@given(data=st.data())
def test_any_option_values_are_answered_below_500_and_a_refused_job_stores_nothing(
    served, log, data
):
    upload = served[2]
    inputs = st.sampled_from([{"upload": upload}, {"example": "tubingen.jpg"}])
    body = {
        "content": data.draw(inputs),
        "styles": data.draw(st.lists(inputs, min_size=1, max_size=2)),
        "options": data.draw(OPTIONS | st.dictionaries(st.text(max_size=8), JSON, max_size=2)),
    }
    _submitted(served, log, body)


@SETTINGS
@given(data=st.data())
def test_a_job_request_of_any_shape_is_answered_below_500_and_stores_nothing_if_refused(
    served, log, data
):
    good = st.sampled_from([{"upload": served[2]}, {"example": "tubingen.jpg"}])
    refs = good | st.fixed_dictionaries({}, optional={"upload": JSON, "example": JSON}) | JSON
    parts = {"content": refs, "styles": st.lists(refs, max_size=9) | refs, "options": JSON}
    body = data.draw(
        st.fixed_dictionaries({}, optional={**parts, "parent": JSON, "extra": JSON}) | JSON
    )
    _submitted(served, log, body)


def _damaged(real: bytes) -> st.SearchStrategy:
    cut = st.integers(0, len(real)).map(lambda n: real[:n])
    flips = st.lists(st.tuples(st.integers(0, len(real) - 1), st.integers(0, 255)), max_size=4)
    flipped = flips.map(lambda changes: _flip(real, changes))
    return cut | flipped


def _flip(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    changed = bytearray(data)
    for at, value in changes:
        changed[at] = value
    return bytes(changed)


PNG = png_bytes("wave.jpg", 24)
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"


@SETTINGS
@given(
    data=st.binary(max_size=2000)
    | _damaged(PNG)
    | st.binary(max_size=200).map(lambda tail: JPEG_HEAD + tail),
    name=st.binary(max_size=40),
)
def test_any_upload_is_answered_below_500_and_a_refused_one_leaves_no_file(served, log, data, name):
    studio, client, _ = served
    body, kind = multipart(data, "photo.png")
    # The name as raw bytes in the part's header: quotes, line breaks, invalid UTF-8.
    body = body.replace(b'filename="photo.png"', b'filename="' + name + b'"', 1)
    before = _state(studio)
    response = client.post("/api/uploads", content=body, headers={"Content-Type": kind, **WRITE})
    detail = _answered(response, log)
    after = _state(studio)
    if detail is None:
        assert response.status_code == 201
        assert after == (before[0], before[1] + 1, before[2] + 1)
        assert client.get(response.json()["url"]).content[:4] == b"\x89PNG"
    else:
        assert response.status_code in (400, 413, 422), response.text
        assert after == before


ROUTES = [
    ("GET", "/api/jobs/{}"),
    ("GET", "/api/jobs/{}/result"),
    ("GET", "/api/jobs/{}/preview"),
    ("GET", "/api/jobs/{}/events"),
    ("GET", "/api/uploads/{}/image"),
    ("GET", "/api/examples/{}"),
    ("POST", "/api/jobs/{}/cancel"),
    ("POST", "/api/jobs/{}/restart"),
    ("DELETE", "/api/jobs/{}"),
]


@SETTINGS
@given(
    segment=st.text(max_size=40) | st.sampled_from(["..", ".", "%2e%2e", "0" * 32, "a" * 5000]),
    route=st.sampled_from(ROUTES),
    safe=st.sampled_from(["", "/"]),
)
def test_any_id_or_path_is_a_404_never_a_500(served, log, segment, route, safe):
    studio, client, _ = served
    method, template = route
    before = _state(studio)
    # Quoted as a client must; with "/" left as it is, the path may name another route.
    response = client.request(method, template.format(urllib.parse.quote(segment, safe=safe)))
    _answered(response, log)
    one_segment = segment not in ("", ".", "..") and "/" not in segment
    if one_segment and not is_id(segment) and segment not in examples():
        assert response.status_code == 404, (method, template, segment)
    assert _state(studio) == before
