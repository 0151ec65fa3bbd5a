"""The studio's jobs and files behind the web API: validation of job requests, where each
file lives in the data directory, and the workers.

Layout of the data directory (every name below is chosen by the server)::

    studio.sqlite3            jobs and uploads (see store.py)
    uploads/<upload id>.png   uploaded images, decoded, checked and re-encoded; a clip's
                              first frame
    uploads/<upload id>.video an uploaded clip, checked, as it came
    jobs/<job id>/            result.png, checkpoint.png (the last saved iterate); a video
                              job's result.mp4, result.mp4.frames/ (the frames finished so
                              far, while it is not done) and frame.png (its last frame, once
                              done)
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import math
import os
import re
import shutil
import threading
from pathlib import Path
from typing import IO, Any

import torch
from PIL import Image

from painterly.config.options import INITS, Options
from painterly.controls.inputs import blend_weights
from painterly.engine.plan import Network, working_sizes
from painterly.errors import PainterlyError
from painterly.io.files import make_temp, write_atomically
from painterly.io.images import load_image, long_side_size, save_image
from painterly.methods import artflow, feedforward, gatys
from painterly.models.weights import SOURCES
from painterly.studio.live import Lives, jpeg, shown
from painterly.studio.store import FINISHED, Job, SqliteStore, Upload
from painterly.studio.uploads import (
    Limits,
    check_bytes,
    check_video,
    clip_info,
    clip_record,
    decode_upload,
    is_still_image,
    takes_video,
)
from painterly.studio.worker import Engine, Worker

log = logging.getLogger("painterly.studio")

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
"""Largest side of any image a job works on, the output and each style at its
``style_scale`` (memory and time on a shared machine)."""

MAX_EVALUATIONS = 1_000_000
"""Most loss evaluations a job may make over all its stages."""


MAX_NESTING = 8
"""Deepest nesting of lists and objects in an option's value (a stage list needs 2)."""

CHECKPOINT_EVERY = 20
_ID = re.compile(r"[0-9a-f]{32}")


