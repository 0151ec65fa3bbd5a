"""What the studio knows of a job between two writes to the store: the worker tells a
:class:`Live` of every change, and the event stream waits on it instead of sampling.

A change is stored (when it is stored at all) before it is told, so whoever is woken by a
change and then reads the store finds the store at least as new as the change.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from painterly.studio.store import Job

KEEP = 256
"""Changes a Live remembers: a stream that falls further behind (its client stopped reading)
skips the oldest rather than growing the server's memory."""


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    """A preview as the event stream sends it."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@dataclass(frozen=True)
class Change:
    """A job as the worker last told of it; ``version`` counts the changes.

    ``state`` is None until a worker takes the job; ``preview`` (a JPEG) is the one told
    at change ``preview_version``.
    """

    version: int = 0
    state: str | None = None
    iteration: int = 0
    total: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    eta: float | None = None
    checkpoint: int = 0
    preview: bytes | None = None
    preview_version: int = 0


class Live:
    """The changes of one job, and a condition notified on each."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._history: deque[Change] = deque([Change()], maxlen=KEEP)

    @property
    def latest(self) -> Change:
        return self._history[-1]

    def update(self, **changes: Any) -> None:
        """Record a change (fields of :class:`Change`) and wake everyone waiting for one."""
        with self._changed:
            last = self._history[-1]
            version = last.version + 1
            if "preview" in changes:
                changes["preview_version"] = version
            self._history.append(dataclasses.replace(last, version=version, **changes))
            self._changed.notify_all()

    def wait_newer(self, version: int, timeout: float | None) -> list[Change]:
        """The changes after ``version``, oldest first, as soon as there is one; after
        ``timeout`` seconds (None: no limit) without one, an empty list."""
        with self._changed:
            self._changed.wait_for(lambda: self._history[-1].version > version, timeout)
            newer = self._history[-1].version - version
            return list(self._history)[-newer:] if newer > 0 else []


class Lives:
    """The Live of each job that a worker runs or a stream watches.

    Whoever asks first creates a job's Live and the others get the same one, so a stream
    that opens while the job is queued is told when a worker takes it. A Live lasts as long
    as someone holds it: a finished job's changes are gone once its last watcher leaves,
    and what it ended with is in the store and its files.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lives: weakref.WeakValueDictionary[str, Live] = weakref.WeakValueDictionary()

    def hold(self, job_id: str) -> Live:
        """The job's Live, created if no one holds it; keep it while you tell or watch."""
        with self._lock:
            live = self._lives.get(job_id)
            if live is None:
                live = self._lives[job_id] = Live()
            return live

    def latest(self, job_id: str) -> Change | None:
        """The job's last change, if someone holds its Live."""
        live = self._lives.get(job_id)
        return live.latest if live is not None else None

    def touch(self, job_id: str) -> None:
        """Tell the job's watchers that its stored record changed (cancelled, deleted)."""
        live = self._lives.get(job_id)
        if live is not None:
            live.update()


def shown(job: Job, change: Change | None) -> Job:
    """``job`` as stored, with the progress of ``change`` laid over it while the change says
    the job runs (the store has its progress only every few reports).

    The change decides, not the store: the store already says a job finished while its last
    progress is still being sent, and a Live that outlived a run (a stream held it) says
    nothing of the job's next run.
    """
    if change is None or change.state != "running":
        return job
    return dataclasses.replace(
        job,
        state="running",
        finished=None,
        error=None,
        iteration=change.iteration,
        total=change.total or job.total,
        losses=change.losses,
        elapsed=change.elapsed,
        eta=change.eta,
        checkpoint=change.checkpoint,
    )
