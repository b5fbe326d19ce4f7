"""Retention: finished jobs and their files expire; uploads that no job points to are collected.

* `expire` deletes jobs that finished more than ``VIDGATE_RETENTION_S`` ago (default 7 days) with
  everything under ``jobs/{id}/`` in storage. Workers run it when idle, every ``VIDGATE_HOUSEKEEPING_S``.
* `collect` (``vidgate gc``) does that, trims the queue (Redis: acknowledged stream entries, dead
  consumers), and removes orphaned job folders: files under ``jobs/{id}/`` with no job record, older
  than a grace period (an upload in progress has no record yet). Orphans appear when Redis restarts
  without persistence and forgets jobs whose uploads were already stored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .storage import Storage, job_prefix

if TYPE_CHECKING:
    from .queue import JobQueue

log = logging.getLogger("vidgate.retention")

JOBS_PREFIX = "jobs/"
ORPHAN_GRACE_S = 3600.0


def expire(queue: JobQueue, storage: Storage, *, retention_s: float, now: float | None = None,
           batch: int = 500) -> int:
    """Delete jobs finished more than ``retention_s`` ago and their files; returns how many."""
    cutoff = (now or time.time()) - retention_s
    removed = 0
    while True:
        ids = queue.expired(cutoff, batch)
        for job_id in ids:
            storage.delete_prefix(job_prefix(job_id))  # files first: a crash here leaves the record to retry
            queue.delete(job_id)
            removed += 1
        if len(ids) < batch:
            break
    if removed:
        log.info("expired %d finished job(s) older than %.0f s", removed, retention_s)
    return removed


def drop_if_deleted(queue: JobQueue, storage: Storage, job_id: str) -> bool:
    """Remove the files of ``job_id`` if its record is gone; returns whether it was.

    Whoever writes a job's files without holding the job (a worker whose outcome was accepted just before a
    DELETE, the API caching a clip) calls it after writing: a DELETE removes the record before the files, so
    either the writer sees the record gone and removes what it wrote, or the DELETE's removal comes after
    the write.
    """
    if queue.get(job_id) is not None:
        return False
    storage.delete_prefix(job_prefix(job_id))
    return True


def orphans(queue: JobQueue, storage: Storage, *, grace_s: float = ORPHAN_GRACE_S,
            now: float | None = None) -> list[str]:
    """Job ids that have files in storage but no job record, untouched for ``grace_s`` seconds."""
    cutoff = (now or time.time()) - grace_s
    found = []
    for job_id in storage.children(JOBS_PREFIX):
        if queue.get(job_id) is not None:
            continue
        modified = storage.modified(job_prefix(job_id))
        if modified is None or modified < cutoff:
            found.append(job_id)
    return found


@dataclass
class Collected:
    """What `collect` removed."""

    expired: int = 0
    orphans: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"expired jobs: {self.expired}", f"orphaned uploads: {len(self.orphans)}"]


def collect(queue: JobQueue, storage: Storage, *, retention_s: float, grace_s: float = ORPHAN_GRACE_S,
            dry_run: bool = False) -> Collected:
    """Everything `vidgate gc` does: expire, trim the queue, remove orphaned uploads."""
    out = Collected()
    if not dry_run:
        if retention_s > 0:
            out.expired = expire(queue, storage, retention_s=retention_s)
        queue.maintain()
    out.orphans = orphans(queue, storage, grace_s=grace_s)
    if not dry_run:
        for job_id in out.orphans:
            storage.delete_prefix(job_prefix(job_id))
    return out
