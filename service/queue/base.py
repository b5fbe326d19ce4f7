"""The queue interface shared by the embedded (SQLite) and Redis Streams implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ..jobs import Job, JobStatus


class QueueFull(Exception):
    """The queue holds as many queued jobs as it may (the API answers 429)."""


@dataclass
class Delivery:
    """A job handed to one worker; ``token`` identifies the delivery to the backend (e.g. a stream entry)."""

    job: Job
    token: str
    deliveries: int = 1


class JobQueue(ABC):
    """Job store + work queue. API side: submit/get/list/cancel/delete; worker side: claim/.../complete."""

    def __init__(self, *, max_queue: int = 1000, max_deliveries: int = 3, lease_s: float = 30.0) -> None:
        self.max_queue = max_queue
        self.max_deliveries = max_deliveries
        self.lease_s = lease_s

    # ---- API side
    @abstractmethod
    def submit(self, job: Job) -> Job:
        """Enqueue; a job with the same owner and idempotency key returns the existing job instead."""

    @abstractmethod
    def get(self, job_id: str) -> Job | None: ...

    @abstractmethod
    def find_idempotent(self, owner: str, key: str) -> Job | None: ...

    @abstractmethod
    def list(self, *, owner: str | None = None, status: JobStatus | None = None, limit: int = 50,
             cursor: str | None = None) -> tuple[list[Job], str | None]:
        """Newest first; returns a page and the cursor of the next page (None at the end)."""

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
    @abstractmethod
    def claim(self, consumer: str, timeout_s: float) -> Delivery | None:
        """The next job for this worker (marked running), or None after ``timeout_s``."""

    @abstractmethod
    def heartbeat(self, delivery: Delivery) -> None:
        """Keep the claim on a running job fresh (a claim not renewed within the lease is handed on)."""

    @abstractmethod
    def progress(self, job_id: str, stage: str, fraction: float) -> None: ...

    @abstractmethod
    def cancel_requested(self, job_id: str) -> bool: ...

    @abstractmethod
    def finish(self, delivery: Delivery, status: JobStatus, *, result: dict[str, Any] | None = None,
               error: dict[str, str] | None = None) -> bool:
        """Record the outcome once; a second completion of the same job changes nothing (returns False)."""

    @abstractmethod
    def release(self, delivery: Delivery, error: dict[str, str]) -> None:
        """A worker error that may pass: the job goes back for another delivery (up to the cap)."""


def check_size(queue: JobQueue) -> None:
    if queue.depth() >= queue.max_queue:
        raise QueueFull(f"the queue holds {queue.max_queue} jobs; retry later")
