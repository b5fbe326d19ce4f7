"""Embedded mode: a SQLite job store (WAL) polled by in-process worker threads.

Jobs survive a restart: a job that was running when the process died goes back to the queue when the next
server starts (`EmbeddedQueue.recover`, called by the one process that runs the workers, never by merely
opening the store), and its attempts are counted in the store, so a video that kills the process stops at
``max_deliveries`` (``retries_exhausted``) instead of crashing every restart while the jobs behind it wait.
Every write a worker makes checks the delivery's lease in the same transaction (fencing); submitting
checks the idempotency key and the size limit in the same transaction as the insert.
A job that fails with ``retries_exhausted`` is also a dead letter: its row carries ``dead_at`` until an
operator requeues or drops it.
"""

from __future__ import annotations

import builtins
import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..jobs import FINISHED, Job, JobStatus, now
from .base import (
    BadCursor,
    DeadLetter,
    Delivery,
    JobQueue,
    QueueFull,
    decode_cursor,
    encode_cursor,
    iso_time,
    new_lease,
    revive,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, seq);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
"""
# Columns added after the first release: (name, declaration), added to older stores when opened.
# ``dead_at``: when the job became a dead letter (NULL: not one).
_ADDED_COLUMNS = (("finished_at", "REAL"), ("dead_at", "REAL"))


class EmbeddedQueue(JobQueue):
    def __init__(self, path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in columns:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")
                if name == "finished_at":  # jobs finished before the column existed expire too
                    with self._transaction():
                        for job in self._select("status IN (?, ?, ?)", tuple(s.value for s in FINISHED)):
                            self._save(job)
                if name == "dead_at":  # jobs that ran out of retries before the column existed are dead letters
                    self._db.execute("UPDATE jobs SET dead_at = finished_at WHERE status = 'failed' AND "
                                     "json_extract(data, '$.error.code') = 'retries_exhausted'")
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL")
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_dead ON jobs(dead_at, seq) WHERE dead_at IS NOT NULL")
        self._wake = threading.Condition(self._lock)

    def recover(self) -> builtins.list[str]:
        """Put jobs left ``running`` back in the queue (their attempts stay counted); returns their ids.

        Only the process that runs this store's workers calls it, at start, holding the data folder's server
        lock (`service.serve.hold_server_lock`): no other process can be running those jobs then. Opening
        the store changes nothing, so `vidgate gc` or `vidgate dead` beside a running server cost no job
        its lease or an attempt.
        """
        with self._transaction():
            interrupted = self._select("status = ?", (JobStatus.RUNNING.value,))
            for job in interrupted:
                job.status, job.progress, job.lease = JobStatus.QUEUED, {}, None
                self._save(job)
        if interrupted:
            with self._lock:
                self._wake.notify_all()
        return [job.id for job in interrupted]

    # ---- helpers
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One SQLite write transaction (``BEGIN IMMEDIATE``: no other writer between our read and write)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _select(self, where: str, args: tuple[Any, ...], tail: str = "") -> list[Job]:
        rows = self._db.execute(f"SELECT data FROM jobs WHERE {where} {tail}", args).fetchall()
        return [Job.from_dict(json.loads(r[0])) for r in rows]

    def _one(self, job_id: str) -> Job | None:
        jobs = self._select("id = ?", (job_id,))
        return jobs[0] if jobs else None

    def _save(self, job: Job) -> None:
        ended = _timestamp(job.finished_at) if job.status in FINISHED else None
        self._db.execute("UPDATE jobs SET status = ?, data = ?, finished_at = ? WHERE id = ?",
                         (job.status.value, json.dumps(job.to_dict()), ended, job.id))

    # ---- API side
    def submit(self, job: Job) -> Job:
        with self._transaction():
            if job.idempotency_key:
                existing = self._select("owner = ? AND idempotency_key = ?", (job.owner, job.idempotency_key))
                if existing:
                    return existing[0]
            if self._depth() >= self.max_queue:
                raise QueueFull(f"the queue holds {self.max_queue} jobs; retry later")
            self._db.execute("INSERT INTO jobs (id, owner, status, idempotency_key, data) VALUES (?, ?, ?, ?, ?)",
                             (job.id, job.owner, job.status.value, job.idempotency_key, json.dumps(job.to_dict())))
        with self._lock:
            self._wake.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._one(job_id)

    def find_idempotent(self, owner: str, key: str) -> Job | None:
        with self._lock:
            jobs = self._select("owner = ? AND idempotency_key = ?", (owner, key))
        return jobs[0] if jobs else None

    def list(self, *, owner: str | None = None, status: JobStatus | None = None, limit: int = 50,
             cursor: str | None = None) -> tuple[list[Job], str | None]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        if cursor is not None:
            where.append("seq < ?")
            args.append(_cursor_seq(cursor))
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, data FROM jobs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
        page = [Job.from_dict(json.loads(r[1])) for r in rows[:limit]]
        return page, (encode_cursor(str(rows[limit - 1][0])) if len(rows) > limit else None)

    def cancel(self, job_id: str) -> bool:
        with self._transaction():
            job = self._one(job_id)
            if job is None or job.finished:
                return False
            if job.status is JobStatus.QUEUED:
                job.status, job.finished_at = JobStatus.CANCELLED, now()
            job.cancel_requested = True
            self._save(job)
            return True

    def delete(self, job_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount > 0

    def _depth(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()[0])

    def depth(self) -> int:
        with self._lock:
            return self._depth()

    def stats(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        counts = {s.value: 0 for s in JobStatus}
        counts.update({status: int(n) for status, n in rows})
        return counts

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- worker side
    def claim(self, consumer: str, timeout_s: float) -> Delivery | None:
        with self._lock:
            delivery = self._claim_next(consumer)
            if delivery is None:
                self._wake.wait(timeout_s)
                delivery = self._claim_next(consumer)
            return delivery

    def _claim_next(self, consumer: str) -> Delivery | None:
        with self._transaction():
            while True:
                jobs = self._select("status = ?", (JobStatus.QUEUED.value,), "ORDER BY seq LIMIT 1")
                if not jobs:
                    return None
                job = jobs[0]
                if job.attempts >= self.max_deliveries:  # it took the process (or a worker) down every time
                    job.status, job.finished_at, job.lease = JobStatus.FAILED, now(), None
                    last = f"; last error: {job.error['message']}" if job.error else " (the process died each time)"
                    job.error = {"code": "retries_exhausted", "message": f"gave up after {job.attempts} attempts{last}"}
                    self._bury(job)
                    continue
                job.status, job.started_at, job.attempts, job.lease = JobStatus.RUNNING, now(), job.attempts + 1, \
                    new_lease()
                job.progress = {"stage": "starting", "fraction": 0.0}
                self._save(job)
                return Delivery(job=job, token=job.id, deliveries=job.attempts, lease=job.lease, consumer=consumer)

    def _holder(self, job_id: str, lease: str | None) -> Job | None:
        """The job if ``lease`` (when given) is still its lease; call inside a transaction."""
        job = self._one(job_id)
        if job is None or (lease is not None and job.lease != lease):
            return None
        return job

    def heartbeat(self, delivery: Delivery) -> bool:
        with self._lock:
            job = self._one(delivery.job.id)
        return job is not None and job.lease == delivery.lease and not job.finished

    def progress(self, job_id: str, stage: str, fraction: float, *, lease: str | None = None) -> None:
        with self._transaction():
            job = self._holder(job_id, lease)
            if job is not None and job.status is JobStatus.RUNNING:
                job.progress = {"stage": stage, "fraction": round(fraction, 4)}
                self._save(job)

    def cancel_requested(self, job_id: str) -> bool:
        job = self.get(job_id)
        return job is None or job.cancel_requested

    def finish(self, delivery: Delivery, status: JobStatus, *, result: dict[str, Any] | None = None,
               error: dict[str, str] | None = None) -> bool:
        with self._transaction():
            job = self._holder(delivery.job.id, delivery.lease or None)
            if job is None or job.status in FINISHED:
                return False
            job.status, job.finished_at, job.result, job.error = status, now(), result, error
            job.progress = {"stage": "done", "fraction": 1.0} if status is JobStatus.SUCCEEDED else job.progress
            self._save(job)
            return True

    def release(self, delivery: Delivery, error: dict[str, str]) -> None:
        with self._transaction():
            job = self._holder(delivery.job.id, delivery.lease or None)
            if job is None or job.finished:
                return
            if job.attempts >= self.max_deliveries:
                job.status, job.finished_at = JobStatus.FAILED, now()
                job.error = {"code": "retries_exhausted",
                             "message": f"gave up after {job.attempts} attempts; last error: {error['message']}"}
                self._bury(job)
            else:
                job.status, job.error, job.lease = JobStatus.QUEUED, error, None
                self._save(job)
        with self._lock:
            self._wake.notify_all()

    # ---- dead letters
    def _bury(self, job: Job) -> None:
        """Save a job that ran out of retries, as a dead letter (call inside a transaction)."""
        self._save(job)
        self._db.execute("UPDATE jobs SET dead_at = ? WHERE id = ?", (time.time(), job.id))

    def _dead(self, job_id: str, owner: str | None) -> Job | None:
        if owner is None:
            jobs = self._select("id = ? AND dead_at IS NOT NULL", (job_id,))
        else:
            jobs = self._select("id = ? AND dead_at IS NOT NULL AND owner = ?", (job_id, owner))
        return jobs[0] if jobs else None

    def dead_letters(self, *, owner: str | None = None, limit: int = 50,
                     cursor: str | None = None) -> tuple[builtins.list[DeadLetter], str | None]:
        where: list[str] = ["dead_at IS NOT NULL"]
        args: list[Any] = []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if cursor is not None:
            after, seq = _dead_cursor(cursor)
            where.append("(dead_at > ? OR (dead_at = ? AND seq > ?))")
            args += [after, after, seq]
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, dead_at, data FROM jobs WHERE {' AND '.join(where)} ORDER BY dead_at, seq LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
        page = [DeadLetter(job=Job.from_dict(json.loads(r[2])), since=iso_time(r[1])) for r in rows[:limit]]
        more = len(rows) > limit
        return page, (encode_cursor(repr(rows[limit - 1][1]), str(rows[limit - 1][0])) if more else None)

    def requeue_dead(self, job_id: str, *, owner: str | None = None) -> Job | None:
        with self._transaction():
            job = self._dead(job_id, owner)
            if job is None:
                return None
            if self._depth() >= self.max_queue:
                raise QueueFull(f"the queue holds {self.max_queue} jobs; retry later")
            self._save(revive(job))
            self._db.execute("UPDATE jobs SET dead_at = NULL WHERE id = ?", (job_id,))
        with self._lock:
            self._wake.notify_all()
        return job

    def drop_dead(self, job_id: str, *, owner: str | None = None) -> bool:
        with self._transaction():
            if self._dead(job_id, owner) is None:
                return False
            self._db.execute("UPDATE jobs SET dead_at = NULL WHERE id = ?", (job_id,))
            return True

    # ---- retention
    def expired(self, before: float, limit: int = 500) -> builtins.list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ? "
                                    "ORDER BY finished_at LIMIT ?", (before, limit)).fetchall()
        return [r[0] for r in rows]


def _timestamp(iso: str | None) -> float:
    if not iso:
        return time.time()
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _dead_cursor(cursor: str) -> tuple[float, int]:
    raw_time, raw_seq = decode_cursor(cursor, 2)
    try:
        after = float(raw_time)
    except ValueError:
        raise BadCursor("not a cursor from this API") from None
    if not raw_seq.isdigit() or len(raw_seq) > 18 or not math.isfinite(after):
        raise BadCursor("not a cursor from this API")
    return after, int(raw_seq)


def _cursor_seq(cursor: str) -> int:
    (raw,) = decode_cursor(cursor, 1)
    if not raw.isdigit() or len(raw) > 18:
        raise BadCursor("not a cursor from this API")
    return int(raw)
