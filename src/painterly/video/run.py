"""A clip from file to file: read the frames, stylise them (:mod:`painterly.video.clip`),
keep each finished frame on disk, write the video at the end.

Every finished frame is saved at once, atomically, as a PNG in a folder beside the output
(``OUT.frames/``), with a record of what made it; a stopped run keeps them and ``resume``
continues after the last one, feeding the kept frames to the next as a straight run would
(the warped previous output is read from the same 8-bit image either way, so the resumed
clip equals the straight one). The video is written to a hidden temporary file while the
frames arrive and moved into place only when it is complete; the frames' folder is then
removed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from painterly.config.options import Options
from painterly.engine.optimize import Cancel, Progress
from painterly.errors import Interrupted, PainterlyError, printable
from painterly.io.files import write_json
from painterly.io.images import load_image, long_side_size, save_image
from painterly.io.video import (
    VideoWriter,
    check_video_target,
    even_size,
    probe,
    read_frames,
    selected_count,
)
from painterly.video.clip import OptimisedFrames, Previous, as_array, frame_styliser
from painterly.video.settings import VideoSettings, check_clip_options

RECORD = "run.json"
"""The record of what made a frames folder's frames, which ``resume`` must match."""
BALANCE = "balance.json"
"""The (α, β) the first frame of a gatys clip used, for the later frames of a resumed run."""


@dataclass(frozen=True)
class FrameProgress:
    """After each frame: ``done`` of ``total`` frames (1-based), the frame's index in the
    source, whether it came from the frames folder, the seconds so far and an estimate of
    those left (from the frames computed in this run), and the frame itself."""

    done: int
    total: int
    source: int
    cached: bool
    elapsed: float
    eta: float
    image: Image.Image


@dataclass(frozen=True)
class VideoResult:
    path: Path
    frames: int
    size: tuple[int, int]
    fps: float
    audio: bool
    seconds: float
    resumed: int
    """Frames taken from an earlier run's folder."""


def frames_folder(target: Path) -> Path:
    """Where the finished frames of a run writing ``target`` are kept: ``OUT.frames/``."""
    return target.with_name(target.name + ".frames")


def _fingerprint(video: Path, styles: Sequence[str], options: Options,
                 settings: VideoSettings, size: tuple[int, int]) -> dict:  # fmt: skip
    def file(path: str | Path) -> dict:
        status = os.stat(path)
        return {"path": str(Path(path).resolve()), "bytes": status.st_size,
                "modified": status.st_mtime_ns}  # fmt: skip

    record = {
        "video": file(video),
        "styles": [file(style) for style in styles],
        "options": dataclasses.asdict(options),
        "settings": dataclasses.asdict(settings),
        "size": list(size),
    }
    # As it reads back from its file (tuples become lists), so that the two compare.
    return json.loads(json.dumps(record, default=str))


def _frame_file(folder: Path, index: int) -> Path:
    return folder / f"{index:06d}.png"


def _open_folder(folder: Path, record: dict, resume: bool, overwrite: bool) -> int:
    """Make ``folder`` ready for this run; return how many frames it already holds in a
    row from the first (0 unless ``resume``). An earlier run's folder is refused without
    ``resume`` or ``overwrite``; with ``resume``, one made by different inputs or settings
    is refused, or with ``overwrite`` too, emptied."""
    shown = printable(folder)
    if folder.exists():
        if resume:
            try:
                kept = json.loads((folder / RECORD).read_text())
            except (OSError, ValueError):
                kept = None
            if kept == record:
                count = 0
                while _frame_file(folder, count).exists():
                    count += 1
                return count
            if not overwrite:
                raise PainterlyError(
                    f"the frames in '{shown}' were made from other inputs or settings; run "
                    "with the same ones to resume, or with --overwrite to start again"
                )
        elif not overwrite:
            raise PainterlyError(
                f"'{shown}' holds the frames of an earlier run; pass --resume to continue it, "
                "or --overwrite to start again"
            )
        shutil.rmtree(folder)
    try:
        folder.mkdir()
    except OSError as error:
        raise PainterlyError(
            f"could not make the frames folder '{shown}' ({error.strerror})"
        ) from None
    write_json(record, folder / RECORD)
    return 0


