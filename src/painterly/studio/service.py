"""The studio's jobs and files behind the web API: validation of job requests, where each
file lives in the data directory, and the workers.

Layout of the data directory (every name below is chosen by the server)::

    studio.sqlite3            jobs and uploads (see store.py)
    uploads/<upload id>.png   uploaded images, decoded, checked and re-encoded
    jobs/<job id>/            result.png, checkpoint.png (the last saved iterate)
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from painterly.config.options import INITS, Options
from painterly.controls.inputs import blend_weights
from painterly.errors import PainterlyError
from painterly.io.images import load_image, save_image
from painterly.models.weights import SOURCES
from painterly.studio.live import Lives, jpeg, shown
from painterly.studio.store import FINISHED, Job, SqliteStore, Upload
from painterly.studio.uploads import Limits, decode_upload
from painterly.studio.worker import Worker

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"
EXAMPLE_NAMES = (
    "tubingen.jpg",
    "starry_night.jpg",
    "the_scream.jpg",
    "composition_vii.jpg",
    "shipwreck.jpg",
    "wave.jpg",
    "rocket.jpg",
)
"""The bundled images a job may name; the only example paths the server ever opens."""

MAX_STYLES = 8
MAX_SIZE = 2048
"""Largest output side a job may ask for (memory and time on a shared machine)."""

CHECKPOINT_EVERY = 20
_ID = re.compile(r"[0-9a-f]{32}")

SERVER_OPTIONS = {
    "device": "the studio chooses the device its workers run on",
    "masks": "masks name files on the server, which the studio does not allow yet",
}
"""Options a client may not set, and why."""

STUDIO_CHOICES = {"init": INITS, "weights": tuple(SOURCES)}
"""Options that may name a file elsewhere, limited here to the values that name none."""


def examples() -> dict[str, Path]:
    """The bundled example images present in this installation, by name."""
    return {name: EXAMPLES_DIR / name for name in EXAMPLE_NAMES if (EXAMPLES_DIR / name).is_file()}


def default_devices() -> list[str]:
    """One worker per device: every CUDA GPU, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        return ["mps"]
    return ["cpu"]


def check_options(values: Any, styles: int, max_size: int = MAX_SIZE) -> Options:
    """Validate a client's option values as :meth:`Options.build` does, refusing those that
    name server files or choose the device; raises PainterlyError with the reason."""
    if not isinstance(values, dict):
        raise PainterlyError("options must be an object of option names and values")
    for name, why in SERVER_OPTIONS.items():
        if values.get(name) not in (None, "", [], "auto"):
            raise PainterlyError(f"option {name!r} cannot be set here: {why}")
    values = {k: v for k, v in values.items() if k not in SERVER_OPTIONS}
    for name, choices in STUDIO_CHOICES.items():
        if name in values and str(values[name]).strip().lower() not in choices:
            raise PainterlyError(f"{name} must be one of {', '.join(choices)} in the studio")
    options = Options.build(**values)
    biggest = max(size for size, _ in options.stages)
    if biggest > max_size:
        raise PainterlyError(f"the studio makes images of at most {max_size} px, not {biggest}")
    blend_weights(styles, options.style_blend)
    return options


