"""Shared by the studio tests: the app in process, a real server process, its event
streams, and polling without fixed sleeps for what nothing tells of (a process starting to
answer)."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WRITE = {"X-Painterly": "1"}
"""The header the studio's page sends with every change."""


def in_process(studio: Any, *, workers: bool = True, access: Any = None, headers: Any = WRITE):
    """A TestClient of the app over ``studio``, talking to it as its own page does: at
    http://127.0.0.1:8000 (or ``access``'s port), with ``headers`` on every request."""
    from painterly.studio.app import create_app
    from painterly.studio.guard import Access

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note about which httpx it prefers
        from fastapi.testclient import TestClient

    access = access or Access.create(8000)
    app = create_app(studio, access=access, start_workers=workers)
    return TestClient(app, base_url=f"http://127.0.0.1:{access.port}", headers=headers)


@contextmanager
def watch(client: Any, job_id: str) -> Iterator[Iterator[dict]]:
    """The job's events (the studio's event stream) as they come, read while it is open."""
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        lines = stream.iter_lines()
        yield (json.loads(line[5:]) for line in lines if line.startswith("data:"))


def multipart(data: bytes, name: str = "image.png", field: str = "file") -> tuple[bytes, str]:
    """A multipart/form-data body with one file, and its Content-Type."""
    boundary = "painterlyboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def png_bytes(name: str, side: int) -> bytes:
    """A bundled example, shrunk to ``side`` px and encoded as PNG."""
    image = Image.open(EXAMPLES / name).convert("RGB")
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``painterly serve`` in a subprocess on a free port, with a tiny JSON client."""

    def __init__(self, data_dir: Path, *args: str, token: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.log = open(data_dir.parent / f"serve-{self.port}.log", "w+b")  # noqa: SIM115
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "painterly", "serve", "--port", str(self.port),
             "--data-dir", str(data_dir), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
            # SIGINT stops it cleanly even when CI runs as a background job that ignores it
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        wait_for(self._ready, 120, "the studio to answer")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"painterly serve exited early:\n{self.output()}")
        try:
            self.get("/api/options")
        except urllib.error.HTTPError:
            return True  # it answers, if only to refuse
        except OSError:
            return False
        return True

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **self.headers}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(payload)
        return payload

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def events(self, job_id: str) -> Iterator[dict]:
        """The job's server-sent events as they come, until its last; close it to hang up."""
        url = f"{self.url}/api/jobs/{job_id}/events"
        request = urllib.request.Request(url, headers=self.headers)
        # The timeout is a deadline for a stream that went silent, never a wait for progress.
        with urllib.request.urlopen(request, timeout=300) as response:
            for line in response:
                if line.startswith(b"data:"):
                    yield json.loads(line[5:])

    def first_event(self, job_id: str, check: Callable[[dict], bool]) -> dict:
        """The job's first event (from now) for which ``check`` is true."""
        with closing(self.events(job_id)) as events:
            return next(event for event in events if check(event))

    def last_event(self, job_id: str) -> dict:
        """The job's last event: the job once it has finished."""
        *_, last = self.events(job_id)
        return last

    def upload(self, data: bytes, name: str = "image.png") -> str:
        body, kind = multipart(data, name)
        request = urllib.request.Request(
            self.url + "/api/uploads",
            data=body,
            method="POST",
            headers={"Content-Type": kind, **WRITE, **self.headers},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["id"]

    def raw(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request exactly as given (its own Host, Origin, no token unless given):
        the status, headers and body of the answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self.log.close()
        return self.process.returncode
