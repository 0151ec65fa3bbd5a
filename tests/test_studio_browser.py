"""End to end: Debian's chromium, driven headless by Playwright, uses the studio's page to
upload two images, start a tiny job, watch it progress and download the result; and a page
on another site fails to upload through the same browser.

Playwright runs the system browser (never a downloaded one); .ci/run installs it. Outside
CI the test is skipped where chromium or playwright is missing.
"""

from __future__ import annotations

import io
import os
import re
import shutil

import pytest
from PIL import Image
from studio_helpers import Server, png_bytes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"{why}; .ci/run should have installed it")
        pytest.skip(why)


@pytest.fixture(scope="module")
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    _need(sync_playwright is not None, "the playwright package is not installed")
    _need(CHROMIUM is not None, "no system chromium")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright):
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
    )
    yield browser
    browser.close()


def _recorded_page(browser, **options):
    """A new page, with the script errors it raises and the URLs it requests recorded."""
    page = browser.new_page(**options)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    return page, errors, requests


def test_the_page_uploads_runs_shows_progress_and_downloads_the_result(browser, tmp_path):
    content, style = tmp_path / "photo.png", tmp_path / "painting.png"
    content.write_bytes(png_bytes("tubingen.jpg", 64))
    style.write_bytes(png_bytes("starry_night.jpg", 64))
    server = Server(tmp_path / "data")
    page, errors, requests = _recorded_page(browser, accept_downloads=True)
    # Every text the status line shows, recorded as it changes (an init script is not
    # subject to the page's Content-Security-Policy, which rightly forbids eval).
    page.add_init_script(
        """
        window.__statuses = [];
        document.addEventListener("DOMContentLoaded", () => {
          const status = document.getElementById("status");
          new MutationObserver(() => window.__statuses.push(
            [status.textContent, document.getElementById("progress").value]
          )).observe(status, {childList: true, characterData: true, subtree: true});
        });
        """
    )
    try:
        page.goto(server.url + "/")
        page.wait_for_selector("#method option[value=gatys]", state="attached")

        page.set_input_files("#content-file", str(content))
        page.wait_for_selector("#content-chosen .chip")
        # A file name with markup is shown as text, never run or parsed as HTML.
        hostile = '<img src=x onerror="window.pwned=1">.png'
        page.set_input_files(
            "#style-files",
            [{"name": hostile, "mimeType": "image/png", "buffer": style.read_bytes()}],
        )
        page.wait_for_selector("#styles-chosen .chip")
        assert page.inner_text("#styles-chosen .chip span") == hostile
        assert page.locator("#styles-chosen img[src='x']").count() == 0

        page.fill("#size", "48")
        page.fill("#iterations", "20")
        page.click("#start")
        page.wait_for_selector("#download", state="visible", timeout=300_000)
        assert page.inner_text("#status").startswith("done: iteration 20 of 20")
        statuses = page.evaluate("window.__statuses")
        running = [value for text, value in statuses if text.startswith("running: iteration")]
        assert any(0 < value < 20 for value in running), statuses  # the bar moved on its way
        assert any("ETA" in text for text, _ in statuses)
        assert page.is_hidden("#cancel") and page.is_hidden("#restart")
        assert page.get_attribute("#live-image", "src")

        with page.expect_download() as download_info:
            page.click("#download")
        saved = tmp_path / "download.png"
        download_info.value.save_as(saved)
        image = Image.open(io.BytesIO(saved.read_bytes()))
        image.load()
        assert image.format == "PNG" and max(image.size) == 48

        page.wait_for_selector("#gallery .card .state.done")
        first = page.get_attribute("#gallery .card", "data-job")

        # "Run again with changes": the form comes back filled in; change one setting.
        page.click("#gallery .card >> text=Run again with changes")
        assert page.input_value("#size") == "48" and page.input_value("#iterations") == "20"
        assert page.locator("#styles-chosen .chip").count() == 1
        assert page.is_visible("#rerun-note")
        page.fill("#iterations", "2")
        assert not page.is_checked("#photorealistic")
        page.check("#photorealistic")  # the photo preset, with the matting term
        page.click("#start")
        page.wait_for_selector(f"#gallery .card:nth-child(2)[data-job='{first}']")
        second = page.get_attribute("#gallery .card:nth-child(1)", "data-job")
        rerun = server.get(f"/api/jobs/{second}")
        assert rerun["parent"] == first and rerun["options"]["iterations"] == "2"
        assert rerun["options"]["photorealistic"] is True
        assert rerun["styles"] == server.get(f"/api/jobs/{first}")["styles"]
        assert page.evaluate("window.pwned") is None
        assert errors == []
        assert all(url.startswith(server.url) or url.startswith("data:") for url in requests)
    finally:
        page.close()
        server.stop()


