"""One item's work, the same wherever it runs: the inputs arrive as bytes and the output
leaves as the bytes of its file, so a worker on another machine needs no shared folder and
a local worker runs exactly what a remote one does (same pixels for the same seed,
precision and threads).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painterly.config.options import INITS, Options, input_files, named_files
from painterly.engine.optimize import Cancel, Progress
from painterly.errors import Interrupted, PainterlyError, printable

Report = Callable[[dict[str, Any]], None]
"""Where a worker sends an item's progress (a small dict: iteration, total, losses)."""


@dataclass(frozen=True)
class Payload:
    """What a worker needs for one item: ``files`` holds the bytes of every input file by its
    path as the batch names it (content, styles, an ``--init`` image, masks)."""

    content: str
    styles: tuple[str, ...]
    options: Options
    suffix: str
    files: Mapping[str, bytes] = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    """A finished item: the output file's bytes and the run's figures, or ``error`` (one
    sentence) for an item that cannot be painted, such as a damaged input image."""

    data: bytes | None
    losses: dict[str, float]
    iterations: int
    seconds: float
    worker: str
    error: str | None = None


def paint(payload: Payload, worker: str, report: Report | None, cancel: Cancel | None) -> Outcome:
    """Stylise one item. A user error (a bad image, an option this pair refuses) is returned
    as the outcome's ``error``; anything else raises, for the pool to retry. ``cancel`` set
    raises :class:`~painterly.errors.Interrupted`."""
    from painterly.api import run
    from painterly.io.images import image_from_bytes

    started = time.perf_counter()

    def forward(p: Progress) -> None:
        if report is not None:
            report({"iteration": p.iteration, "total": p.total, "losses": p.losses})

    with tempfile.TemporaryDirectory(prefix="painterly-batch-") as scratch:
        folder = Path(scratch)
        try:
            options = with_local_files(payload.options, payload.files, folder)
            content = image_from_bytes(payload.files[payload.content], payload.content,
                                       "content image")  # fmt: skip
            styles = [image_from_bytes(payload.files[s], s, "style image") for s in payload.styles]
            result = run(content, styles, options, forward, cancel)
            target = folder / f"output{payload.suffix}"
            result.save(target)
            data = target.read_bytes()
        except Interrupted:
            raise
        except PainterlyError as error:
            return Outcome(None, {}, 0, time.perf_counter() - started, worker,
                           named_back(str(error), folder, payload.options))  # fmt: skip
    return Outcome(data, result.losses, result.iterations, time.perf_counter() - started, worker)


def with_local_files(options: Options, files: Mapping[str, bytes], folder: Path) -> Options:
    """``options`` with their ``--init`` image and masks (read by the run from paths) written
    into ``folder`` from ``files`` and named there; :func:`named_back` undoes the naming in
    an error message."""
    placed: dict[str, str] = {}

    def place(path: str) -> str:
        if path not in placed:
            copy = folder / str(len(placed)) / Path(path).name
            copy.parent.mkdir()
            copy.write_bytes(files[path])
            placed[path] = str(copy)
        return placed[path]

    located = {path: place(path) for _, path in named_files(options)}
    changes: dict[str, Any] = {}
    if options.init not in INITS:
        changes["init"] = located[options.init]
    if options.masks:
        changes["masks"] = tuple((located[mask], located[style]) for mask, style in options.masks)
    return dataclasses.replace(options, **changes) if changes else options


def named_back(message: str, folder: Path, options: Options) -> str:
    """An error message with the copies :func:`with_local_files` made named as the caller
    names them."""
    order = dict.fromkeys(path for _, path in named_files(options))
    for index, path in enumerate(order):
        message = message.replace(str(folder / str(index) / Path(path).name), printable(path))
    return message


def worker_name(host: str, device: str) -> str:
    """How the results log names a worker: ``host/device``."""
    return f"{host}/{device}"


def outcome_row(outcome: Outcome) -> dict[str, Any]:
    """The figures of an outcome as the results log keeps them."""
    return {
        "losses": outcome.losses,
        "iterations": outcome.iterations,
        "seconds": round(outcome.seconds, 3),
        "worker": outcome.worker,
    }


def read_files(content: str, styles: tuple[str, ...], options: Options) -> dict[str, bytes]:
    """The bytes of every file an item reads, by path (a missing or unreadable one raises
    :class:`~painterly.errors.PainterlyError`, naming its role)."""
    return _read(input_files(content, styles, options))


def option_files(options: Options) -> dict[str, bytes]:
    """The bytes of the files the options name (an ``--init`` image, masks and their styles)."""
    return _read(named_files(options))


def _read(named: list[tuple[str, str]]) -> dict[str, bytes]:
    from painterly.io.images import read_input

    files: dict[str, bytes] = {}
    for role, path in named:
        if path not in files:
            files[path] = read_input(path, role)
    return files
