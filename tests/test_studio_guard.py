"""The studio's guard in process: which requests other web pages (and DNS rebinding) can
make it answer or act on, the token, and the headers on every response."""

from __future__ import annotations

import pytest
from studio_helpers import WRITE, in_process, multipart, png_bytes

pytest.importorskip("fastapi")

from painterly.studio.guard import Access  # noqa: E402
from painterly.studio.service import Studio  # noqa: E402

OWN = "http://127.0.0.1:8000"
TOKEN = "a-token-of-twenty-chars"
JOB = {"content": {"example": "tubingen.jpg"}, "styles": [{"example": "wave.jpg"}]}


@pytest.fixture()
def studio(tmp_path):
    studio = Studio(tmp_path / "data", devices=["cpu"])
    yield studio
    studio.close()


@pytest.fixture()
def bare(studio):
    """A client that sends only the headers each test gives, as a browser's request would."""
    with in_process(studio, workers=False, headers={}) as client:
        yield client


def _stored(studio) -> tuple[int, int]:
    uploads = len(list(studio.uploads_dir.iterdir()))
    return uploads, len(studio.store.list_jobs())


def _detail(response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.1:8001", "localhost.evil:8000", ""]
)
def test_a_request_naming_another_host_is_refused_reads_included(bare, studio, host):
    for method, path in [("GET", "/api/jobs"), ("GET", "/"), ("GET", "/static/app.js")]:
        response = bare.request(method, path, headers={"Host": host})
        assert "answers only to" in _detail(response, 421)
    response = bare.post("/api/jobs", json=JOB, headers={"Host": host})
    _detail(response, 421)
    assert _stored(studio) == (0, 0)


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST:8000"]
)
def test_the_studios_own_names_with_its_port_are_answered(bare, host):
    assert bare.get("/api/jobs", headers={"Host": host}).status_code == 200


def test_names_given_with_allow_host_are_answered_and_a_wildcard_is_no_name(studio):
    access = Access.create(8000, "0.0.0.0", TOKEN, also=["studio.lan"])
    assert access.hosts >= {"studio.lan:8000", "127.0.0.1:8000"}
    assert not any(host.startswith("0.0.0.0") for host in access.hosts)
    assert Access.create(80).hosts >= {"localhost", "localhost:80"}
    assert "[fe80::1]:8000" in Access.create(8000, "fe80::1").hosts


def _upload(client, headers):
    body, kind = multipart(png_bytes("wave.jpg", 32))
    return client.post("/api/uploads", content=body, headers={"Content-Type": kind, **headers})


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},  # a form on another site
        {"Origin": "http://evil.example", **WRITE},  # the header is not enough
        {"Origin": "null", **WRITE},  # a sandboxed frame or a file: page
        {"Origin": "http://127.0.0.1:9999", **WRITE},  # another server on this machine
        {"Sec-Fetch-Site": "cross-site", **WRITE},
        {"Sec-Fetch-Site": "same-site", **WRITE},
        {"Origin": OWN},  # the own origin, but a form could send this multipart
        {},
    ],
)
def test_an_upload_from_another_page_or_without_the_header_is_refused(bare, studio, headers):
    _detail(_upload(bare, headers), 403)
    assert _stored(studio) == (0, 0)


@pytest.mark.parametrize(
    "headers", [{"Origin": OWN, "Sec-Fetch-Site": "same-origin", **WRITE}, WRITE]
)
def test_an_upload_from_the_studios_page_or_a_script_is_taken(bare, studio, headers):
    assert _upload(bare, headers).status_code == 201
    assert _stored(studio) == (1, 0)


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("application/x-www-form-urlencoded", b"a=1"),
        ("text/plain", b'{"content": {"example": "tubingen.jpg"}}'),
        (None, None),
    ],
)
def test_a_cancel_restart_or_delete_a_form_could_send_is_refused(bare, studio, kind, body):
    job = in_process(studio, workers=False).post("/api/jobs", json=JOB).json()
    headers = {"Content-Type": kind} if kind else {}
    for method, path in [
        ("POST", f"/api/jobs/{job['id']}/cancel"),
        ("POST", f"/api/jobs/{job['id']}/restart"),
        ("DELETE", f"/api/jobs/{job['id']}"),
        ("POST", "/api/jobs"),
    ]:
        _detail(bare.request(method, path, content=body, headers=headers), 403)
    assert [j.state for j in studio.store.list_jobs()] == ["queued"]


