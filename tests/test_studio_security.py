"""A real ``painterly serve`` process against what another web page can make a browser send:
a cross-site form post, a request under another host name (DNS rebinding), and, when it
listens beyond loopback, a request without the token."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from studio_helpers import WRITE, Server, multipart, png_bytes

pytest.importorskip("fastapi")

LONG = {"size": 48, "iterations": 100000}
"""A job that is still running whenever the test looks."""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("security") / "data")
    yield server
    assert server.stop() == 0, server.output()


def _uploads(server: Server) -> tuple[int, int]:
    """Upload records and files in the server's data directory."""
    with sqlite3.connect(server.data_dir / "studio.sqlite3") as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM uploads").fetchone()
    return rows, len(list((server.data_dir / "uploads").iterdir()))


def _sentence(body: bytes) -> str:
    detail = json.loads(body)["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    return detail


def test_a_cross_origin_form_upload_is_refused_and_stores_nothing(server):
    body, kind = multipart(png_bytes("wave.jpg", 32))
    own = f"127.0.0.1:{server.port}"
    before = _uploads(server)
    # What a browser sends for an HTML form on another site that posts a file here.
    form = {"Host": own, "Origin": "http://evil.example", "Content-Type": kind}
    status, headers, answer = server.raw("POST", "/api/uploads", form, body)
    assert status == 403 and "its own page" in _sentence(answer)
    assert headers["X-Frame-Options"] == "DENY"
    assert _uploads(server) == before
    # The studio's own page, with the header it sends, is taken.
    page = {**form, "Origin": f"http://{own}", "Sec-Fetch-Site": "same-origin", **WRITE}
    status, _, answer = server.raw("POST", "/api/uploads", page, body)
    assert status == 201, answer
    assert _uploads(server) == (before[0] + 1, before[1] + 1)


def test_a_cross_site_cancel_is_refused_and_the_job_runs_on(server):
    refs = {"content": {"example": "tubingen.jpg"}, "styles": [{"example": "wave.jpg"}]}
    job = server.request("POST", "/api/jobs", {**refs, "options": LONG})["id"]
    form = {
        "Host": f"127.0.0.1:{server.port}",
        "Origin": "http://evil.example",
        "Sec-Fetch-Site": "cross-site",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    for method, path in [("POST", f"/api/jobs/{job}/cancel"), ("DELETE", f"/api/jobs/{job}")]:
        status, _, answer = server.raw(method, path, form, b"")
        assert status == 403, answer
    assert server.get(f"/api/jobs/{job}")["state"] in ("queued", "running")
    # The same cancel from a script (JSON) is taken: the refusal was the only thing in the way.
    server.request("POST", f"/api/jobs/{job}/cancel")
    assert server.last_event(job)["state"] == "cancelled"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/jobs"), ("GET", "/"), ("POST", "/api/jobs")]
)
def test_a_request_for_another_host_name_is_refused(server, method, path):
    # DNS rebinding: evil.example now resolves to 127.0.0.1, and its page reads "its" origin.
    headers = {"Host": f"evil.example:{server.port}", "Content-Type": "application/json"}
    body = b"{}" if method == "POST" else None
    status, _, answer = server.raw(method, path, headers, body)
    assert status == 421 and "answers only to" in _sentence(answer)
    assert b'"state"' not in answer


def test_beyond_loopback_nothing_is_answered_without_the_token(tmp_path):
    # Listens on every address, but the test only ever talks to 127.0.0.1.
    server = Server(tmp_path / "data", "--host", "0.0.0.0")
    try:
        output = server.output()
        assert "listening on 0.0.0.0, not localhost" in output
        token = re.search(r"http://127\.0\.0\.1:\d+/\?token=([\w-]+) ", output)[1]
        own = {"Host": f"127.0.0.1:{server.port}"}
        for wrong in [{}, {"Authorization": "Bearer " + "x" * len(token)}]:
            status, headers, answer = server.raw("GET", "/api/jobs", {**own, **wrong})
            assert status == 401 and "needs its token" in _sentence(answer)
        status, _, answer = server.raw(
            "GET", "/api/jobs", {**own, "Authorization": f"Bearer {token}"}
        )
        assert status == 200 and json.loads(answer) == []
        # Opening the printed address sets the cookie the page's requests then carry.
        status, headers, _ = server.raw("GET", f"/?token={token}", own)
        assert status == 303 and headers["Location"] == "/"
        cookie = headers["Set-Cookie"].split(";")[0]
        status, _, page = server.raw("GET", "/", {**own, "Cookie": cookie})
        assert status == 200 and b"<html" in page.lower()
    finally:
        assert server.stop() == 0, server.output()
