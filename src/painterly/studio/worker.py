"""The workers: one thread per device takes queued jobs in order of submission and runs them
through :func:`painterly.api.run`, reporting progress, previews and checkpoints: each change
is stored (every few reports) and then told to the job's :class:`~painterly.studio.live.Live`.

A job is cancelled from another thread by raising ``KeyboardInterrupt`` from the progress
callback: the optimisation loop turns that into :class:`~painterly.errors.Interrupted`
with the best image so far, exactly as Ctrl-C does in the CLI.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from painterly.config.options import Options
from painterly.engine.optimize import Progress
from painterly.errors import Interrupted, PainterlyError
from painterly.io.images import save_image
from painterly.studio.live import Live, Lives, jpeg

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import Image

    from painterly.studio.store import Job, JobStore

log = logging.getLogger("painterly.studio")

PREVIEW_SECONDS = 1.0
"""Shortest time between two preview images of a running job."""

SAVE_SECONDS = 0.5
"""Shortest time between two progress records written to the store."""


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

    def result_path(self, job_id: str) -> Path: ...

    def checkpoint_path(self, job_id: str) -> Path: ...

    def load_input(self, ref: dict[str, str], role: str) -> Image.Image: ...


def resume_plan(job: Job, options: Options, checkpoint_exists: bool) -> int:
    """The iteration to resume from (0: start afresh).

    Only a single-stage run without ``strength`` resumes: its iterate at iteration k is a
    fair start for the remaining evaluations, while a coarse-to-fine schedule or the
    strength pilots would need state that is not saved.
    """
    if not checkpoint_exists or options.strength is not None or len(options.stages) != 1:
        return 0
    return job.checkpoint if 0 < job.checkpoint < options.iterations else 0


class Worker(threading.Thread):
    """Runs queued jobs on one device until :meth:`stop`, telling the job's Live of each
    change: taken up, each progress report, and how it finished."""

    def __init__(self, studio: Workshop, device: str) -> None:
        super().__init__(name=f"painterly-worker-{device}", daemon=True)
        self.studio = studio
        self.device = device
        self.current: tuple[str, Live] | None = None
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.request_stop(None, "interrupted")

    def request_stop(self, job_id: str | None, why: str) -> bool:
        """Ask the running job (``job_id``, or whichever runs) to stop; False if not here."""
        current = self.current
        if current is None or (job_id is not None and current[0] != job_id):
            return False
        current[1].cancel = why
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
        with studio.handoff:
            self.current = (job.id, live)
            live.cancel = studio.pending_cancel.pop(job.id, None)
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
            finished = self._stylise(job, live)
        except Interrupted as stop:
            finished = {"state": live.cancel or "cancelled"}
            if stop.best is not None and live.cancel == "interrupted":
                # Shutting down: the best iterate so far is where a restart resumes.
                save_image(stop.best, studio.checkpoint_path(job.id), overwrite=True)
                finished["checkpoint"] = live.latest.iteration
            elif stop.best is not None:
                save_image(stop.best, studio.result_path(job.id), overwrite=True)
        except KeyboardInterrupt:  # stopped during the strength pilots
            finished = {"state": live.cancel or "cancelled"}
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

    def _stylise(self, job: Job, live: Live) -> dict:
        from painterly.api import run

        studio, store = self.studio, self.studio.store
        content = studio.load_input(job.content, "content image")
        styles = [studio.load_input(style, "style image") for style in job.styles]
        options = Options.build(**job.options).replace(device=self.device)
        checkpoint = studio.checkpoint_path(job.id)
        offset = resume_plan(job, options, checkpoint.is_file())
        if offset:
            options = options.replace(init=str(checkpoint), iterations=options.iterations - offset)
        else:
            store.update_job(job.id, checkpoint=0, iteration=0)
            live.update(checkpoint=0, iteration=0)
        report = self._reporter(job, live, offset)
        result = run(content, styles, options, report)
        save_image(result.image, studio.result_path(job.id), overwrite=True)
        total = offset + result.iterations
        return {
            "state": "done",
            "iteration": total,
            "total": total,
            "losses": result.losses,
            "elapsed": live.latest.elapsed,
        }

    def _reporter(self, job: Job, live: Live, offset: int) -> Callable[[Progress], None]:
        studio, store = self.studio, self.studio.store
        every = studio.checkpoint_every
        last = {"save": 0.0, "preview": 0.0}
        earlier = job.elapsed if offset else 0.0

        def report(p: Progress) -> None:
            if live.cancel:
                raise KeyboardInterrupt
            now = time.monotonic()
            progress: dict = {
                "iteration": offset + p.iteration,
                "total": offset + p.total,
                "losses": p.losses,
                "elapsed": earlier + p.elapsed,
                "eta": p.eta,
            }
            if every and progress["iteration"] % every == 0 and p.iteration < p.total:
                save_image(p.image(), studio.checkpoint_path(job.id), overwrite=True)
                progress["checkpoint"] = progress["iteration"]
            if "checkpoint" in progress or now - last["save"] >= SAVE_SECONDS:
                store.update_job(job.id, **progress)
                last["save"] = now
            if now - last["preview"] >= PREVIEW_SECONDS or p.iteration == 1:
                progress["preview"] = jpeg(p.image())
                last["preview"] = now
            live.update(**progress)

        return report
