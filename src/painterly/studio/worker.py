"""The workers: one thread per device takes queued jobs in order of submission and runs them
through :func:`painterly.api.run` (a video job through
:func:`painterly.video.run.stylize_video`), reporting progress, previews and checkpoints:
each change is stored (every few reports) and then told to the job's
:class:`~painterly.studio.live.Live`.

A job is cancelled from another thread by setting its run's
:class:`~painterly.engine.optimize.Cancel`: the optimisation ends with
:class:`~painterly.errors.Interrupted` and the best image so far, exactly as Ctrl-C does in
the CLI. A checkpoint records where in the schedule it was taken (stage and evaluation
within it, from the progress report), so a restart continues any schedule there.

A video job tells each frame as it is finished, as the preview, with the count of frames
done as its iteration. Its finished frames are kept in the job's folder as the CLI keeps
them, so a stop (a cancel, the studio stopping, a crash) loses at most the frame in hand
and a restart continues after the last one kept, as ``painterly video --resume`` does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from painterly.config.options import Options
from painterly.config.schedule import Stage, remaining
from painterly.engine.optimize import Cancel, Progress
from painterly.errors import Interrupted, PainterlyError
from painterly.io.files import write_json
from painterly.io.images import save_image
from painterly.studio.live import Live, Lives, jpeg

if TYPE_CHECKING:
    from PIL import Image

    from painterly.methods import Result
    from painterly.studio.store import Job, JobStore
    from painterly.video.run import FrameProgress, VideoResult

log = logging.getLogger("painterly.studio")

PREVIEW_SECONDS = 1.0
"""Shortest time between two preview images of a running job."""

SAVE_SECONDS = 0.5
"""Shortest time between two progress records written to the store."""


class Engine(Protocol):
    """Where a worker runs its jobs when not here (:class:`painterly.batch.ray_engine.RayEngine`:
    on a Ray actor): :func:`painterly.api.run` and
    :func:`painterly.video.run.stylize_video`, with their signatures."""

    def run(self, content: Any, styles: Any, options: Options, callback: Any = None,
            cancel: Cancel | None = None) -> Result: ...  # fmt: skip

    def stylize_video(self, video: Any, styles: Any, output: Any, options: Any = None,
                      settings: Any = None, **keywords: Any) -> VideoResult: ...  # fmt: skip

    def discard_clip(self, output: Path) -> None:
        """Remove what the engine kept of the clip a job writes to ``output`` (its job is
        deleted)."""
        ...


class Workshop(Protocol):
    """What a worker uses of the studio (:class:`painterly.studio.service.Studio`), named
    here so that the worker needs nothing from the module that creates it."""

    @property
    def store(self) -> JobStore: ...

    @property
    def lives(self) -> Lives: ...

    @property
    def wake(self) -> threading.Event:
        """Set when a job is queued."""
        ...

    @property
    def handoff(self) -> threading.Lock:
        """Held while a worker takes up a claimed job, and while a cancel looks for it."""
        ...

    @property
    def pending_cancel(self) -> dict[str, str]:
        """Cancels of claimed jobs that no worker had taken up yet, by job id."""
        ...

    @property
    def checkpoint_every(self) -> int: ...

    def job_dir(self, job_id: str) -> Path: ...

    def result_path(self, job: Job) -> Path: ...

    def checkpoint_path(self, job_id: str) -> Path: ...

    def frame_path(self, job_id: str) -> Path: ...

    def input_path(self, ref: dict[str, str]) -> Path: ...

    def load_input(self, ref: dict[str, str], role: str) -> Image.Image: ...


@dataclass(frozen=True)
class Resume:
    """Where a restarted job continues: after ``done`` evaluations of its schedule, with
    ``left``, the stages still to run; ``first`` is the index in the job's own schedule of
    ``left[0]`` and ``within`` the evaluations of that stage already made."""

    done: int
    left: tuple[Stage, ...]
    first: int
    within: int

    def start(self) -> dict[str, int]:
        """Where the resumed run starts, as a place in the job's own schedule."""
        return {"iteration": self.done, "stage": self.first, "stage_iteration": self.within}

    def position(self, p: Progress) -> dict[str, int]:
        """The report ``p`` of the resumed run as a place in the job's own schedule."""
        stage = self.first + p.stage
        within = p.stage_iteration + (self.within if p.stage == 0 else 0)
        return {"iteration": self.done + p.iteration, "stage": stage, "stage_iteration": within}


START = Resume(0, (), 0, 0)