def is_id(value: object) -> bool:
    """Whether ``value`` has the form of an upload's or a job's id (32 hex digits)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


SERVER_OPTIONS = {
    "device": "the studio chooses the device its workers run on",
    "masks": "masks name files on the server, which the studio does not allow yet",
}
"""Options a client may not set, and why."""

STUDIO_CHOICES = {
    "init": INITS,
    "artflow_model": ("auto",),
    "weights": tuple(name for name, source in SOURCES.items() if source.kind == "vgg19"),
}
"""Options that may name a file elsewhere, limited here to the values that name none (and,
for ``weights``, to the registered VGG-19 weights: a decoder's are no encoder)."""


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


def check_json(value: Any, what: str, depth: int = 0) -> None:
    """Refuse NaN and ±Infinity (Python reads them, but they are not JSON, and the job is
    answered as JSON) and nesting deeper than :data:`MAX_NESTING`."""
    if depth > MAX_NESTING:
        raise PainterlyError(f"{what} is nested more than {MAX_NESTING} levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise PainterlyError(f"{what} holds {value}, which is not a JSON number")
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, (dict, list)):
        for child in children:
            check_json(child, what, depth + 1)


def build_options(values: dict[str, Any]) -> Options:
    """:meth:`Options.build` of a client's values; anything it raises other than
    PainterlyError is a bug in the validation, logged as one and refused in general words
    (the request still caused it, so it is the client's 4xx, never a 500)."""
    try:
        return Options.build(**values)
    except PainterlyError:
        raise
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("bug: Options.build raised for %r instead of a PainterlyError", values)
        raise PainterlyError(
            "the options could not be read: a value has a form no option takes (see "
            "GET /api/options)"
        ) from None


def check_options(values: Any, styles: int) -> Options:
    """Validate a client's option values as :meth:`Options.build` does, refusing those that
    name server files or choose the device, and more evaluations than
    :data:`MAX_EVALUATIONS` (Options bounds the rest, the seed included); raises
    PainterlyError."""
    if not isinstance(values, dict):
        raise PainterlyError("options must be an object of option names and values")
    for name, value in values.items():
        check_json(value, f"option {name!r}")
    for name, why in SERVER_OPTIONS.items():
        if values.get(name) not in (None, "", [], "auto"):
            raise PainterlyError(f"option {name!r} cannot be set here: {why}")
    options = build_options({k: v for k, v in values.items() if k not in SERVER_OPTIONS})
    # The values as Options reads them, so " noise" (a file name to Options) is refused too.
    for name, choices in STUDIO_CHOICES.items():
        if getattr(options, name) not in choices:
            raise PainterlyError(f"{name} must be one of {', '.join(choices)} in the studio")
    if sum(iterations for _, iterations in options.stages) > MAX_EVALUATIONS:
        raise PainterlyError(
            f"a job may make at most {MAX_EVALUATIONS:,} evaluations (iterations, over all stages)"
        )
    blend_weights(styles, options.style_blend)
    return options


def check_clip(values: Any, options: Options, clip: Upload) -> int:
    """Validate a video job's settings as ``painterly video`` does
    (:meth:`~painterly.video.settings.VideoSettings.build`, then the options a clip cannot
    use), and the frames they select from ``clip``; return how many frames that is. A gatys
    clip may make at most :data:`MAX_EVALUATIONS` evaluations over all its frames."""
    from painterly.video.settings import VideoSettings, check_clip_options

    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise PainterlyError("video must be an object of video setting names and values")
    for name, value in values.items():
        check_json(value, f"video setting {name!r}")
    settings = VideoSettings.build(**values)
    check_clip_options(options)
    if not takes_video():
        raise PainterlyError("this studio no longer reads videos: it lacks the video extra")
    from painterly.io.video import check_range

    start, duration, every = settings.start, settings.duration, settings.every
    frames = check_range(clip_info(clip), start, duration, every, clip.name)
    evaluations = settings.evaluations(options, frames)
    if options.method == "gatys" and evaluations > MAX_EVALUATIONS:
        raise PainterlyError(
            f"these {frames} frames would take {evaluations:,} evaluations; a job may make at "
            f"most {MAX_EVALUATIONS:,} (take fewer frames, iterations or frame_iterations)"
        )
    return frames


def network(options: Options) -> Network:
    """What the job's method asks of its plan (the sides every image must keep)."""
    if options.method == "gatys":
        return gatys.network(options)
    return artflow.network() if options.method == "artflow" else feedforward.network()


def check_sizes(
    options: Options,
    content: tuple[int, int],
    styles: list[tuple[int, int]],
    max_size: int = MAX_SIZE,
) -> None:
    """Refuse a job whose output or style images, at each stage of its schedule, would be
    larger than ``max_size`` a side, or too small for the network (the plan's own check,
    :func:`~painterly.engine.plan.working_sizes`, in the CLI's words)."""
    min_side = network(options).min_side
    # Largest stage first: it is the one whose limit binds, so the sentence names it.
    for size, _ in sorted(options.stages, key=lambda stage: -stage.size):
        if size > max_size:
            raise PainterlyError(f"the studio makes images of at most {max_size} px, not {size}")
        output = long_side_size(content, size, options.size_side)
        if max(output) > max_size:
            raise PainterlyError(
                f"at size {size} along the {options.size_side} side the output would be "
                f"{output[0]}×{output[1]} pixels; the studio makes images of at most "
                f"{max_size} px a side"
            )
        if max(output) * options.style_scale > max_size:
            raise PainterlyError(
                f"with style_scale {options.style_scale:g} at size {size} the style images "
                f"would be larger than the studio's {max_size} px; at this size style_scale "
                f"can be at most {max_size / max(output):.3g}"
            )
        working_sizes(content, styles, size, options.size_side, options.style_scale, min_side)


@functools.cache
def _example_size(name: str) -> tuple[int, int]:
    return load_image(examples()[name], "example").size


class DataDirLock:
    """One studio process per data directory: an exclusive lock on ``studio.lock``.

    The file is removed on release, while still locked; so that a studio that opened the
    file just before cannot lock the removed one and run beside the next, a lock counts
    only if the path still names the locked file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        while self._file is None:
            file = open(self.path, "a")  # noqa: SIM115 - held until release
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                file.close()
                raise PainterlyError(
                    f"another painterly studio is using {self.path.parent}; stop it or "
                    "choose another --data-dir"
                ) from None
            try:
                current = os.path.samestat(os.fstat(file.fileno()), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if current:
                self._file = file
            else:
                file.close()

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._file.close()
        self._file = None


class Studio:
    """Jobs, uploads and workers over one data directory (one studio process at a time)."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        devices: list[str] | None = None,
        engines: list[tuple[str, Engine]] | None = None,
        limits: Limits | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
        max_size: int = MAX_SIZE,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.uploads_dir = self.data_dir / "uploads"
        self.jobs_dir = self.data_dir / "jobs"
        for folder in (self.data_dir, self.uploads_dir, self.jobs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.limits = limits or Limits()
        self.checkpoint_every = checkpoint_every
        self.max_size = max_size
        self.lives = Lives()
        # A cancel that arrives between a worker claiming a job and registering it waits here.
        self.pending_cancel: dict[str, str] = {}
        self.handoff = threading.Lock()
        self.wake = threading.Event()
        # A worker per device here, or per engine elsewhere (a Ray actor and its device).
        self.workers = (
            [Worker(self, device, engine) for device, engine in engines]
            if engines
            else [Worker(self, device) for device in devices or default_devices()]
        )
        self._lock = DataDirLock(self.data_dir / "studio.lock")
        self._lock.acquire()
        try:
            self.store = SqliteStore(self.data_dir / "studio.sqlite3")
        except BaseException:
            self._lock.release()  # on every failure: nothing of this studio is left
            raise
        # Whatever was running when the last process died cannot still be running.
        try:
            self.store.interrupt_running()
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers (a running job becomes interrupted) and release the data dir;
        closing again does nothing."""
        for worker in self.workers:
            worker.stop()
        self.wake.set()
        for worker in self.workers:
            if worker.is_alive():
                worker.join(timeout)
        if self._lock.held:
            self.store.close()
            self._lock.release()

    # Files: every path is built from a server-chosen id, checked against its pattern.

    def upload_path(self, upload_id: str) -> Path:
        """An upload's image: the image itself, or a clip's first frame."""
        if not is_id(upload_id):
            raise KeyError(upload_id)
        return self.uploads_dir / f"{upload_id}.png"

    def video_path(self, upload_id: str) -> Path:
        """An uploaded clip, as it came."""
        return self.upload_path(upload_id).with_suffix(".video")

    def job_dir(self, job_id: str) -> Path:
        if not is_id(job_id):
            raise KeyError(job_id)
        return self.jobs_dir / job_id

    def result_path(self, job: Job) -> Path:
        """The finished work: an image, or a video job's MP4."""
        return self.job_dir(job.id) / ("result.mp4" if job.kind == "video" else "result.png")

    def checkpoint_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "checkpoint.png"

    def frame_path(self, job_id: str) -> Path:
        """A video job's last frame, saved when the clip is done (its frames are not kept)."""
        return self.job_dir(job_id) / "frame.png"

    def still_path(self, job: Job) -> Path | None:
        """The image that shows a job that is not running: its result, else its last
        checkpoint; a video job's last finished frame (None: none yet)."""
        if job.kind == "video":
            from painterly.video.run import last_kept_frame

            kept = last_kept_frame(self.result_path(job))
            paths = [self.frame_path(job.id)] if kept is None else [kept]
        else:
            paths = [self.result_path(job), self.checkpoint_path(job.id)]
        return next((path for path in paths if path.is_file()), None)

    def input_path(self, ref: dict[str, str]) -> Path:
        """The file of ``{"upload": id}`` (an image, or a clip as it came) or
        ``{"example": name}``; KeyError if unknown."""
        if "upload" in ref:
            upload = self.store.get_upload(ref["upload"]) if is_id(ref["upload"]) else None
            if upload is None:
                raise KeyError(ref["upload"])
            if upload.kind == "video":
                return self.video_path(upload.id)
            return self.upload_path(upload.id)
        return examples()[ref["example"]]

    def load_input(self, ref: dict[str, str], role: str) -> Image.Image:
        return load_image(self.input_path(ref), role)

    # Operations of the API. Each checks everything it is given before it changes anything,
    # so a refused request leaves no job, no upload and no file behind.

    def add_upload(self, data: bytes, name: str) -> Upload:
        """Check and store an uploaded image or clip (UploadRejected if it is not
        acceptable; see :mod:`~painterly.studio.uploads`): the files first, then the
        record, so that no record names a missing file."""
        if not is_still_image(data):
            return self._add_clip(data, name[:200])
        image = decode_upload(data, self.limits)
        upload = Upload.new(name[:200], *image.size)
        path = save_image(image, self.upload_path(upload.id))
        try:
            self.store.add_upload(upload)
        except BaseException:
            path.unlink()
            raise
        return upload

    def _add_clip(self, data: bytes, name: str) -> Upload:
        """Store a clip once it is checked, in a temporary file until then, with its first
        frame as the upload's image."""
        check_bytes(data, self.limits.max_video_bytes, "video")
        temp = Path(make_temp(self.uploads_dir, "upload"))
        try:
            temp.write_bytes(data)
            info, first = check_video(str(temp), name or "upload", self.limits)
            upload = Upload.new(name, info.width, info.height, "video", clip_record(info))
            poster = save_image(first, self.upload_path(upload.id))
            clip = self.video_path(upload.id)
            try:
                write_atomically(clip, lambda path: os.replace(temp, path))
                self.store.add_upload(upload)
            except BaseException:
                poster.unlink()
                clip.unlink(missing_ok=True)
                raise
        finally:
            temp.unlink(missing_ok=True)
        return upload

    def check_input(
        self, ref: Any, role: str
    ) -> tuple[dict[str, str], tuple[int, int], Upload | None]:
        """The reference ``{"upload": ID}`` or ``{"example": NAME}``, the size of its
        image as a job will load it (a clip's: its frames') and the upload it names (None:
        an example); PainterlyError if it names none."""
        if isinstance(ref, dict) and set(ref) == {"upload"}:
            upload = self.store.get_upload(ref["upload"]) if is_id(ref["upload"]) else None
            if upload is None:
                raise PainterlyError(f"the {role} names an upload that does not exist")
            return {"upload": upload.id}, (upload.width, upload.height), upload
        if isinstance(ref, dict) and set(ref) == {"example"}:
            if not isinstance(ref["example"], str) or ref["example"] not in examples():
                raise PainterlyError(
                    f"the {role} names no bundled example; examples are "
                    f"{', '.join(examples()) or 'not installed'}"
                )
            return {"example": ref["example"]}, _example_size(ref["example"]), None
        raise PainterlyError(f'the {role} must be {{"upload": ID}} or {{"example": NAME}}')

    def submit(
        self, content: Any, styles: Any, options: Any, parent: Any = None, video: Any = None
    ) -> Job:
        """Validate and queue a job (PainterlyError: the reason it is refused): a video job
        when the content is a clip, with its ``video`` settings (see :func:`check_clip`).

        ``parent`` must have the form of a job id; one that names no job (deleted since)
        is dropped, as the re-run stands on its own.
        """
        content, content_size, source = self.check_input(content, "content image")
        if not isinstance(styles, list) or not 1 <= len(styles) <= MAX_STYLES:
            raise PainterlyError(f"give between 1 and {MAX_STYLES} style images")
        checked_styles = [self.check_input(style, "style image") for style in styles]
        if any(upload is not None and upload.kind == "video" for *_, upload in checked_styles):
            raise PainterlyError("a style image names a video; styles must be still images")
        checked = check_options(options, len(checked_styles))
        check_sizes(checked, content_size, [size for _, size, _ in checked_styles], self.max_size)
        if source is not None and source.kind == "video":
            kind, total = "video", check_clip(video, checked, source)
        elif video:
            raise PainterlyError("video settings are for a clip, and the content is an image")
        else:
            kind, total = "image", sum(iterations for _, iterations in checked.stages)
        if parent is not None and not is_id(parent):
            raise PainterlyError("parent must be the id of a job (32 hex digits)")
        if parent is not None and self.store.get_job(parent) is None:
            parent = None
        refs = [ref for ref, *_ in checked_styles]
        settings = (video or {}) if kind == "video" else {}
        job = self.store.create_job(content, refs, options, parent, total, kind, settings)
        self.wake.set()
        return job

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False if it has already finished."""
        if not is_id(job_id):
            return False
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
        job = self.store.get_job(job_id) if is_id(job_id) else None
        if job is None or job.state not in FINISHED or job.state == "done":
            return False
        self.store.update_job(job_id, iteration=job.checkpoint)
        if not self.store.requeue(job_id):
            return False
        self.wake.set()
        return True

    def delete(self, job_id: str) -> bool:
        """Delete a job that is not running, with its files (a clip's kept frames on the
        Ray nodes too)."""
        job = self.store.get_job(job_id) if is_id(job_id) else None
        if job is None or not self.store.delete_job(job_id):
            return False
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        if job.kind == "video":
            for worker in self.workers:
                if worker.engine is not None:
                    worker.engine.discard_clip(self.result_path(job))
        self.lives.touch(job_id)
        return True

    def view(self, job_id: str) -> Job | None:
        """The job as stored, with the live progress of a running one laid over it (None:
        no such job, whatever the shape of ``job_id``)."""
        if not is_id(job_id):
            return None
        change = self.lives.latest(job_id)  # first: the store is then at least as new
        job = self.store.get_job(job_id)
        return shown(job, change) if job is not None else None

    def final_preview(self, job: Job) -> bytes | None:
        """A finished job's image as a JPEG preview (see :meth:`still_path`)."""
        path = self.still_path(job)
        if path is None:
            return None
        try:
            with Image.open(path) as image:
                return jpeg(image)
        except FileNotFoundError:  # deleted meanwhile
            return None