class Studio:
    """Jobs, uploads and workers over one data directory (one studio process at a time)."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        devices: list[str] | None = None,
        limits: Limits | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
        max_size: int = MAX_SIZE,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.uploads_dir = self.data_dir / "uploads"
        self.jobs_dir = self.data_dir / "jobs"
        for folder in (self.data_dir, self.uploads_dir, self.jobs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.data_dir / "studio.lock", "w")  # noqa: SIM115 - held
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise PainterlyError(
                f"another painterly studio is using {self.data_dir}; stop it or choose "
                "another --data-dir"
            ) from None
        self.store = SqliteStore(self.data_dir / "studio.sqlite3")
        self.limits = limits or Limits()
        self.checkpoint_every = checkpoint_every
        self.max_size = max_size
        self.lives = Lives()
        # A cancel that arrives between a worker claiming a job and registering it waits here.
        self.pending_cancel: dict[str, str] = {}
        self.handoff = threading.Lock()
        self.wake = threading.Event()
        # Whatever was running when the last process died cannot still be running.
        self.store.interrupt_running()
        self.workers = [Worker(self, device) for device in devices or default_devices()]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers (a running job becomes interrupted) and release the data dir."""
        for worker in self.workers:
            worker.stop()
        self.wake.set()
        for worker in self.workers:
            if worker.is_alive():
                worker.join(timeout)
        self.store.close()
        self._lock_file.close()

    # Files: every path is built from a server-chosen id, checked against its pattern.

    def upload_path(self, upload_id: str) -> Path:
        if not _ID.fullmatch(upload_id):
            raise KeyError(upload_id)
        return self.uploads_dir / f"{upload_id}.png"

    def job_dir(self, job_id: str) -> Path:
        if not _ID.fullmatch(job_id):
            raise KeyError(job_id)
        return self.jobs_dir / job_id

    def result_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "result.png"

    def checkpoint_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "checkpoint.png"

    def input_path(self, ref: dict[str, str]) -> Path:
        """The file of ``{"upload": id}`` or ``{"example": name}``; KeyError if unknown."""
        if "upload" in ref:
            if self.store.get_upload(str(ref["upload"])) is None:
                raise KeyError(ref["upload"])
            return self.upload_path(ref["upload"])
        return examples()[ref["example"]]

    def load_input(self, ref: dict[str, str], role: str) -> Image.Image:
        return load_image(self.input_path(ref), role)

    # Operations of the API.

    def add_upload(self, data: bytes, name: str) -> Upload:
        """Check and store an uploaded image (UploadRejected if it is not acceptable)."""
        image = decode_upload(data, self.limits)
        upload = self.store.add_upload(name[:200], *image.size)
        save_image(image, self.upload_path(upload.id))
        return upload

    def check_input(self, ref: Any, role: str) -> dict[str, str]:
        if isinstance(ref, dict) and set(ref) == {"upload"}:
            upload_id = str(ref["upload"])
            if not _ID.fullmatch(upload_id) or self.store.get_upload(upload_id) is None:
                raise PainterlyError(f"the {role} names an upload that does not exist")
            return {"upload": upload_id}
        if isinstance(ref, dict) and set(ref) == {"example"}:
            if ref["example"] not in examples():
                raise PainterlyError(
                    f"the {role} names no bundled example; examples are "
                    f"{', '.join(examples()) or 'not installed'}"
                )
            return {"example": str(ref["example"])}
        raise PainterlyError(f'the {role} must be {{"upload": ID}} or {{"example": NAME}}')

    def submit(self, content: Any, styles: Any, options: Any, parent: str | None = None) -> Job:
        """Validate and queue a job (PainterlyError: the reason it is refused)."""
        content = self.check_input(content, "content image")
        if not isinstance(styles, list) or not 1 <= len(styles) <= MAX_STYLES:
            raise PainterlyError(f"give between 1 and {MAX_STYLES} style images")
        styles = [self.check_input(style, "style image") for style in styles]
        checked = check_options(options, len(styles), self.max_size)
        if parent is not None and (not _ID.fullmatch(parent) or not self.store.get_job(parent)):
            parent = None
        job = self.store.create_job(content, styles, options, parent)
        total = sum(iterations for _, iterations in checked.stages)
        self.store.update_job(job.id, total=total)
        self.wake.set()
        return self.store.get_job(job.id) or job

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False if it has already finished."""
        if self.store.cancel_queued(job_id):
            self.lives.touch(job_id)
            return True
        with self.handoff:
            if any(worker.request_stop(job_id, "cancelled") for worker in self.workers):
                return True
            job = self.store.get_job(job_id)
            if job is not None and job.state == "running":
                self.pending_cancel[job_id] = "cancelled"
                return True
        return False

    def restart(self, job_id: str) -> bool:
        """Queue an interrupted, failed or cancelled job again (resuming where it can)."""
        job = self.store.get_job(job_id)
        if job is None or job.state not in FINISHED or job.state == "done":
            return False
        self.store.update_job(job_id, iteration=job.checkpoint)
        if not self.store.requeue(job_id):
            return False
        self.wake.set()
        return True

    def delete(self, job_id: str) -> bool:
        """Delete a job that is not running, with its files."""
        if not self.store.delete_job(job_id):
            return False
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        self.lives.touch(job_id)
        return True

    def view(self, job_id: str) -> Job | None:
        """The job as stored, with the live progress of a running one laid over it."""
        change = self.lives.latest(job_id)  # first: the store is then at least as new
        job = self.store.get_job(job_id)
        return shown(job, change) if job is not None else None

    def final_preview(self, job_id: str) -> bytes | None:
        """A finished job's image as a JPEG preview: its result, else its last checkpoint."""
        for path in (self.result_path(job_id), self.checkpoint_path(job_id)):
            try:
                with Image.open(path) as image:
                    return jpeg(image)
            except FileNotFoundError:  # none, or deleted meanwhile
                continue
        return None
