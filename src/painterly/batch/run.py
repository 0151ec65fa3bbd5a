"""Drive a batch: skip the items already finished, keep every worker of a pool busy, write
each output as it comes back (atomically: a stopped batch leaves no partial file), log each
item's end, retry an item whose worker crashed (at most ``retries`` times) and go on past
an item that cannot be painted."""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painterly.batch.items import Item
from painterly.batch.log import ResultsLog, digest, fingerprint
from painterly.batch.pools import Event, Pool
from painterly.batch.work import Payload, outcome_row, read_files
from painterly.config.options import input_files
from painterly.errors import PainterlyError, Terminated, printable
from painterly.io.files import check_output_folder, os_reason, write_atomically
from painterly.io.images import check_output_path

RETRIES = 2
"""How many times an item whose worker crashed is tried again."""


@dataclass(frozen=True)
class Step:
    """A change in a batch, for its display: ``kind`` is ``started``, ``progress``, ``done``,
    ``failed``, ``skipped`` or ``retry``; ``ended`` counts the items that have ended
    (done, failed or skipped) of ``total``; ``progress`` is a worker's report."""

    kind: str
    item: Item
    ended: int
    total: int
    elapsed: float
    worker: str = ""
    progress: dict[str, Any] | None = None
    row: dict[str, Any] | None = None


@dataclass
class Summary:
    """How a batch ended: counts, the results log, and ``stopped`` (``interrupted``,
    ``terminated``) when it did not run to its end."""

    total: int
    log: Path
    done: int = 0
    skipped: int = 0
    failed: int = 0
    stopped: str | None = None
    failures: list[str] = field(default_factory=list)


def check_items(items: Sequence[Item], out_dir: Path, overwrite: bool) -> None:
    """Refuse, before anything runs, two items writing the same file and an output that no
    run may write (its format, bit depth, an input's path)."""
    seen: dict[str, Item] = {}
    for item in items:
        earlier = seen.setdefault(item.output, item)
        if earlier is not item:
            raise PainterlyError(
                f"two items would write '{printable(item.output)}' ({earlier.where()} and "
                f"{item.where()}); name the outputs in a manifest's output column"
            )
        check_output_path(out_dir / item.output, True, _files(item), item.options.bit_depth)


def _files(item: Item) -> list[tuple[str, str]]:
    return input_files(item.content, item.styles, item.options)