def test_the_page_takes_a_clip_shows_its_frames_as_they_finish_and_plays_the_result(
    browser, tmp_path
):
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    from video_helpers import write_clip

    clip, style = tmp_path / "pan.mp4", tmp_path / "painting.png"
    write_clip(clip, frames=6, size=(64, 48), fps=8)
    style.write_bytes(png_bytes("starry_night.jpg", 64))
    server = Server(tmp_path / "data", "--max-video-seconds", "5")
    page, errors, requests = _recorded_page(browser)
    # The status line's texts and the frames the live image showed, as they change.
    page.add_init_script(
        """
        window.__statuses = [];
        window.__frames = [];
        document.addEventListener("DOMContentLoaded", () => {
          const status = document.getElementById("status");
          const live = document.getElementById("live-image");
          new MutationObserver(() => window.__statuses.push(status.textContent))
            .observe(status, {childList: true, characterData: true, subtree: true});
          new MutationObserver(() => window.__frames.push([status.textContent, live.src]))
            .observe(live, {attributes: true, attributeFilter: ["src"]});
        });
        """
    )
    try:
        page.goto(server.url + "/")
        page.wait_for_selector("#method option[value=adain]", state="attached")
        assert page.is_hidden("#video-settings")
        assert "at most 5 s and 64 MB" in page.text_content("#video-note")
        page.set_input_files("#content-file", str(clip))
        page.wait_for_selector("#content-chosen .chip")
        assert "video, 0.8 s, 6 frames" in page.inner_text("#content-chosen .chip span")
        assert page.is_visible("#video-settings")
        page.set_input_files("#style-files", str(style))
        page.wait_for_selector("#styles-chosen .chip")
        page.select_option("#method", "adain")
        page.fill("#size", "48")
        page.fill("[data-video=blend]", "0.4")
        page.click("#start")

        page.wait_for_selector("#result-video", state="visible", timeout=300_000)
        # The clip plays from the studio under the page's Content-Security-Policy. (Waited on
        # by its own event: wait_for_function with an expression polls through eval, which
        # that policy forbids, so it failed whenever the first look came too early.)
        loaded = page.evaluate(
            """() => new Promise((resolve) => {
                 const v = document.getElementById("result-video");
                 if (v.readyState >= 1) return resolve(true);
                 v.addEventListener("loadedmetadata", () => resolve(true), { once: true });
                 v.addEventListener("error", () => resolve(false), { once: true });
                 setTimeout(() => resolve(false), 60000);
               })"""
        )
        assert loaded, "the result video did not load"
        played = page.evaluate(
            """() => { const v = document.getElementById("result-video");
                       return [v.videoWidth, v.videoHeight, v.duration]; }"""
        )
        assert played[:2] == [48, 36] and abs(played[2] - 0.75) < 0.05, played
        assert page.inner_text("#status") == "done: frame 6 / 6"
        assert page.is_hidden("#live-image")
        statuses = page.evaluate("window.__statuses")
        told = [int(m[1]) for t in statuses if (m := re.match(r"running: frame (\d) / 6 ·", t))]
        assert told and told == sorted(told) and told[-1] <= 6, statuses
        frames = page.evaluate("window.__frames")
        assert any(
            text.startswith("running: frame") and src.startswith("data:image/jpeg")
            for text, src in frames
        ), frames  # a frame shown as it was finished
        page.wait_for_selector("#gallery .card .state.done")
        assert "video · frame 6 / 6" in page.inner_text("#gallery .card")
        [job] = server.get("/api/jobs")
        assert (job["kind"], job["video"], job["options"]["method"]) == (
            "video", {"blend": "0.4"}, "adain",
        )  # fmt: skip
        assert errors == []
        assert all(url.startswith(server.url) or url.startswith("data:") for url in requests)
    finally:
        page.close()
        server.stop()


def test_a_page_on_another_site_cannot_upload_through_the_browser(playwright, tmp_path):
    server = Server(tmp_path / "data")
    # Chromium's own guard for local addresses is turned off: the studio must not rely on
    # it (other browsers have none), so the request has to reach the server to be judged.
    unguarded = "--disable-features=" + ",".join(
        [
            "BlockInsecurePrivateNetworkRequests",
            "PrivateNetworkAccessSendPreflights",
            "PrivateNetworkAccessRespectPreflightResults",
            "LocalNetworkAccessChecks",
        ]
    )
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox", unguarded]
    )
    try:
        page = browser.new_page()
        evil = "<html><body>a page on another site</body></html>"
        page.route("http://evil.example/", lambda route: route.fulfill(body=evil))
        page.goto("http://evil.example/")
        with page.expect_event("requestfailed") as failed:
            outcome = page.evaluate(
                """async ([url, bytes]) => {
                  const form = new FormData();
                  form.append("file", new Blob([new Uint8Array(bytes)]), "photo.png");
                  try {
                    const how = {method: "POST", mode: "no-cors", body: form};
                    await fetch(url + "/api/uploads", how);
                    return "sent";
                  } catch (error) { return "refused"; }
                }""",
                [server.url, list(png_bytes("wave.jpg", 32))],
            )
        failure = failed.value.failure
    finally:
        browser.close()
        server.stop()
    # The studio stored nothing …
    assert list((tmp_path / "data" / "uploads").iterdir()) == []
    # … though the request reached it (its answer was not the page's to read).
    assert "ERR_BLOCKED_BY_RESPONSE" in failure, failure
    assert outcome == "refused"
