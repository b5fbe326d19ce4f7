"""The queue interface shared by the embedded (SQLite) and Redis Streams implementations."""

from __future__ import annotations

import base64
import binascii
import builtins
import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..jobs import Job, JobStatus, now

_CURSOR_VERSION = "v1"
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class QueueFull(Exception):
    """The queue holds as many queued jobs as it may (the API answers 429)."""


class BadCursor(ValueError):
    """A listing cursor that this queue did not hand out (the API answers 400 ``bad_cursor``)."""


@dataclass
class Delivery:
    """A job handed to one worker.

    Attributes:
        job: the job as it was when delivered.
        token: the backend's handle of the delivery (a stream entry id, or the job id).
        deliveries: how many times the job was handed out, this one included.
        lease: fencing token: only the holder of the job's current lease may write its progress and outcome.
        consumer: the worker it was delivered to.
    """

    job: Job
    token: str
    deliveries: int = 1
    lease: str = ""
    consumer: str = ""


@dataclass
class DeadLetter:
    """A job that failed ``max_deliveries`` times (``retries_exhausted``) and waits for an operator: requeue it
    once the cause is fixed, or drop it.

    Attributes:
        job: the job record (failed; ``error.message`` says why, ``attempts`` how often it was handed out).
        since: when it became a dead letter (ISO 8601, UTC).
    """

    job: Job
    since: str


def revive(job: Job) -> Job:
    """A dead letter's job made ready to run again: the round that ended goes to ``history``, the delivery
    count starts over, and the outcome, lease and timestamps of the round are cleared."""
    job.history.append({"attempts": job.attempts, "error": job.error, "started_at": job.started_at,
                        "finished_at": job.finished_at, "requeued_at": now()})
    job.status, job.attempts, job.error, job.result, job.lease = JobStatus.QUEUED, 0, None, None, None
    job.started_at, job.finished_at, job.progress, job.cancel_requested = None, None, {}, False
    return job


def iso_time(seconds: float) -> str:
    """Unix time as the job record writes times (ISO 8601, UTC, milliseconds)."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unix_time(iso: str) -> float:
    """A time the job record wrote (ISO 8601) as Unix time."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def new_lease() -> str:
    return secrets.token_hex(8)


