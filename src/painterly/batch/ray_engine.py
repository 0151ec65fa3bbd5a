"""The studio's jobs on a Ray actor: :class:`RayEngine` is what a studio worker runs its
jobs through under ``painterly serve --ray`` (:class:`painterly.studio.worker.Engine`), on
the :class:`~painterly.batch.ray_pool.Painter` actors the batch uses too. Each job is one
streaming task: its reports come back as they are made, its end as a value."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from painterly.batch.ray_pool import Task, import_ray, ray_sentence
from painterly.batch.work import Report
from painterly.engine.optimize import Cancel, Progress
from painterly.errors import Interrupted, PainterlyError

SEND_SECONDS = 0.1
"""Shortest time between two progress reports of a studio job (bar the ones with images)."""

DISCARD_SECONDS = 30.0
"""How long a deleted job waits for each actor to remove its clip's folder."""

CLIPS = "painterly-ray-clips"
"""The folder in a node's temporary folder where its actors paint the studio's clips."""


def clip_key(output: Path) -> str:
    """The name of the node's folder for the clip a studio job writes to ``output``."""
    return hashlib.sha256(str(output.resolve()).encode()).hexdigest()[:24]


class RayEngine:
    """The studio's jobs on a :class:`Painter` actor (:class:`painterly.studio.worker.Engine`):
    :meth:`run` is :func:`painterly.api.run` and :meth:`stylize_video`
    :func:`painterly.video.run.stylize_video` there, with the same arguments and results,
    progress reports arriving as they are made, a cancel heard by the actor and
    :class:`~painterly.errors.Interrupted` raised here.

    A report's ``image()`` is the iterate the actor rendered with it: it sends one with the
    first report, every ``images_every``-th (the studio's checkpoints) and the last, and
    otherwise at most every ``preview_seconds``; between those it is the latest one sent.
    """

    def __init__(self, actor: Any, images_every: int, preview_seconds: float) -> None:
        self._ray = import_ray()
        self._actor = actor
        self._images_every = images_every
        self._preview_seconds = preview_seconds

    def run(self, content: Any, styles: list[Any], options: Any,
            callback: Callable[[Progress], None] | None = None,
            cancel: Cancel | None = None) -> Any:  # fmt: skip
        from painterly.batch.work import option_files

        task = functools.partial(_run_task, content, styles, options, option_files(options),
                                 self._images_every, self._preview_seconds)  # fmt: skip
        latest: list[Any] = [None]

        def tell(sent: dict[str, Any]) -> None:
            if callback is not None:
                callback(_progress(sent, latest))

        return _finished(self._call(task, tell, cancel))

    def stylize_video(self, video: Any, styles: Sequence[Any], output: Any, options: Any = None,
                      settings: Any = None, *, overwrite: bool = False, resume: bool = False,
                      on_frame: Callable[[Any], None] | None = None,
                      callback: Callable[[Progress], None] | None = None,
                      cancel: Cancel | None = None) -> Any:  # fmt: skip
        """The clip painted by the actor into a folder of its node kept for this ``output``,
        so that a restart on the same node goes on after the frames kept there (as
        ``resume`` does here; elsewhere it starts again); the finished clip comes back as
        bytes and is written to ``output`` atomically."""
        from painterly.io.files import write_atomically
        from painterly.io.images import read_input
        from painterly.video.run import FrameProgress, VideoResult

        target = Path(output)
        key = clip_key(target)
        clip = (Path(video).suffix, read_input(video, "video"))
        style_files = [(Path(s).suffix, read_input(s, "style image")) for s in styles]
        task = functools.partial(_video_task, key, clip, style_files, options, settings)

        def tell(sent: dict[str, Any]) -> None:
            if sent.pop("frame"):
                if on_frame is not None:
                    on_frame(FrameProgress(**sent))
            elif callback is not None:  # a gatys frame's evaluation: its losses
                callback(Progress(render=lambda: None, **sent))

        kind, value, iteration = self._call(task, tell, cancel)
        if kind != "done":
            return _finished((kind, value, iteration))
        data, figures = value
        write_atomically(target, lambda temp: Path(temp).write_bytes(data), overwrite=True)
        return VideoResult(path=target, **figures)

    def discard_clip(self, output: Path) -> None:
        """Remove the folder this actor's node keeps for the clip written to ``output``
        (a cancelled clip's frames), if it has one; a dead actor is no matter."""
        remove = functools.partial(_discard_clip, clip_key(Path(output)))
        with contextlib.suppress(self._ray.exceptions.RayError):
            self._ray.get(self._actor.call.remote(remove), timeout=DISCARD_SECONDS)

    def _call(self, task: Task, tell: Callable[[dict[str, Any]], None],
              cancel: Cancel | None) -> Any:  # fmt: skip
        """Run ``task`` on the actor, telling each report it makes; its result."""
        call = self._actor.work.options(num_returns="streaming").remote(task)
        if cancel is not None:
            cancel.when_set(lambda reason: self._actor.stop.remote(reason))
        try:
            for ref in call:
                message = self._ray.get(ref)
                if message["kind"] == "progress":
                    tell(message["progress"])
                elif message["kind"] == "finished":
                    return message["result"]
        except self._ray.exceptions.RayError as error:
            raise PainterlyError(f"the Ray worker failed ({ray_sentence(error)})") from None
        raise PainterlyError("the Ray worker ended without a result")