def resume_point(job: Job, options: Options, checkpoint: Path, position: Path) -> Resume:
    """Where a restart of ``job`` continues (:data:`START`: from the beginning).

    It continues from its checkpoint image at the stage and evaluation recorded beside it
    (``position``, written with the image) when both are there and agree with the job.
    A run with ``strength`` starts afresh: its pilots would calibrate α/β from the
    checkpoint image instead of the start the result was calibrated with.
    """
    if options.strength is not None or job.checkpoint <= 0 or not checkpoint.is_file():
        return START
    try:
        saved = json.loads(position.read_text(encoding="utf-8"))
        stage, within = int(saved["stage"]), int(saved["stage_iteration"])
        agrees = int(saved["iteration"]) == job.checkpoint
    except (OSError, ValueError, KeyError, TypeError):
        return START
    stages = options.stages
    if not agrees or not 0 <= stage < len(stages) or not 0 < within <= stages[stage].iterations:
        return START
    done_before = sum(s.iterations for s in stages[:stage])
    left = remaining(stages, done_before + within)
    if not left:
        return START
    first = len(stages) - len(left)
    return Resume(job.checkpoint, left, first, within if first == stage else 0)


class Worker(threading.Thread):
    """Runs queued jobs on one device until :meth:`stop`, telling the job's Live of each
    change: taken up, each progress report, and how it finished."""

    def __init__(self, studio: Workshop, device: str, engine: Engine | None = None) -> None:
        super().__init__(name=f"painterly-worker-{device}", daemon=True)
        self.studio = studio
        self.device = device
        self.engine = engine
        self.current: tuple[str, Cancel] | None = None
        self._stopping = threading.Event()
        # Where the running job's last report was, for the checkpoint of a shutdown.
        self._last_position: dict[str, int] = {}

    def stop(self) -> None:
        self._stopping.set()
        self.request_stop(None, "interrupted")

    def request_stop(self, job_id: str | None, why: str) -> bool:
        """Ask the running job (``job_id``, or whichever runs) to stop; False if not here."""
        current = self.current
        if current is None or (job_id is not None and current[0] != job_id):
            return False
        current[1].set(why)
        return True

    def run(self) -> None:
        wake = self.studio.wake
        while not self._stopping.is_set():
            wake.clear()
            job = self.studio.store.claim_next()
            if job is None:
                wake.wait(1.0)
                continue
            self.run_job(job)

    def run_job(self, job: Job) -> None:
        studio, store = self.studio, self.studio.store
        live = studio.lives.hold(job.id)
        cancel = Cancel()
        with studio.handoff:
            self.current = (job.id, cancel)
            pending = studio.pending_cancel.pop(job.id, None)
            if pending:
                cancel.set(pending)
        # Every field, since a stream may still hold this Live from an earlier run of the job.
        live.update(
            state="running",
            iteration=job.checkpoint,
            total=job.total,
            losses={},
            elapsed=0.0,
            eta=None,
            checkpoint=job.checkpoint,
            preview=None,
        )
        studio.job_dir(job.id).mkdir(exist_ok=True)
        try:
            if job.kind == "video":
                finished = self._stylise_clip(job, live, cancel)
            else:
                finished = self._stylise(job, live, cancel)
        except Interrupted as stop:
            finished = {"state": cancel.reason or "cancelled"}
            if job.kind == "video":
                # The frames finished are kept (the one in hand is lost): a restart goes on.
                finished["checkpoint"] = live.latest.iteration
            elif stop.best is not None and cancel.reason == "interrupted":
                # Shutting down: the best iterate so far is where a restart resumes.
                self._save_checkpoint(job.id, stop.best, self._last_position)
                finished["checkpoint"] = live.latest.iteration
            elif stop.best is not None:
                save_image(stop.best, studio.result_path(job), overwrite=True)
        except PainterlyError as error:
            finished = {"state": "failed", "error": str(error)}
        except Exception as error:  # noqa: BLE001 - a worker must outlive a broken job
            log.exception("job %s failed", job.id)
            finished = {"state": "failed", "error": f"internal error: {error}"}
        finally:
            self.current = None
        if finished["state"] == "interrupted":
            finished["error"] = "the studio stopped while this job was running"
        # The last report told may be newer than the last one stored; the end is no earlier.
        finished.setdefault("iteration", live.latest.iteration)
        store.update_job(job.id, finished=time.time(), eta=None, **finished)
        live.update(state=finished["state"], iteration=finished["iteration"], eta=None)

    def _stylise(self, job: Job, live: Live, cancel: Cancel) -> dict:
        from painterly.api import run as run_here

        run = self.engine.run if self.engine is not None else run_here
        studio, store = self.studio, self.studio.store
        content = studio.load_input(job.content, "content image")
        styles = [studio.load_input(style, "style image") for style in job.styles]
        options = Options.build(**job.options).replace(device=self.device)
        checkpoint = studio.checkpoint_path(job.id)
        resume = resume_point(job, options, checkpoint, position_path(checkpoint))
        if resume.done:
            options = options.replace(init=str(checkpoint), scales=resume.left)
        else:
            store.update_job(job.id, checkpoint=0, iteration=0)
            live.update(checkpoint=0, iteration=0)
        self._last_position = resume.start()
        report = self._reporter(job, live, resume)
        result = run(content, styles, options, report, cancel)
        result.save(studio.result_path(job), overwrite=True)
        total = resume.done + result.iterations
        return {
            "state": "done",
            "iteration": total,
            "total": total,
            "losses": result.losses,
            "elapsed": live.latest.elapsed,
        }

    def _stylise_clip(self, job: Job, live: Live, cancel: Cancel) -> dict:
        """Run a video job, continuing after the frames an earlier run of it kept."""
        from painterly.video.run import stylize_video as paint_here
        from painterly.video.settings import VideoSettings

        studio = self.studio
        paint_clip = self.engine.stylize_video if self.engine is not None else paint_here
        options = Options.build(**job.options).replace(device=self.device)
        settings = VideoSettings.build(**job.video)
        styles = [studio.input_path(style) for style in job.styles]
        last: list[Image.Image] = []
        report = self._frame_reporter(job, live, last)

        def evaluated(p: Progress) -> None:  # a gatys frame on its way: alive, not yet news
            live.update(losses=p.losses)

        # resume: go on after the frames an earlier run kept, when they match this run;
        # overwrite: replace those that do not (made on another device, say), and the
        # result of a run stopped between writing it and being recorded done.
        result = paint_clip(
            studio.input_path(job.content), styles, studio.result_path(job), options,
            settings, overwrite=True, resume=True, on_frame=report, callback=evaluated,
            cancel=cancel,
        )  # fmt: skip
        save_image(last[0], studio.frame_path(job.id), overwrite=True)
        return {
            "state": "done",
            "iteration": result.frames,
            "total": result.frames,
            "checkpoint": result.frames,
            "elapsed": live.latest.elapsed,
        }

    def _frame_reporter(
        self, job: Job, live: Live, last: list[Image.Image]
    ) -> Callable[[FrameProgress], None]:
        """Tell each frame finished as the preview, store the progress every few; ``last``
        holds the latest frame. The frames a restart takes from the folder up to where the
        job had got are not told again (the job's progress says so already)."""
        store = self.studio.store
        told, earlier = job.checkpoint, job.elapsed if job.checkpoint else 0.0
        saved = {"at": 0.0}

        def report(p: FrameProgress) -> None:
            last[:] = [p.image]
            if p.cached and p.done <= told:
                return
            now = time.monotonic()
            progress: dict = {
                "iteration": p.done,
                "total": p.total,
                "elapsed": earlier + p.elapsed,
                "eta": p.eta,
                "checkpoint": p.done,
                "losses": live.latest.losses,  # a gatys frame's last evaluation's
            }
            if now - saved["at"] >= SAVE_SECONDS or p.done == p.total:
                store.update_job(job.id, **progress)
                saved["at"] = now
            live.update(**progress, preview=jpeg(p.image))

        return report

    def _save_checkpoint(self, job_id: str, image: Image.Image, position: dict[str, int]) -> None:
        """The iterate and, beside it, where in the schedule it was taken (image first: a
        position without its image is never read, see :func:`resume_point`)."""
        path = self.studio.checkpoint_path(job_id)
        save_image(image, path, overwrite=True)
        write_json(position, position_path(path))

    def _reporter(self, job: Job, live: Live, resume: Resume) -> Callable[[Progress], None]:
        studio, store = self.studio, self.studio.store
        every = studio.checkpoint_every
        last = {"save": 0.0, "preview": 0.0}
        earlier = job.elapsed if resume.done else 0.0

        def report(p: Progress) -> None:
            now = time.monotonic()
            position = resume.position(p)
            self._last_position = position
            progress: dict = {
                "iteration": position["iteration"],
                "total": resume.done + p.total,
                "losses": p.losses,
                "elapsed": earlier + p.elapsed,
                "eta": p.eta,
            }
            if every and progress["iteration"] % every == 0 and p.iteration < p.total:
                self._save_checkpoint(job.id, p.image(), position)
                progress["checkpoint"] = progress["iteration"]
            if "checkpoint" in progress or now - last["save"] >= SAVE_SECONDS:
                store.update_job(job.id, **progress)
                last["save"] = now
            if now - last["preview"] >= PREVIEW_SECONDS or p.iteration == 1:
                progress["preview"] = jpeg(p.image())
                last["preview"] = now
            live.update(**progress)

        return report


def position_path(checkpoint: Path) -> Path:
    """The file beside a checkpoint image that says where in the schedule it was taken."""
    return checkpoint.with_suffix(".json")
