"""Where a batch's items run: a :class:`Pool` takes items and tells what happens to them as
:class:`Event`\\ s. :class:`LocalPool` is a worker thread per device of this machine (the
CPU, each GPU); :class:`~painterly.batch.ray_pool.RayPool` is an actor per slot of a Ray
cluster. Networks are loaded once per worker: the model loaders keep what they built
(:func:`painterly.models.load_encoder`), and a worker lives for the whole batch.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from painterly.batch.work import Outcome, Payload, paint, worker_name
from painterly.engine.optimize import Cancel
from painterly.errors import Interrupted

log = logging.getLogger("painterly.batch")


@dataclass(frozen=True)
class Event:
    """What happened to task ``task``: ``started`` on ``worker``, ``progress`` (a dict of
    iteration, total and losses), ``finished`` with its :class:`Outcome`, or ``crashed``
    (the worker died or raised something other than a user error) with ``error``, which
    the batch retries; or ``ready`` (task −1): a worker that died is back, so there is a
    slot for the next item."""

    task: int
    kind: str
    worker: str
    progress: dict[str, Any] | None = None
    outcome: Outcome | None = None
    error: str | None = None


class Pool(Protocol):
    """What :func:`painterly.batch.run.run_batch` needs of the workers."""

    @property
    def slots(self) -> int:
        """How many items can run now."""
        ...

    def submit(self, task: int, payload: Payload) -> None:
        """Start an item now (called only while fewer than ``slots`` are running)."""
        ...

    def next_event(self) -> Event:
        """Wait for the next thing that happens to a submitted item."""
        ...

    def close(self) -> None:
        """Stop what runs (its items are simply not finished) and release the workers."""
        ...


def local_devices() -> list[str]:
    """A worker per device: the CPU, and each CUDA GPU torch sees."""
    import torch

    return ["cpu", *(f"cuda:{index}" for index in range(torch.cuda.device_count()))]


def on_device(payload: Payload, device: str) -> Payload:
    """The payload run on a worker's ``device`` (an item's own ``--device`` other than auto
    is kept)."""
    if payload.options.device != "auto":
        return payload
    return dataclasses.replace(payload, options=dataclasses.replace(payload.options, device=device))


class LocalPool:
    """A thread per device in this process, each taking the next item when it is free.

    ``threads`` sets torch's CPU threads for the batch (None: torch's default, every core);
    an item's pixels depend on it by a level or so, as the order of the sums changes.
    """

    def __init__(self, devices: list[str], threads: int | None = None) -> None:
        import torch

        self._threads_before = torch.get_num_threads()
        if threads is not None:
            torch.set_num_threads(threads)
        self._tasks: queue.Queue[tuple[int, Payload] | None] = queue.Queue()
        self._events: queue.Queue[Event] = queue.Queue()
        self._cancels: dict[int, Cancel] = {}
        self._lock = threading.Lock()
        self._host = socket.gethostname()
        self._workers = [
            threading.Thread(target=self._work, args=(device,), daemon=True, name=f"batch-{device}")
            for device in devices
        ]
        for worker in self._workers:
            worker.start()

    @property
    def slots(self) -> int:
        return len(self._workers)

    def submit(self, task: int, payload: Payload) -> None:
        with self._lock:
            self._cancels[task] = Cancel()
        self._tasks.put((task, payload))

    def next_event(self) -> Event:
        return self._events.get()

    def close(self) -> None:
        import torch

        with self._lock:
            for cancel in self._cancels.values():
                cancel.set("the batch was stopped")
        for _ in self._workers:
            self._tasks.put(None)
        for worker in self._workers:
            worker.join()
        torch.set_num_threads(self._threads_before)

    def _work(self, device: str) -> None:
        name = worker_name(self._host, device)
        while (taken := self._tasks.get()) is not None:
            task, payload = taken
            with self._lock:
                cancel = self._cancels[task]
            self._events.put(Event(task, "started", name))

            def report(progress: dict[str, Any], task: int = task) -> None:
                self._events.put(Event(task, "progress", name, progress=progress))

            try:
                outcome = paint(on_device(payload, device), name, report, cancel)
            except Interrupted:
                continue
            except Exception as error:  # a crash: the batch retries the item, bounded
                log.exception("item %d crashed on %s", task, name)
                self._events.put(Event(task, "crashed", name, error=crash_sentence(error)))
                continue
            finally:
                with self._lock:
                    self._cancels.pop(task, None)
            self._events.put(Event(task, "finished", name, outcome=outcome))


def crash_sentence(error: BaseException) -> str:
    """A crash as one line: the exception's type and first line."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
