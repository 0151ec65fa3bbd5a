"""Items on a Ray cluster: a long-lived :class:`Painter` actor per slot the cluster
advertises (one per GPU, and one per ``cpus_per_worker`` of the rest of its CPUs), each
holding its loaded networks for the whole batch.

Each task is a call of :meth:`Painter.work` that streams its reports back (a Ray streaming
generator): ``started``, ``progress``, then ``finished`` with the task's result. Inputs
travel as the bytes in the task's arguments and outputs as the bytes of the result (Ray's
object store moves them), so no folder needs to be shared between the nodes. An actor whose
process dies is restarted by Ray (up to :data:`MAX_RESTARTS` times) and the item is retried
by the batch; Ray is imported only here, when a cluster is asked for.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from painterly.batch.pools import Event, crash_sentence, on_device
from painterly.batch.work import Outcome, Payload, Report, paint, worker_name
from painterly.engine.optimize import Cancel
from painterly.errors import PainterlyError, printable

MAX_RESTARTS = 8
"""How many times Ray restarts an actor whose process died, over the batch."""

PLACE_SECONDS = 300.0
"""How long the workers may take to start before the cluster is called too busy."""

REPORT_SECONDS = 0.5
"""Shortest time between two progress reports of a batch item."""

Task = Callable[[Report, Cancel, str, str], Any]
"""What a :class:`Painter` runs: ``task(report, cancel, device, worker) -> result``."""


def import_ray() -> Any:
    """The ``ray`` module, or one sentence saying how to install it."""
    try:
        import ray
    except ImportError:
        raise PainterlyError(
            "Ray is not installed; install it with pip install 'painterly[ray]' to use --ray"
        ) from None
    return ray


ANSWER_SECONDS = 5.0
"""How long a cluster's address may take to answer before it is called unreachable."""


def check_reachable(address: str) -> None:
    """Refuse in one sentence an address where nothing listens: Ray itself would wait
    minutes for it, printing its own warnings (``auto`` as Ray found it is not checked)."""
    if address == "auto":
        return
    where = address.split("://", 1)[-1]
    host, _, port = where.rpartition(":")
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                 timeout=ANSWER_SECONDS).close()  # fmt: skip
    except ValueError:
        raise PainterlyError(
            f"the Ray address '{printable(address)}' is not HOST:PORT (or auto)"
        ) from None
    except OSError as error:
        raise PainterlyError(
            f"no Ray cluster answers at '{printable(address)}' ({error.strerror or error}); "
            "start one with ray start --head, or give its address"
        ) from None


def _found_address(ray: Any) -> str:
    """The cluster ``auto`` means: the address the last ``ray start`` on this machine
    recorded. Ray's own lookup is used (a private function: there is no public one), so
    that the address can be checked before ``ray.init`` waits minutes on a cluster that
    has gone without saying so (killed, not stopped)."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        found = canonicalize_bootstrap_address("auto")
    except (ImportError, AttributeError):  # another Ray: let ray.init look
        return "auto"
    except Exception:  # noqa: BLE001 - Ray's own sentence for no cluster
        found = None
    if not found:
        raise PainterlyError(
            "no Ray cluster runs on this machine for --ray auto; start one with ray start "
            "--head, or give its address"
        )
    return found


def connect(address: str) -> Any:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine runs) as a driver."""
    ray = import_ray()
    if not ray.is_initialized():
        check_reachable(address if address != "auto" else _found_address(ray))
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
            raise PainterlyError(
                f"could not join the Ray cluster at '{printable(address)}' ({reason}); start "
                "one with ray start --head, or give its address"
            ) from None
    return ray


class Painter:
    """A Ray actor that runs tasks one at a time with ``threads`` torch threads on ``device``
    (made remote by :func:`_painter_class`); :meth:`stop` cancels the running task."""

    def __init__(self, threads: int, device: str) -> None:
        import torch

        torch.set_num_threads(threads)
        self.device = device
        self.name = worker_name(socket.gethostname(), f"{device} pid {os.getpid()}")
        self._cancel: Cancel | None = None

    def ready(self) -> dict[str, str]:
        return {"name": self.name, "device": self.device}

    def work(self, task: Task) -> Iterator[dict[str, Any]]:
        messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        cancel = self._cancel = Cancel()

        def report(progress: dict[str, Any]) -> None:
            messages.put(("progress", progress))

        def run() -> None:
            try:
                messages.put(("finished", task(report, cancel, self.device, self.name)))
            except BaseException as error:  # raised again in the generator, for Ray to report
                messages.put(("raised", error))

        threading.Thread(target=run, daemon=True).start()
        yield {"kind": "started", "worker": self.name}
        while True:
            kind, value = messages.get()
            if kind == "raised":
                raise value
            if kind == "finished":
                yield {"kind": "finished", "worker": self.name, "result": value}
                return
            yield {"kind": "progress", "worker": self.name, "progress": value}

    def call(self, task: Callable[[], Any]) -> Any:
        """Run a small ``task`` here at once, beside the running one (a clean-up)."""
        return task()

    def stop(self, reason: str = "stopped") -> None:
        if self._cancel is not None:
            self._cancel.set(reason)


@functools.cache
def _painter_class() -> Any:
    ray = import_ray()
    # Two threads, so that stop() is heard while work() runs; the pool gives an actor its
    # next task only once the last one has finished.
    return ray.remote(max_concurrency=2, max_restarts=MAX_RESTARTS)(Painter)


