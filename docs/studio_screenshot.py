"""The README's screenshot of the studio: a real server, a real job, Debian's chromium.

    OMP_NUM_THREADS=1 python docs/studio_screenshot.py [--out docs/images/studio.jpg] [--size 128]

Starts ``painterly serve`` on a free port with a fresh data directory, uses the page as a
person would (upload a photograph and a painting, set the size, start), waits for the job
to finish, runs a second one so the gallery shows two, and saves a JPEG of the page. A
screenshot taken while the first job runs goes beside it as ``*-running.jpg`` (not for
the README; for checking the progress display by eye). On a busy 2-core machine one
torch thread (OMP_NUM_THREADS=1) was many times faster than two.
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("painterly serve exited early")
        try:
            urllib.request.urlopen(url + "/api/options", timeout=5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("painterly serve did not answer")


def _jpeg(png: bytes, path: Path, limit: int = 300_000) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    for quality in (88, 80, 70, 60):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, optimize=True)
        if buffer.tell() <= limit:
            break
    path.write_bytes(buffer.getvalue())
    print(f"{path} ({buffer.tell() // 1024} KB)")


def _run_job(page, content: Path, style: Path, size: int, iterations: int, running: Path | None):
    if page.get_attribute("details", "open") is None:
        page.click("details summary")
    page.select_option("select[data-option=init]", "content")  # a fair picture in few steps
    while page.locator(".chosen .chip button").count():
        page.locator(".chosen .chip button").first.click()
    page.set_input_files("#content-file", str(content))
    page.wait_for_selector("#content-chosen .chip")
    page.set_input_files("#style-files", str(style))
    page.wait_for_selector("#styles-chosen .chip")
    page.fill("#size", str(size))
    page.fill("#iterations", str(iterations))
    page.click("#start")
    if running is not None:
        page.wait_for_selector(f"#progress:not([value='0']):not([value='{iterations}'])",
                               state="attached", timeout=600_000)  # fmt: skip
        page.wait_for_selector("#live-image[src^='data:']", timeout=600_000)
        _jpeg(page.screenshot(full_page=True), running)
    page.wait_for_selector("#download:not([hidden])", timeout=1_800_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "studio.jpg")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=60)
    args = parser.parse_args()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp)
        for name in ("tubingen.jpg", "starry_night.jpg", "the_scream.jpg"):
            image = Image.open(ROOT / "examples" / name).convert("RGB")
            image.thumbnail((384, 384))
            image.save(inputs / name.replace(".jpg", ".png"))
        server = subprocess.Popen(
            [sys.executable, "-m", "painterly", "serve", "--port", str(port),
             "--data-dir", str(inputs / "data")],
        )  # fmt: skip
        try:
            _wait_until_up(url, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which("chromium"), args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1200, "height": 860})
                page.goto(url + "/")
                page.wait_for_selector("#method option[value=gatys]", state="attached")
                _run_job(page, inputs / "tubingen.png", inputs / "the_scream.png",
                         args.size, args.iterations // 2, None)  # fmt: skip
                running = args.out.with_name(args.out.stem + "-running.jpg")
                _run_job(page, inputs / "tubingen.png", inputs / "starry_night.png",
                         args.size, args.iterations, running)  # fmt: skip
                page.wait_for_selector("#gallery .card:nth-child(2) .state.done")
                _jpeg(page.screenshot(full_page=True), args.out)
                browser.close()
        finally:
            server.terminate()
            server.wait(60)


if __name__ == "__main__":
    main()
