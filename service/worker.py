"""The worker loop: claim a job, run the handler with progress and cancellation, record the outcome.

The handler (``handler(job, report) -> result dict``) is built once per worker process, so the model
loads once. Bad input (`VidgateError`) fails the job at once — it will not get better on retry; any
other exception hands the job back for another delivery, up to the queue's cap.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from pipelines.errors import VidgateError

from .jobs import Job, JobStatus
from .metrics import JOBS_FINISHED
from .queue import Delivery, JobQueue

log = logging.getLogger("vidgate.worker")

Handler = Callable[[Job, "Report"], dict[str, Any]]


class Report:
    """What a handler sees of its job: progress reporting and cancellation (both throttled)."""

    def __init__(self, queue: JobQueue, job: Job, *, every_s: float = 0.5) -> None:
        self.queue = queue
        self.job = job
        self.every_s = every_s
        self._last_progress = 0.0
        self._last_check = 0.0
        self._cancelled = False

    def progress(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last_progress >= self.every_s or fraction >= 1.0:
            self._last_progress = now
            self.queue.progress(self.job.id, stage, fraction)

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._last_check >= self.every_s:
            self._last_check = now
            self._cancelled = self.queue.cancel_requested(self.job.id)
        return self._cancelled


class _Heartbeat(threading.Thread):
    def __init__(self, queue: JobQueue, delivery: Delivery) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{delivery.job.id[:8]}")
        self.queue, self.delivery, self.done = queue, delivery, threading.Event()

    def run(self) -> None:
        while not self.done.wait(max(0.2, self.queue.lease_s / 3)):
            try:
                self.queue.heartbeat(self.delivery)
            except Exception:  # a missed beat is survivable; the next one may pass
                log.warning("heartbeat failed for job %s", self.delivery.job.id, exc_info=True)


def process(queue: JobQueue, delivery: Delivery, handler: Handler) -> JobStatus:
    """Run one delivered job to its outcome."""
    from pipelines.errors import Cancelled

    job = delivery.job
    beat = _Heartbeat(queue, delivery)
    beat.start()
    try:
        result = handler(job, Report(queue, job))
    except Cancelled:
        queue.finish(delivery, JobStatus.CANCELLED, error={"code": "cancelled", "message": "cancelled on request"})
        return _outcome(JobStatus.CANCELLED)
    except VidgateError as exc:
        queue.finish(delivery, JobStatus.FAILED, error=exc.to_dict())
        return _outcome(JobStatus.FAILED)
    except Exception as exc:
        log.error("job %s: %s", job.id, traceback.format_exc())
        queue.release(delivery, {"code": "worker_error", "message": f"{type(exc).__name__}: {exc}"})
        return _outcome(JobStatus.QUEUED)
    finally:
        beat.done.set()
    queue.finish(delivery, JobStatus.SUCCEEDED, result=result)
    return _outcome(JobStatus.SUCCEEDED)


def _outcome(status: JobStatus) -> JobStatus:
    """Count what this process did with a job (a job handed back for another try is ``queued``)."""
    JOBS_FINISHED.labels(status=status.value).inc()
    return status


def run_worker(queue: JobQueue, handler: Handler, *, stop: threading.Event | None = None, name: str | None = None,
               poll_s: float = 1.0) -> None:
    """Consume jobs until ``stop`` is set (the job in hand is finished first)."""
    stop = stop or threading.Event()
    consumer = name or f"{socket.gethostname()}-{os.getpid()}"
    while not stop.is_set():
        try:
            delivery = queue.claim(consumer, poll_s)
        except Exception:
            if stop.is_set():
                break
            log.warning("queue unreachable; retrying", exc_info=True)
            stop.wait(1.0)
            continue
        if delivery is None:
            continue
        status = process(queue, delivery, handler)
        log.info("job %s: %s", delivery.job.id, status.value)


def load_handler_factory(path: str) -> Callable[..., Handler]:
    """``module:function`` → the function (tests plug in their own handlers this way)."""
    module, _, attr = path.partition(":")
    factory: Callable[..., Handler] = getattr(importlib.import_module(module), attr)
    return factory
