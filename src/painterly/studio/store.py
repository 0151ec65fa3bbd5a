"""Where the studio keeps its jobs and uploads: a small :class:`JobStore` interface and the
embedded SQLite implementation (one file in the data directory, images on disk beside it).

A server database could replace :class:`SqliteStore` by implementing the same methods; the
worker and the web app use nothing else. Every change is committed before the call
returns (SQLite in WAL mode, synchronous=FULL), so a crash or ``kill -9`` loses at most
the progress report being written.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from painterly.errors import PainterlyError

FINISHED = ("done", "failed", "cancelled", "interrupted")
"""States a job stays in until someone acts on it (restart, delete)."""

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    state TEXT NOT NULL,
    content TEXT NOT NULL,
    styles TEXT NOT NULL,
    options TEXT NOT NULL,
    parent TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    iteration INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    losses TEXT NOT NULL DEFAULT '{}',
    elapsed REAL NOT NULL DEFAULT 0,
    eta REAL,
    checkpoint INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
"""


@dataclass
class Upload:
    """An uploaded image: a server-chosen id; ``name`` is the client's file name, shown only."""

    id: str
    name: str
    width: int
    height: int
    created: float

    @classmethod
    def new(cls, name: str, width: int, height: int) -> Upload:
        """A new upload with a fresh id, created now."""
        return cls(uuid.uuid4().hex, name, width, height, time.time())


@dataclass
class Job:
    """One stylisation request and how far it got.

    ``content`` and each of ``styles`` is ``{"upload": id}`` or ``{"example": name}``;
    ``options`` holds the option values the client gave (validated by ``Options.build``);
    ``checkpoint`` is the iteration of the last saved iterate (0: none).
    """

    id: str
    state: str
    content: dict[str, str]
    styles: list[dict[str, str]]
    options: dict[str, Any]
    created: float
    seq: int = 0
    parent: str | None = None
    started: float | None = None
    finished: float | None = None
    iteration: int = 0
    total: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    eta: float | None = None
    checkpoint: int = 0
    error: str | None = None


_JSON_COLUMNS = ("content", "styles", "options", "losses")