def encode_cursor(*parts: str) -> str:
    """An opaque cursor: the position after the last job of a page, never an offset."""
    raw = "|".join((_CURSOR_VERSION, *parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    """The parts of a cursor made by `encode_cursor`; anything else raises `BadCursor`."""
    if not cursor or len(cursor) > 200:
        raise BadCursor("not a cursor from this API")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor from this API") from None
    version, *rest = raw.split("|")
    if version != _CURSOR_VERSION or len(rest) != parts:
        raise BadCursor("not a cursor from this API")
    return rest


def check_job_id(value: str) -> str:
    if not _JOB_ID.match(value):
        raise BadCursor("not a cursor from this API")
    return value


class JobQueue(ABC):
    """Job store + work queue. API side: submit/get/list/cancel/delete; worker side: claim/.../finish."""

    def __init__(self, *, max_queue: int = 1000, max_deliveries: int = 3, lease_s: float = 30.0) -> None:
        self.max_queue = max_queue
        self.max_deliveries = max_deliveries
        self.lease_s = lease_s

    @property
    def heartbeat_s(self) -> float:
        """How often a worker renews the lease of the job in hand: a third of the lease (0.2 s to 5 s), so one
        or two late beats do not cost the lease."""
        return max(0.2, min(self.lease_s / 3, 5.0))

    # ---- API side
    @abstractmethod
    def submit(self, job: Job) -> Job:
        """Enqueue, atomically with the idempotency check and the size limit.

        A job with the same owner and idempotency key as a stored job returns the stored one instead;
        a refused submit (`QueueFull`) reserves nothing.
        """

    @abstractmethod
    def get(self, job_id: str) -> Job | None: ...

    @abstractmethod
    def find_idempotent(self, owner: str, key: str) -> Job | None: ...

    @abstractmethod
    def list(self, *, owner: str | None = None, status: JobStatus | None = None, limit: int = 50,
             cursor: str | None = None) -> tuple[list[Job], str | None]:
        """Newest first; returns a page and the opaque cursor of the next page (None at the end).

        A cursor marks a position, not an offset: jobs submitted while a client pages do not shift
        the pages. Raises `BadCursor` for a cursor this queue did not make.
        """

    @abstractmethod
    def cancel(self, job_id: str) -> bool:
        """Queued → cancelled at once; running → cancel requested. False if already finished or unknown."""

    @abstractmethod
    def delete(self, job_id: str) -> bool: ...

    @abstractmethod
    def depth(self) -> int:
        """Queued jobs."""

    @abstractmethod
    def stats(self) -> dict[str, int]:
        """Jobs by status."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the backend cannot be reached."""

    def close(self) -> None:  # noqa: B027 — optional for backends without resources
        pass

    # ---- worker side
    def recover(self) -> builtins.list[str]:
        """Hand back jobs whose process died while running them; returns their ids.

        Called once by the process that owns the workers, when it starts, before they claim (embedded:
        `vidgate serve`). Redis mode has nothing to do: a dead worker's entry is reclaimed after its lease.
        """
        return []

    @abstractmethod
    def claim(self, consumer: str, timeout_s: float) -> Delivery | None:
        """The next job for this worker (marked running, with a new lease), or None after ``timeout_s``."""

    @abstractmethod
    def heartbeat(self, delivery: Delivery) -> bool:
        """Keep the claim on a running job fresh; False when the delivery lost its lease (stop working on it)."""

    @abstractmethod
    def progress(self, job_id: str, stage: str, fraction: float, *, lease: str | None = None) -> None:
        """Record progress (ignored unless ``lease`` is the job's current lease, when given)."""

    @abstractmethod
    def cancel_requested(self, job_id: str) -> bool: ...

    @abstractmethod
    def finish(self, delivery: Delivery, status: JobStatus, *, result: dict[str, Any] | None = None,
               error: dict[str, str] | None = None) -> bool:
        """Record the outcome if ``delivery`` still holds the job's lease (checked atomically with the write).

        Returns False, changing nothing, for a job already finished or deleted, or a stale delivery.
        """

    @abstractmethod
    def release(self, delivery: Delivery, error: dict[str, str]) -> None:
        """A worker error that may pass: the job goes back for another delivery (up to the cap)."""

    # ---- dead letters: jobs that failed ``max_deliveries`` times, kept for an operator
    @abstractmethod
    def dead_letters(self, *, owner: str | None = None, limit: int = 50,
                     cursor: str | None = None) -> tuple[builtins.list[DeadLetter], str | None]:
        """Dead letters, oldest first (only ``owner``'s when given); a page and the next page's opaque cursor.

        Raises `BadCursor` for a cursor this queue did not make.
        """

    @abstractmethod
    def requeue_dead(self, job_id: str, *, owner: str | None = None) -> Job | None:
        """Put a dead letter's job back in the queue (`revive`: delivery count reset, history kept) and remove
        the dead letter, in one atomic step; returns the queued job.

        None (changing nothing) when ``job_id`` is not a dead letter (of ``owner``, when given); raises
        `QueueFull` when the queue holds ``max_queue`` jobs.
        """

    @abstractmethod
    def drop_dead(self, job_id: str, *, owner: str | None = None) -> bool:
        """Remove a dead letter; the job record stays, failed with ``retries_exhausted``, until retention
        expires it or it is deleted. False when ``job_id`` is not a dead letter (of ``owner``)."""

    # ---- liveness and retention
    def worker_beat(self, name: str) -> None:  # noqa: B027 — embedded workers are threads of this process
        """Record that worker ``name`` is alive (`live_workers` counts recent beats)."""

    def live_workers(self, within_s: float) -> int | None:
        """Workers that beat within ``within_s`` seconds; None when the backend cannot tell (embedded)."""
        return None

    @abstractmethod
    def expired(self, before: float, limit: int = 500) -> builtins.list[str]:
        """Ids of jobs that finished before the Unix time ``before``, oldest first."""

    def maintain(self, *, dead_consumer_s: float = 3600.0) -> None:  # noqa: B027 — nothing to do for SQLite
        """Backend housekeeping: trim what workers acknowledged, forget dead workers."""


def check_size(queue: JobQueue) -> None:
    if queue.depth() >= queue.max_queue:
        raise QueueFull(f"the queue holds {queue.max_queue} jobs; retry later")