def prepare_folder(out_dir: Path) -> Path:
    """The output folder, made if missing (with its parents)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PainterlyError(
            f"could not make the output folder '{printable(out_dir)}' ({os_reason(error)})"
        ) from None
    check_output_folder(out_dir)
    return out_dir


def run_batch(
    items: Sequence[Item],
    out_dir: Path,
    pool: Callable[[], Pool],
    *,
    overwrite: bool = False,
    retries: int = RETRIES,
    on_step: Callable[[Step], None] | None = None,
) -> Summary:
    """Run ``items`` into ``out_dir`` on the pool ``pool()`` makes (made only if some item
    needs running). Ctrl-C or SIGTERM stop the workers and return with ``stopped`` set."""
    created = not out_dir.exists()
    out_dir = prepare_folder(out_dir)
    try:
        check_items(items, out_dir, overwrite)
    except PainterlyError:
        _remove_if_empty(out_dir, created)
        raise
    log = ResultsLog(out_dir)
    summary = Summary(len(items), log.path)
    started = time.monotonic()
    digests: dict[str, str] = {}

    def tell(kind: str, index: int, **more: Any) -> None:
        if on_step is not None:
            ended = summary.done + summary.skipped + summary.failed
            step = Step(kind, items[index], ended, len(items), time.monotonic() - started, **more)
            on_step(step)

    def end(index: int, row: dict[str, Any]) -> None:
        item = items[index]
        row = {"output": item.output, "content": item.content, "styles": list(item.styles),
               "line": item.line, "options": dict(item.given), **row}  # fmt: skip
        log.append(row)
        if row["status"] == "done":
            summary.done += 1
        else:
            summary.failed += 1
            summary.failures.append(f"{item.output}: {row['error']}")
        tell(row["status"], index, row=row, worker=row.get("worker", ""))

    def made_by(index: int, files: dict[str, bytes] | None = None) -> str:
        item = items[index]
        if files is not None:
            found = {path: digest(data) for path, data in files.items()}
        else:
            found = {path: _digest_of(path, role, digests) for role, path in _files(item)}
        return fingerprint(found, item.options, item.output)

    attempts: collections.Counter[int] = collections.Counter()
    running: dict[int, str] = {}
    pending: collections.deque[int] = collections.deque()

    def handle(event: Event) -> None:
        index = event.task
        if event.kind == "ready":  # a worker is back: the loop gives it work
            return
        if event.kind in ("started", "progress"):
            tell(event.kind, index, worker=event.worker, progress=event.progress)
            return
        made = running.pop(index)
        if event.kind == "crashed":
            if attempts[index] <= retries:
                pending.appendleft(index)
                tell("retry", index, worker=event.worker, row={"error": event.error})
            else:
                error = f"the worker failed {attempts[index]} times ({event.error})"
                end(index, {"status": "failed", "attempts": attempts[index], "error": error})
            return
        outcome = event.outcome
        assert outcome is not None
        row = {**outcome_row(outcome), "attempts": attempts[index]}
        if outcome.error is not None or outcome.data is None:
            end(index, {**row, "status": "failed", "error": outcome.error})
            return
        data = outcome.data
        try:
            target = out_dir / items[index].output
            write_atomically(target, lambda temp: Path(temp).write_bytes(data), overwrite)
        except PainterlyError as error:
            end(index, {**row, "status": "failed", "error": str(error)})
            return
        end(index, {**row, "status": "done", "fingerprint": made, "sha256": digest(data)})

    for index, item in enumerate(items):
        target = out_dir / item.output
        try:
            fingerprint_now = made_by(index)
        except PainterlyError as error:
            end(index, {"status": "failed", "error": str(error), "attempts": 0})
            continue
        if log.is_complete(item.output, target, fingerprint_now):
            summary.skipped += 1
            tell("skipped", index)
        elif not overwrite and (target.exists() or target.is_symlink()):
            end(index, {"status": "failed", "attempts": 0, "error":
                        f"'{printable(target)}' exists and is not this batch's finished result; "
                        "pass --overwrite to replace it"})  # fmt: skip
        else:
            pending.append(index)
    if not pending:
        log.close()
        return summary

    workers = None
    try:
        try:
            workers = pool()
        except PainterlyError:
            _remove_if_empty(out_dir, created)
            raise
        while pending or running:
            while pending and len(running) < workers.slots:
                index = pending.popleft()
                item = items[index]
                try:
                    files = read_files(item.content, item.styles, item.options)
                except PainterlyError as error:
                    end(index, {"status": "failed", "error": str(error), "attempts": 0})
                    continue
                attempts[index] += 1
                running[index] = made_by(index, files)
                payload = Payload(item.content, item.styles, item.options,
                                  Path(item.output).suffix, files)  # fmt: skip
                workers.submit(index, payload)
            if not running and not pending:
                break
            handle(workers.next_event())
    except KeyboardInterrupt:
        summary.stopped = "interrupted"
    except Terminated:
        summary.stopped = "terminated"
    finally:
        if workers is not None:
            workers.close()
        log.close()
    return summary


def _digest_of(path: str, role: str, known: dict[str, str]) -> str:
    """SHA-256 of an input, read once per batch (a missing one raises, naming its role)."""
    if path not in known:
        from painterly.io.images import read_input

        known[path] = digest(read_input(path, role))
    return known[path]


def _remove_if_empty(folder: Path, created: bool) -> None:
    """Take back an output folder this batch made, when it refuses before writing in it."""
    if created:
        with contextlib.suppress(OSError):
            folder.rmdir()
