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

import dataclasses
import functools
import hashlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from painterly.batch.pools import Event, crash_sentence, on_device
from painterly.batch.work import Outcome, Payload, Report, paint, worker_name
from painterly.engine.optimize import Cancel, Progress
from painterly.errors import Interrupted, PainterlyError, printable

MAX_RESTARTS = 8
"""How many times Ray restarts an actor whose process died, over the batch."""

PLACE_SECONDS = 300.0
"""How long the workers may take to start before the cluster is called too busy."""

REPORT_SECONDS = 0.5
"""Shortest time between two progress reports of a batch item."""

SEND_SECONDS = 0.1
"""Shortest time between two progress reports of a studio job (bar the ones with images)."""

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
    except ray.exceptions.GetTimeoutError:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        raise PainterlyError(
            f"the Ray cluster did not start {len(actors)} workers within {PLACE_SECONDS:g} s "
            "(is it busy with other jobs?)"
        ) from None
    except ray.exceptions.RayError as error:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        raise PainterlyError(
            f"the Ray workers could not start ({_ray_sentence(error)}); every node needs "
            "painterly installed in the Python that runs ray start"
        ) from None
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
        self._address = address
        self._actors = [actor for actor, _ in start_painters(self._ray, workers, cpus_per_worker)]
        self._idle = list(self._actors)
        self._running: dict[Any, tuple[int, Any]] = {}
        self._recovering: dict[Any, Any] = {}  # its ready() call → the restarting actor

    @property
    def slots(self) -> int:
        return len(self._actors) - len(self._recovering)

    @property
    def description(self) -> str:
        return f"{len(self._actors)} Ray worker(s) on the cluster at {printable(self._address)}"

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
                return Event(task, "crashed", "ray", error=_ray_sentence(error))
            except exceptions.RayError as error:  # the task raised
                self._release(ready, actor)
                return Event(task, "crashed", "ray", error=_ray_sentence(error))
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


def _ray_sentence(error: BaseException) -> str:
    """A Ray failure as one line: an exception raised inside the task, else the death."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return crash_sentence(cause)
    if isinstance(error, import_ray().exceptions.RayActorError):
        return "the worker's process died"
    return crash_sentence(error)


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
            raise PainterlyError(f"the Ray worker failed ({_ray_sentence(error)})") from None
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
    import tempfile

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
    import shutil
    import tempfile

    from painterly.video.run import FrameProgress, stylize_video

    folder = Path(tempfile.gettempdir()) / CLIPS / key
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