def test_json_from_the_studios_own_origin_is_taken_and_from_another_refused(bare, studio):
    assert bare.post("/api/jobs", json=JOB, headers={"Origin": OWN}).status_code == 201
    other = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    _detail(bare.post("/api/jobs", json=JOB, headers=other), 403)
    assert len(studio.store.list_jobs()) == 1


def test_reads_from_other_pages_are_answered_as_the_browser_hides_them(bare):
    # A cross-site GET changes nothing and its answer is not readable without CORS.
    headers = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    response = bare.get("/api/jobs", headers=headers)
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


@pytest.fixture()
def locked(studio):
    """A studio that needs the token (as when it listens beyond loopback)."""
    access = Access.create(8000, "0.0.0.0", TOKEN)
    with in_process(studio, workers=False, access=access, headers={}) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-of-twenty-chars"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Cookie": "painterly_token_8000=wrong"},
        {"Cookie": f"painterly_token_8001={TOKEN}"},  # another studio's
        {"Cookie": '";;;=\x7f'},
    ],
)
def test_without_the_token_nothing_is_answered_or_done(locked, studio, headers):
    for method, path in [("GET", "/api/jobs"), ("GET", "/"), ("GET", "/docs")]:
        response = locked.request(method, path, headers=headers)
        assert "needs its token" in _detail(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    _detail(locked.post("/api/jobs", json=JOB, headers=headers), 401)
    assert _stored(studio) == (0, 0)


def test_the_token_as_a_bearer_or_from_the_printed_address_is_accepted(locked, studio):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert locked.get("/api/jobs", headers=bearer).status_code == 200
    assert locked.post("/api/jobs", json=JOB, headers=bearer).status_code == 201
    _detail(locked.get("/?token=wrong", follow_redirects=False), 401)
    login = locked.get(f"/?token={TOKEN}", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/"
    cookie = login.headers["set-cookie"]
    assert f"painterly_token_8000={TOKEN}" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    # The client keeps the cookie, as a browser does: the page and the API now answer.
    assert locked.get("/").status_code == 200
    assert locked.get("/api/jobs").json()[0]["state"] == "queued"


def test_every_response_forbids_framing_sniffing_and_referrers(bare):
    responses = [
        bare.get("/"),
        bare.get("/static/app.js"),
        bare.get("/static/nothing-here.js"),
        bare.get("/docs"),
        bare.get("/docs-static/swagger-ui-bundle.js"),
        bare.get("/openapi.json"),
        bare.get("/api/jobs/" + "0" * 32),
        bare.get("/api/jobs", headers={"Host": "evil.example"}),
        bare.post("/api/jobs", content=b"x"),
        bare.post("/api/jobs", content=b"x" * 100_000, headers=WRITE),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 200, 200, 200, 404, 421, 403, 413]
    for response in responses:
        headers = response.headers
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'self'" in responses[0].headers["content-security-policy"]


def test_an_internal_error_is_a_500_sentence_with_the_security_headers(
    bare, studio, monkeypatch, caplog
):
    from painterly.studio.guard import PAGE_CSP, SECURITY_HEADERS

    def broken():
        raise RuntimeError("a bug in the store")

    monkeypatch.setattr(studio.store, "list_jobs", broken)
    response = bare.get("/api/jobs", headers={"Host": "127.0.0.1:8000"})
    assert _detail(response, 500).startswith("internal error")
    assert "a bug in the store" not in response.text  # nothing of the code's inside
    assert response.headers["content-security-policy"] == PAGE_CSP
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "a bug in the store" in caplog.text  # the traceback is in the log