def start_painters(ray: Any, workers: int | None, cpus_per_worker: int) -> list[tuple[Any, str]]:
    """An actor per slot of the cluster (at most ``workers``), started and ready, each with
    its device."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    slots = [(1, 1, "cuda")] * min(gpus, cpus)
    slots += [(cpus_per_worker, 0, "cpu")] * ((cpus - len(slots)) // cpus_per_worker)
    if workers is not None:
        slots = slots[:workers]
    if not slots:
        raise PainterlyError(
            f"the Ray cluster advertises {cpus} CPUs, fewer than the {cpus_per_worker} a worker "
            "needs (--cpus-per-worker)"
        )
    painter = _painter_class()
    actors = [
        painter.options(num_cpus=c, num_gpus=g).remote(max(c, 1), device) for c, g, device in slots
    ]
    try:
        ready = ray.get([actor.ready.remote() for actor in actors], timeout=PLACE_SECONDS)
    except ray.exceptions.RayError as error:  # GetTimeoutError among them
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if isinstance(error, ray.exceptions.GetTimeoutError):
            why = f"within {PLACE_SECONDS:g} s (is the cluster busy with other jobs?)"
        else:
            why = (f"({ray_sentence(error)}); every node needs painterly installed in the "
                   "Python that runs ray start")  # fmt: skip
        raise PainterlyError(f"the Ray cluster did not start {len(actors)} workers {why}") from None
    return [(actor, answer["device"]) for actor, answer in zip(actors, ready, strict=True)]


def _paint_task(payload: Payload, report: Report, cancel: Cancel, device: str,
                worker: str) -> Outcome:  # fmt: skip
    last = [0.0]

    def throttled(progress: dict[str, Any]) -> None:
        if time.monotonic() - last[0] >= REPORT_SECONDS:
            last[0] = time.monotonic()
            report(progress)

    return paint(on_device(payload, device), worker, throttled, cancel)


class RayPool:
    """Batch items on Ray actors (see the module's description).

    An actor whose process died is out of the pool until Ray has restarted it (its
    :meth:`Painter.ready` answers again), so that a retried item is not sent to a process
    that is not there yet; an actor whose restarts are spent leaves the pool."""

    def __init__(self, address: str, workers: int | None = None, cpus_per_worker: int = 1):
        self._ray = connect(address)
        self._actors = [actor for actor, _ in start_painters(self._ray, workers, cpus_per_worker)]
        self._idle = list(self._actors)
        self._running: dict[Any, tuple[int, Any]] = {}
        self._recovering: dict[Any, Any] = {}  # its ready() call → the restarting actor

    @property
    def slots(self) -> int:
        return len(self._actors) - len(self._recovering)

    def submit(self, task: int, payload: Payload) -> None:
        actor = self._idle.pop()
        call = actor.work.options(num_returns="streaming").remote(
            functools.partial(_paint_task, payload)
        )
        self._running[call] = (task, actor)

    def next_event(self) -> Event:
        exceptions = self._ray.exceptions
        while True:
            waiting = [*self._running, *self._recovering]
            if not waiting:
                raise PainterlyError("every Ray worker of the batch has died")
            ready = self._ray.wait(waiting, num_returns=1)[0][0]
            if ready in self._recovering:
                if self._recovered(ready, self._recovering.pop(ready)):
                    return Event(-1, "ready", "ray")
                continue
            task, actor = self._running[ready]
            try:
                message = self._ray.get(next(ready))
            except StopIteration:
                self._release(ready, actor)
                continue
            except exceptions.RayActorError as error:  # the process died
                self._running.pop(ready)
                self._recover(actor)
                return Event(task, "crashed", "ray", error=ray_sentence(error))
            except exceptions.RayError as error:  # the task raised
                self._release(ready, actor)
                return Event(task, "crashed", "ray", error=ray_sentence(error))
            kind = message["kind"]
            if kind == "finished":
                self._release(ready, actor)
                return Event(task, kind, message["worker"], outcome=message["result"])
            return Event(task, kind, message["worker"], progress=message.get("progress"))

    def _recover(self, actor: Any) -> None:
        """Wait (in :meth:`next_event`) for Ray to restart ``actor``."""
        self._recovering[actor.ready.remote()] = actor

    def _recovered(self, answer: Any, actor: Any) -> bool:
        """Whether the restarted ``actor`` is back (then idle), from the ``answer`` of its
        ready(); if its restarts are spent it leaves the pool, if it is still coming back
        it is waited for again."""
        exceptions = self._ray.exceptions
        try:
            self._ray.get(answer)
        except exceptions.ActorDiedError:
            self._actors.remove(actor)
            return False
        except exceptions.RayActorError:
            self._recover(actor)
            return False
        self._idle.append(actor)
        return True

    def _release(self, call: Any, actor: Any) -> None:
        if self._running.pop(call, None) is not None:
            self._idle.append(actor)

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors.clear()
        self._running.clear()
        self._recovering.clear()
        self._ray.shutdown()


def ray_sentence(error: BaseException) -> str:
    """A Ray failure as one line: an exception raised inside the task, else the death."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return crash_sentence(cause)
    if isinstance(error, import_ray().exceptions.RayActorError):
        return "the worker's process died"
    return crash_sentence(error)