def last_kept_frame(target: str | os.PathLike[str]) -> Path | None:
    """The newest frame that a stopped run writing ``target`` kept (None: none kept)."""
    frames = sorted(frames_folder(Path(target)).glob("[0-9]" * 6 + ".png"))
    return frames[-1] if frames else None


def stylize_video(
    video: str | os.PathLike[str],
    styles: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    options: Options | None = None,
    settings: VideoSettings | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    on_frame: Callable[[FrameProgress], None] | None = None,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> VideoResult:
    """Stylise the frames of ``video`` that ``settings`` select with ``styles`` and write
    them, at the source's frame rate (divided by ``settings.every``) and with its audio, to
    ``output`` (see the module's docstring for the frames folder and ``resume``; with
    ``overwrite`` too, frames kept by a run of other inputs or settings are replaced, not
    refused).

    ``options`` are those of a still image; the frames are brought to ``options.size`` on
    ``options.size_side``, rounded down to even sides (H.264's 4:2:0 needs them).
    ``on_frame`` gets a :class:`FrameProgress` after every frame, ``callback`` gets each
    optimisation's evaluations.

    Raises:
        PainterlyError: a bad input or output, before any work.
        Interrupted: ``cancel`` set or Ctrl-C; the frames done stay in the folder.
    """
    options = options or Options()
    settings = settings or VideoSettings()
    check_clip_options(options)
    video, style_paths = Path(video), [os.fspath(s) for s in styles]
    info = probe(video)
    inputs = [("video", os.fspath(video)), *(("style image", s) for s in style_paths)]
    target = check_video_target(output, overwrite, inputs)
    total = selected_count(info, settings.start, settings.duration, settings.every)
    size = even_size(*long_side_size((info.width, info.height), options.size, options.size_side))
    # Frames are computed whole (a frame that does not fit is refused as an image is).
    options = options.replace(size=max(size), size_side="long", tile="off")
    style_images = [load_image(s, "style image") for s in style_paths]
    folder = frames_folder(target)
    record = _fingerprint(video, style_paths, options, settings, size)
    kept = _open_folder(folder, record, resume, overwrite)
    stylise = frame_styliser(style_images, options, settings, callback, cancel)
    optimised = stylise if isinstance(stylise, OptimisedFrames) else None
    if optimised is not None and kept:
        alpha, beta = json.loads((folder / BALANCE).read_text())["balance"]
        optimised.balance = (alpha, beta)
    fps = info.fps / settings.every
    started, computed, previous = time.perf_counter(), 0, None
    done = 0
    writer = VideoWriter(target, fps, size, overwrite=overwrite, audio_from=video,
                         audio_start=settings.start, audio_duration=settings.duration)  # fmt: skip
    with writer:
        for frame in read_frames(video, settings.start, settings.duration, settings.every, info):
            image = frame.image.convert("RGB")
            if image.size != size:
                image = image.resize(size, Image.Resampling.LANCZOS)
            path = _frame_file(folder, frame.index)
            cached = frame.index < kept
            if cached:
                out = load_image(path, "kept frame")
            else:
                if cancel is not None and cancel.is_set():
                    raise Interrupted(None, done)
                out = stylise(image, previous)
                if optimised is not None and frame.index == 0:
                    write_json({"balance": optimised.balance}, folder / BALANCE)
                save_image(out, path, overwrite=True)
                computed += 1
            writer.write(out)
            previous = Previous(as_array(image), as_array(out))
            done += 1
            if on_frame is not None:
                elapsed = time.perf_counter() - started
                rate = elapsed / computed if computed else 0.0
                on_frame(FrameProgress(done, total, frame.source, cached, elapsed,
                                       rate * (total - done), out))  # fmt: skip
        if done == 0:
            raise PainterlyError(f"'{printable(video)}' has no frames in the range asked for")
    shutil.rmtree(folder, ignore_errors=True)
    return VideoResult(target, done, size, float(fps), writer.audio_copied,
                       time.perf_counter() - started, min(kept, done))  # fmt: skip
