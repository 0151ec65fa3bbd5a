"""The results log of a batch: ``OUTDIR/painterly-batch.jsonl``, one JSON object a line,
appended (and synced) as each item ends, so a stopped batch keeps what it did.

A row holds the item's inputs, its options as given and as resolved, its output, ``status``
(``done`` or ``failed``), the error sentence of a failed item, the losses, seconds, worker
and attempts, and for a done item the SHA-256 of its output file and a fingerprint of
everything that made it (the inputs' bytes, the options, the output name). A rerun skips an
item only when its last row is ``done`` with the same fingerprint and the file on disk has
the recorded SHA-256: present is not enough.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from painterly.errors import PainterlyError, printable
from painterly.io.files import os_reason

LOG_NAME = "painterly-batch.jsonl"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str | None:
    """SHA-256 of a regular file's content, None if it is missing or not a regular file."""
    try:
        if not path.is_file() or path.is_symlink():
            return None
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return None


def fingerprint(input_digests: Mapping[str, str], options: Any, output: str) -> str:
    """What made an output, as one hash: the inputs' content (not their names or times),
    every resolved option and the output's name."""
    record = {
        "inputs": sorted(input_digests.values()),
        "options": dataclasses.asdict(options),
        "output": output,
    }
    return digest(json.dumps(record, sort_keys=True, default=str).encode())


class ResultsLog:
    """The log of the batch writing into ``folder``: its earlier rows are read on opening
    (a line that does not parse, as a killed write may leave, is ignored), new rows appended."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOG_NAME
        self.last: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(FileNotFoundError):
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    row = json.loads(line)
                    if isinstance(row, dict) and isinstance(row.get("output"), str):
                        self.last[row["output"]] = row
        self._file: TextIO | None = None  # opened by the first row: a batch that does
        # nothing (all finished, or its cluster unreachable) leaves no new file

    def is_complete(self, output: str, target: Path, made_by: str) -> bool:
        """Whether ``target`` is this item's finished output (see the module's description)."""
        row = self.last.get(output)
        return (
            row is not None
            and row.get("status") == "done"
            and row.get("fingerprint") == made_by
            and row.get("sha256") == file_digest(target)
        )

    def append(self, row: dict[str, Any]) -> None:
        if self._file is None:
            try:
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (see close)
            except OSError as error:
                raise PainterlyError(
                    f"could not write the results log '{printable(self.path)}' ({os_reason(error)})"
                ) from None
        row = {**row, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self._file.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.last[row["output"]] = row

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
