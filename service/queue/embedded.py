"""Embedded mode: a SQLite job store (WAL) polled by in-process worker threads.

Jobs survive a restart: a job that was running when the process died goes back to the queue.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..jobs import FINISHED, Job, JobStatus, now
from .base import Delivery, JobQueue, check_size

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
        self._wake = threading.Condition(self._lock)
        # A job running when the last process stopped was interrupted: run it again.
        with self._lock:
            for job in self._select("status = ?", (JobStatus.RUNNING.value,)):
                job.status, job.progress = JobStatus.QUEUED, {}
                self._save(job)

    # ---- helpers
    def _select(self, where: str, args: tuple[Any, ...], tail: str = "") -> list[Job]:
        rows = self._db.execute(f"SELECT data FROM jobs WHERE {where} {tail}", args).fetchall()
        return [Job.from_dict(json.loads(r[0])) for r in rows]

    def _save(self, job: Job) -> None:
        self._db.execute("UPDATE jobs SET status = ?, data = ? WHERE id = ?",
                         (job.status.value, json.dumps(job.to_dict()), job.id))

    # ---- API side
    def submit(self, job: Job) -> Job:
        with self._lock:
            if job.idempotency_key:
                existing = self.find_idempotent(job.owner, job.idempotency_key)
                if existing is not None:
                    return existing
            check_size(self)
            self._db.execute("INSERT INTO jobs (id, owner, status, idempotency_key, data) VALUES (?, ?, ?, ?, ?)",
                             (job.id, job.owner, job.status.value, job.idempotency_key, json.dumps(job.to_dict())))
            self._wake.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            jobs = self._select("id = ?", (job_id,))
        return jobs[0] if jobs else None

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
        if cursor:
            where.append("seq < ?")
            args.append(int(cursor))
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, data FROM jobs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
        page = [Job.from_dict(json.loads(r[1])) for r in rows[:limit]]
        return page, (str(rows[limit - 1][0]) if len(rows) > limit else None)

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            job = self.get(job_id)
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

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()[0])

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
            jobs = self._select("status = ?", (JobStatus.QUEUED.value,), "ORDER BY seq LIMIT 1")
            if not jobs:
                self._wake.wait(timeout_s)
                jobs = self._select("status = ?", (JobStatus.QUEUED.value,), "ORDER BY seq LIMIT 1")
                if not jobs:
                    return None
            job = jobs[0]
            job.status, job.started_at, job.attempts = JobStatus.RUNNING, now(), job.attempts + 1
            job.progress = {"stage": "starting", "fraction": 0.0}
            self._save(job)
            return Delivery(job=job, token=job.id, deliveries=job.attempts)

    def heartbeat(self, delivery: Delivery) -> None:
        pass  # one process: a dead worker thread means a dead process, recovered at the next start

    def progress(self, job_id: str, stage: str, fraction: float) -> None:
        with self._lock:
            job = self.get(job_id)
            if job is not None and job.status is JobStatus.RUNNING:
                job.progress = {"stage": stage, "fraction": round(fraction, 4)}
                self._save(job)

    def cancel_requested(self, job_id: str) -> bool:
        job = self.get(job_id)
        return job is None or job.cancel_requested

    def finish(self, delivery: Delivery, status: JobStatus, *, result: dict[str, Any] | None = None,
               error: dict[str, str] | None = None) -> bool:
        with self._lock:
            job = self.get(delivery.job.id)
            if job is None or job.status in FINISHED:
                return False
            job.status, job.finished_at, job.result, job.error = status, now(), result, error
            job.progress = {"stage": "done", "fraction": 1.0} if status is JobStatus.SUCCEEDED else job.progress
            self._save(job)
            return True

    def release(self, delivery: Delivery, error: dict[str, str]) -> None:
        with self._lock:
            job = self.get(delivery.job.id)
            if job is None or job.finished:
                return
            if job.attempts >= self.max_deliveries:
                self.finish(delivery, JobStatus.FAILED, error={
                    "code": "retries_exhausted",
                    "message": f"gave up after {job.attempts} attempts; last error: {error['message']}"})
                return
            job.status, job.error = JobStatus.QUEUED, error
            self._save(job)
            self._wake.notify_all()
