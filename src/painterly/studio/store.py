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

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'image',
    video TEXT
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
    error TEXT,
    kind TEXT NOT NULL DEFAULT 'image',
    video TEXT NOT NULL DEFAULT '{}'
);
"""
ADDED = {
    # 2: clips. An upload or a job from before is an image's.
    2: {
        "uploads": {"kind": "TEXT NOT NULL DEFAULT 'image'", "video": "TEXT"},
        "jobs": {"kind": "TEXT NOT NULL DEFAULT 'image'", "video": "TEXT NOT NULL DEFAULT '{}'"},
    },
}
"""The columns each schema version added to each table, with their declarations (as in
:data:`SCHEMA`): a database of an older version is brought up to date by adding them."""


@dataclass
class Upload:
    """An uploaded image or clip (``kind`` "image" or "video"): a server-chosen id; ``name``
    is the client's file name, shown only. A clip's ``video`` is what its probe found:
    ``frames``, ``fps`` (exact, as a fraction's text such as "30000/1001"), ``duration``
    in seconds, ``audio`` and ``codec``; width and height are its frames'."""

    id: str
    name: str
    width: int
    height: int
    created: float
    kind: str = "image"
    video: dict[str, Any] | None = None

    @classmethod
    def new(
        cls, name: str, width: int, height: int, kind: str = "image", video: dict | None = None
    ) -> Upload:
        """A new upload with a fresh id, created now."""
        return cls(uuid.uuid4().hex, name, width, height, time.time(), kind, video)


@dataclass
class Job:
    """One stylisation request and how far it got.

    ``content`` and each of ``styles`` is ``{"upload": id}`` or ``{"example": name}``;
    ``options`` holds the option values the client gave (validated by ``Options.build``);
    ``checkpoint`` is the iteration of the last saved iterate (0: none).

    A job whose content is a clip has ``kind`` "video" and the clip's settings as the
    client gave them in ``video`` (validated by ``VideoSettings.build``); its ``iteration``
    and ``total`` count frames, and ``checkpoint`` the frames kept for a restart.
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
    kind: str = "image"
    video: dict[str, Any] = field(default_factory=dict)


_JSON_COLUMNS = ("content", "styles", "options", "losses", "video")
"""The jobs' columns that hold JSON."""


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
        kind: str = "image",
        video: dict[str, Any] | None = None,
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
            elif version < 1:
                raise PainterlyError(f"{self.path} has an unknown studio schema ({version})")
            elif version < SCHEMA_VERSION:
                self._check_schema(version)  # a file that is not the studio's stays unchanged
                self._upgrade(version)
            self._check_schema(SCHEMA_VERSION)

    def _upgrade(self, version: int) -> None:
        """Add the columns of every later version, in one transaction: all or none."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for later in range(version + 1, SCHEMA_VERSION + 1):
                for table, columns in ADDED[later].items():
                    for name, declaration in columns.items():
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _check_schema(self, version: int) -> None:
        """Refuse a damaged file or tables that are not the studio's at schema ``version``
        (checked once, here)."""
        (verdict,) = self._db.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"the integrity check says {verdict!r}")
        for table, columns in _COLUMNS.items():
            later = (ADDED[v].get(table, {}) for v in range(version + 1, SCHEMA_VERSION + 1))
            expected = columns.difference(*later)
            found = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if found != expected:
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
            "INSERT INTO uploads (id, name, width, height, created, kind, video) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            upload.id,
            upload.name,
            upload.width,
            upload.height,
            upload.created,
            upload.kind,
            None if upload.video is None else json.dumps(upload.video),
        )

    def get_upload(self, upload_id: str) -> Upload | None:
        row = self._one("SELECT * FROM uploads WHERE id = ?", upload_id)
        if row is None:
            return None
        values = dict(row)
        values["video"] = None if values["video"] is None else json.loads(values["video"])
        return Upload(**values)

    def create_job(
        self,
        content: dict[str, str],
        styles: list[dict[str, str]],
        options: dict[str, Any],
        parent: str | None = None,
        total: int = 0,
        kind: str = "image",
        video: dict[str, Any] | None = None,
    ) -> Job:
        job = Job(
            uuid.uuid4().hex, "queued", content, styles, options, time.time(), parent=parent,
            total=total, kind=kind, video=video or {},
        )  # fmt: skip
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO jobs (id, state, content, styles, options, parent, created, total, "
                "kind, video) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.state,
                    json.dumps(content),
                    json.dumps(styles),
                    json.dumps(options),
                    parent,
                    job.created,
                    total,
                    kind,
                    json.dumps(job.video),
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