class JobStore(Protocol):
    """What the studio needs from a store of jobs and uploads."""

    def add_upload(self, upload: Upload) -> None: ...

    def get_upload(self, upload_id: str) -> Upload | None: ...

    def create_job(
        self,
        content: dict[str, str],
        styles: list[dict[str, str]],
        options: dict[str, Any],
        parent: str | None = None,
        total: int = 0,
    ) -> Job: ...

    def get_job(self, job_id: str) -> Job | None: ...

    def list_jobs(self) -> list[Job]: ...

    def update_job(self, job_id: str, **values: Any) -> None: ...

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running and return it (None: the queue is empty)."""
        ...

    def requeue(self, job_id: str) -> bool:
        """Put a finished job at the back of the queue; False if it is queued or running."""
        ...

    def cancel_queued(self, job_id: str) -> bool:
        """Cancel a job that has not started; False if it is not queued."""
        ...

    def interrupt_running(self) -> list[str]:
        """Mark every job left running by a previous process interrupted; return their ids."""
        ...

    def delete_job(self, job_id: str) -> bool: ...


_COLUMNS = {"uploads": set(Upload.__dataclass_fields__), "jobs": set(Job.__dataclass_fields__)}
"""The columns of each table: the fields of the record it holds."""


class SqliteStore:
    """:class:`JobStore` in one SQLite file; safe to share between threads.

    A file that is not a sound studio database (corrupt, another program's, a newer
    schema) is refused with PainterlyError when the store opens, never at a later query.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as error:
            raise PainterlyError(f"cannot open the studio database {self.path} ({error})") from None
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.Error as error:
            self._db.close()
            raise PainterlyError(
                f"{self.path} is not a sound painterly studio database ({error}); move it "
                "away or choose another --data-dir"
            ) from None
        except PainterlyError:
            self._db.close()
            raise

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._db.executescript(
                    f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
                )
            elif version > SCHEMA_VERSION:
                raise PainterlyError(
                    f"{self.path} was written by a newer painterly (studio schema {version}; "
                    f"this one knows {SCHEMA_VERSION}); upgrade painterly or choose another "
                    "--data-dir"
                )
            elif version != SCHEMA_VERSION:
                raise PainterlyError(f"{self.path} has an unknown studio schema ({version})")
            self._check_schema()

    def _check_schema(self) -> None:
        """Refuse a damaged file or tables that are not the studio's (checked once, here)."""
        (verdict,) = self._db.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"the integrity check says {verdict!r}")
        for table, columns in _COLUMNS.items():
            found = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if found != columns:
                raise sqlite3.DatabaseError(f"its {table} table is not the studio's")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _change(self, sql: str, *args: Any) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def add_upload(self, upload: Upload) -> None:
        self._change(
            "INSERT INTO uploads (id, name, width, height, created) VALUES (?, ?, ?, ?, ?)",
            upload.id,
            upload.name,
            upload.width,
            upload.height,
            upload.created,
        )

    def get_upload(self, upload_id: str) -> Upload | None:
        row = self._one("SELECT * FROM uploads WHERE id = ?", upload_id)
        return Upload(**dict(row)) if row else None

    def create_job(
        self,
        content: dict[str, str],
        styles: list[dict[str, str]],
        options: dict[str, Any],
        parent: str | None = None,
        total: int = 0,
    ) -> Job:
        job = Job(
            uuid.uuid4().hex, "queued", content, styles, options, time.time(), parent=parent,
            total=total,
        )  # fmt: skip
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO jobs (id, state, content, styles, options, parent, created, total) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.state,
                    json.dumps(content),
                    json.dumps(styles),
                    json.dumps(options),
                    parent,
                    job.created,
                    total,
                ),
            )
            job.seq = cursor.lastrowid or 0
        return job

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        values = dict(row)
        for name in _JSON_COLUMNS:
            values[name] = json.loads(values[name])
        return Job(**values)

    def get_job(self, job_id: str) -> Job | None:
        row = self._one("SELECT * FROM jobs WHERE id = ?", job_id)
        return self._job(row) if row else None

    def list_jobs(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY seq DESC").fetchall()
        return [self._job(row) for row in rows]

    def update_job(self, job_id: str, **values: Any) -> None:
        unknown = set(values) - (set(Job.__dataclass_fields__) - {"id", "seq"})
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        names = sorted(values)
        args = [json.dumps(values[n]) if n in _JSON_COLUMNS else values[n] for n in names]
        assignments = ", ".join(f"{name} = ?" for name in names)
        self._change(f"UPDATE jobs SET {assignments} WHERE id = ?", *args, job_id)

    def claim_next(self) -> Job | None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT * FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1"
                ).fetchone()
                if row is not None:
                    self._db.execute(
                        "UPDATE jobs SET state = 'running', started = ?, error = NULL WHERE id = ?",
                        (time.time(), row["id"]),
                    )
            finally:
                self._db.execute("COMMIT")
        return self.get_job(row["id"]) if row else None

    def requeue(self, job_id: str) -> bool:
        # A new seq puts the job behind everything queued meanwhile.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT * FROM jobs WHERE id = ? AND state NOT IN ('queued', 'running')",
                    (job_id,),
                ).fetchone()
                if row is None:
                    return False
                values = dict(row)
                values.update(state="queued", error=None, started=None, finished=None, eta=None)
                del values["seq"]
                self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                self._db.execute(
                    f"INSERT INTO jobs ({', '.join(values)}) "
                    f"VALUES ({', '.join('?' * len(values))})",
                    tuple(values.values()),
                )
                return True
            finally:
                self._db.execute("COMMIT")

    def cancel_queued(self, job_id: str) -> bool:
        return bool(
            self._change(
                "UPDATE jobs SET state = 'cancelled', finished = ? "
                "WHERE id = ? AND state = 'queued'",
                time.time(),
                job_id,
            )
        )

    def interrupt_running(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE state = 'running'").fetchall()
            self._db.execute(
                "UPDATE jobs SET state = 'interrupted', eta = NULL, error = ? "
                "WHERE state = 'running'",
                ("the studio stopped while this job was running",),
            )
        return [row["id"] for row in rows]

    def delete_job(self, job_id: str) -> bool:
        return bool(self._change("DELETE FROM jobs WHERE id = ? AND state != 'running'", job_id))