def _progress(sent: dict[str, Any], latest: list[Any]) -> Progress:
    image = sent.pop("image")
    if image is not None:
        latest[0] = image
    shown = latest[0]
    return Progress(**sent, render=lambda: shown)


def _finished(result: tuple[str, Any, int]) -> Any:
    kind, value, iteration = result
    if kind == "interrupted":
        raise Interrupted(value, iteration)
    if kind == "error":
        raise PainterlyError(value)
    return value


def _run_task(content: Any, styles: list[Any], options: Any, files: dict[str, bytes],
              images_every: int, preview_seconds: float, report: Report, cancel: Cancel,
              device: str, worker: str) -> tuple[str, Any, int]:  # fmt: skip
    """The actor's side of :meth:`RayEngine.run`: the run, its reports with the images the
    caller will want, and its end as a value (a raised one would lose the best image)."""
    from painterly.api import run
    from painterly.batch.work import named_back, with_local_files

    last = {"sent": 0.0, "image": 0.0}

    def forward(p: Progress) -> None:
        now = time.monotonic()
        wanted = p.iteration in (1, p.total) or bool(
            images_every and p.iteration % images_every == 0
        )
        if not wanted and now - last["sent"] < SEND_SECONDS:
            return
        image = None
        if wanted or now - last["image"] >= preview_seconds:
            image, last["image"] = p.image(), now
        last["sent"] = now
        report({"iteration": p.iteration, "total": p.total, "losses": p.losses,
                "elapsed": p.elapsed, "stage": p.stage, "stages": p.stages,
                "stage_size": p.stage_size, "stage_iteration": p.stage_iteration,
                "stage_total": p.stage_total, "image": image})  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="painterly-ray-") as scratch:
        local = with_local_files(options, files, Path(scratch))
        try:
            return "done", run(content, styles, local, forward, cancel), 0
        except Interrupted as stop:
            return "interrupted", stop.best, stop.iteration
        except PainterlyError as error:
            return "error", named_back(str(error), Path(scratch), options), 0


def _video_task(key: str, clip: tuple[str, bytes], styles: list[tuple[str, bytes]],
                options: Any, settings: Any, report: Report, cancel: Cancel, device: str,
                worker: str) -> tuple[str, Any, int]:  # fmt: skip
    """The actor's side of :meth:`RayEngine.stylize_video`, in a folder of this node kept
    per job (``key``) until the clip is finished; each input is written there only when it
    differs, so that the frames kept there still match it on a restart."""
    from painterly.video.run import FrameProgress, stylize_video

    folder = _clip_folder(key)
    folder.mkdir(parents=True, exist_ok=True)

    def placed(name: str, suffix: str, data: bytes) -> Path:
        path = folder / f"{name}{suffix}"
        if not (path.is_file() and path.read_bytes() == data):
            path.write_bytes(data)
        return path

    video = placed("clip", *clip)
    style_paths = [placed(f"style{i}", *style) for i, style in enumerate(styles)]
    output = folder / "painted.mp4"
    last = [0.0]

    def on_frame(p: FrameProgress) -> None:
        report({"frame": True, **_fields(p)})

    def evaluated(p: Progress) -> None:
        if time.monotonic() - last[0] >= SEND_SECONDS:
            last[0] = time.monotonic()
            report({"frame": False, "iteration": p.iteration, "total": p.total,
                    "losses": p.losses, "elapsed": p.elapsed})  # fmt: skip

    try:
        result = stylize_video(video, style_paths, output, options, settings, overwrite=True,
                               resume=True, on_frame=on_frame, callback=evaluated,
                               cancel=cancel)  # fmt: skip
    except Interrupted as stop:
        return "interrupted", None, stop.iteration
    except PainterlyError as error:
        return "error", str(error).replace(str(folder), "(the job's clip)"), 0
    figures = {name: value for name, value in _fields(result).items() if name != "path"}
    data = output.read_bytes()
    shutil.rmtree(folder, ignore_errors=True)
    return "done", (data, figures), 0


def _fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields by name, their values as they are (not copied)."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def _clip_folder(key: str) -> Path:
    """The folder of this node where the clip of ``key`` is painted."""
    return Path(tempfile.gettempdir()) / CLIPS / key


def _discard_clip(key: str) -> None:
    shutil.rmtree(_clip_folder(key), ignore_errors=True)
