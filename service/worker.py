"""The worker loop: claim a job, run the handler with progress, cancellation and a time limit, record the outcome.

The handler (``handler(job, report) -> result dict``) is built once per worker process, so the model
loads once. Bad input (`VidgateError`) fails the job at once — it will not get better on retry; any
other exception hands the job back for another delivery, up to the queue's cap.

Faults the loop survives:

* the queue (Redis) goes away: claiming backs off (0.5 s doubling to 15 s) and resumes when it returns;
  progress and cancel checks during an outage are skipped; the outcome of the job in hand is written
  once the queue answers again (given up after `GIVE_UP_S` only when the worker is stopping — the job
  is then handed to another worker after the lease);
* the worker loses its lease (frozen, or cut off longer than the lease): the heartbeat notices, the
  handler is asked to stop, and the queue refuses its outcome; files the handler staged with
  ``report.write`` are written only after the outcome was accepted, so a stale worker never overwrites
  the record of the worker that took the job over;
* the job is cancelled or deleted under it: the handler stops at its next cancel check (a job that is gone
  reads as cancelled); whatever the handler raised then, the job is not retried; the writes of a deleted
  job find no record and change nothing, and files written just as a DELETE came are removed again;
* a job runs past its time limit (``VIDGATE_JOB_TIME_LIMIT_S`` + ``VIDGATE_JOB_TIME_PER_VIDEO_S`` × the
  video's duration): it stops at the next cancel check and fails with ``job_timeout``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import random
import socket
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis

from pipelines.errors import Cancelled, VidgateError

from .jobs import Job, JobStatus
from .metrics import JOBS_FINISHED
from .queue import Delivery, JobQueue

if TYPE_CHECKING:
    from .config import Settings
    from .storage import Storage

log = logging.getLogger("vidgate.worker")

Handler = Callable[[Job, "Report"], dict[str, Any]]
GIVE_UP_S = 30.0  # a stopping worker waits this long for the queue to take the outcome of its job
TRANSIENT = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, sqlite3.OperationalError,
             ConnectionError, TimeoutError)


class Report:
    """What a handler sees of its job: progress, cancellation (both throttled) and staged files.

    ``should_cancel()`` turns True when the job was cancelled, ran past its time limit, or this worker lost
    its lease; ``reason`` says which.
    """

    def __init__(self, queue: JobQueue, delivery: Delivery, *, every_s: float = 0.5,
                 time_limit_s: float | None = None) -> None:
        self.queue = queue
        self.delivery = delivery
        self.job = delivery.job
        self.every_s = every_s
        self.deadline = time.monotonic() + time_limit_s if time_limit_s else None
        self.time_limit_s = time_limit_s
        self.files: dict[str, bytes] = {}
        self.reason: str | None = None
        self._last_progress = 0.0
        self._last_stage = ""
        self._last_check = 0.0

    def progress(self, stage: str, fraction: float) -> None:
        """Every new stage is recorded; repeats of one stage at most every ``every_s`` seconds."""
        now = time.monotonic()
        if stage != self._last_stage or now - self._last_progress >= self.every_s or fraction >= 1.0:
            self._last_progress, self._last_stage = now, stage
            try:
                self.queue.progress(self.job.id, stage, fraction, lease=self.delivery.lease or None)
            except TRANSIENT:  # progress is a courtesy; the job goes on while the queue is away
                log.debug("job %s: progress not recorded (queue unreachable)", self.job.id)

    def should_cancel(self) -> bool:
        if self.reason is not None:
            return True
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            self.reason = "time_limit"
        elif now - self._last_check >= self.every_s:
            self._last_check = now
            try:
                if self.queue.cancel_requested(self.job.id):
                    self.reason = "cancelled"
            except TRANSIENT:
                pass
        return self.reason is not None

    def cancel_asked(self) -> bool:
        """Whether the job's cancel was asked for (or the job deleted), checked now (not throttled); False while
        the queue cannot be reached."""
        if self.reason == "cancelled":
            return True
        try:
            asked = self.queue.cancel_requested(self.job.id)
        except TRANSIENT:
            return False
        if asked and self.reason is None:
            self.reason = "cancelled"
        return asked

    def lease_lost(self) -> None:
        if self.reason is None:
            self.reason = "lease_lost"

    def write(self, key: str, data: bytes) -> None:
        """Stage a file for storage; it is written only if this delivery's outcome is accepted."""
        self.files[key] = data

    def write_json(self, key: str, value: Any) -> None:
        self.write(key, json.dumps(value, separators=(",", ":")).encode())


class _Pulse(threading.Thread):
    """Beats for the worker (liveness, seen by ``/readyz``) and for the job in hand (its lease)."""

    def __init__(self, queue: JobQueue, name: str, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"pulse-{name}")
        self.queue, self.worker, self.stop = queue, name, stop
        self.report: Report | None = None
        self.done = threading.Event()

    def run(self) -> None:
        every = self.queue.heartbeat_s
        while not self.done.is_set():
            report = self.report
            try:
                self.queue.worker_beat(self.worker)
                if report is not None and not self.queue.heartbeat(report.delivery):
                    log.warning("job %s: this worker lost its lease; stopping work on it", report.job.id)
                    report.lease_lost()
            except Exception:  # a missed beat is survivable; the next one may pass
                log.debug("heartbeat failed", exc_info=True)
            self.done.wait(every)


def job_time_limit(job: Job, settings: Settings | None) -> float | None:
    """Seconds a job may run: the base limit plus the allowance per second of video (None: no limit)."""
    if settings is None or settings.job_time_limit_s <= 0:
        return None
    duration = float((job.input or {}).get("duration") or 0.0)
    return settings.job_time_limit_s + settings.job_time_per_video_s * max(0.0, duration)


def _persist(call: Callable[[], Any], what: str, stop: threading.Event | None) -> Any:
    """Run a queue write, retrying while the queue is unreachable (until it answers, or we stop and give up)."""
    delay, waited = 0.5, 0.0
    while True:
        try:
            return call()
        except TRANSIENT as exc:
            if stop is not None and stop.is_set() and waited >= GIVE_UP_S:
                log.error("%s: queue unreachable for %.0f s while stopping; left for another worker", what, waited)
                return None
            if waited == 0.0:
                log.warning("%s: queue unreachable (%s); retrying until it answers", what, type(exc).__name__)
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 15.0)


def process(queue: JobQueue, delivery: Delivery, handler: Handler, *, storage: Storage | None = None,
            time_limit_s: float | None = None, stop: threading.Event | None = None,
            pulse: _Pulse | None = None) -> JobStatus | None:
    """Run one delivered job to its outcome; returns the status recorded (None: refused or not recorded)."""
    job = delivery.job
    report = Report(queue, delivery, time_limit_s=time_limit_s)
    if pulse is not None:
        pulse.report = report
    status: JobStatus = JobStatus.SUCCEEDED
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    try:
        result = handler(job, report)
    except Cancelled:
        if report.reason == "lease_lost":
            log.warning("job %s: stopped: another worker holds it now, or it was deleted", job.id)
            return None
        if report.reason == "time_limit":
            status, error = JobStatus.FAILED, {
                "code": "job_timeout", "message": f"the job ran past its time limit of {report.time_limit_s:.0f} s"}
        else:
            status, error = JobStatus.CANCELLED, {"code": "cancelled", "message": "cancelled on request"}
    except VidgateError as exc:
        status, error = JobStatus.FAILED, exc.to_dict()
    except Exception as exc:
        if report.cancel_asked():  # cancelled or deleted under the handler: stopped, whatever broke, not retried
            status, error = JobStatus.CANCELLED, {"code": "cancelled", "message": "cancelled on request"}
        else:
            log.error("job %s: %s", job.id, traceback.format_exc())
            failure = {"code": "worker_error", "message": f"{type(exc).__name__}: {exc}"}
            _persist(lambda: queue.release(delivery, failure), f"job {job.id}", stop)
            JOBS_FINISHED.labels(status="retried").inc()
            return JobStatus.QUEUED
    finally:
        if pulse is not None:
            pulse.report = None
    written = _persist(lambda: queue.finish(delivery, status, result=result, error=error), f"job {job.id}", stop)
    if not written:
        log.warning("job %s: outcome %s not recorded (lease lost, job gone, or finished elsewhere)", job.id,
                    status.value)
        return None
    JOBS_FINISHED.labels(status=status.value).inc()
    if report.files and storage is not None:
        _write_files(queue, storage, job, report.files)
    return status


def _write_files(queue: JobQueue, storage: Storage, job: Job, files: dict[str, bytes]) -> None:
    """Write the files a handler staged, then remove them again from any job deleted meanwhile (a DELETE that
    came between the accepted outcome and the writes: `service.retention.drop_if_deleted`)."""
    from .retention import drop_if_deleted
    from .storage import job_of_key

    for key, data in files.items():
        try:
            storage.write_bytes(key, data)
        except Exception:  # the job record holds the result; files are its durable copy
            log.warning("job %s: could not write %s", job.id, key, exc_info=True)
    for owner in sorted({job_id for job_id in map(job_of_key, files) if job_id is not None}):
        try:
            if drop_if_deleted(queue, storage, owner):
                log.warning("job %s: job %s was deleted while its files were written; removed them", job.id, owner)
        except Exception:  # `vidgate gc` removes files no job points to
            log.warning("job %s: could not check job %s after writing its files", job.id, owner, exc_info=True)


class _Backoff:
    """Waits between failed claims: 0.5 s doubling to 15 s, with jitter; logs an outage once."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.since: float | None = None

    def wait(self, stop: threading.Event, exc: Exception) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("queue unreachable (%s: %s); retrying with backoff", type(exc).__name__, exc)
        self.delay = min(max(0.5, self.delay * 2), 15.0)
        stop.wait(self.delay * random.uniform(0.8, 1.2))

    def reset(self) -> None:
        if self.since is not None:
            log.warning("queue reachable again after %.1f s", time.monotonic() - self.since)
        self.delay, self.since = 0.0, None


def run_worker(queue: JobQueue, handler: Handler, *, stop: threading.Event | None = None, name: str | None = None,
               poll_s: float = 1.0, settings: Settings | None = None, storage: Storage | None = None,
               housekeeping: Callable[[], Any] | None = None, **_: Any) -> None:
    """Consume jobs until ``stop`` is set (the job in hand is finished first).

    Args:
        queue: where jobs come from.
        handler: ``handler(job, report) -> result``.
        stop: set to stop after the job in hand.
        name: consumer name (default: host name and process id).
        poll_s: longest wait for a job per claim.
        settings: time limit and retention (and the storage root when ``storage`` is not given).
        storage: where staged files (``report.write``) go.
        housekeeping: run when idle, at most every ``settings.housekeeping_s`` (default: expire old jobs).
    """
    stop = stop or threading.Event()
    consumer = name or f"{socket.gethostname()}-{os.getpid()}"
    if storage is None and settings is not None:
        from .storage import Storage

        storage = Storage(settings.storage_root)
    if housekeeping is None and settings is not None and storage is not None and settings.retention_s > 0:
        from .retention import expire

        retention_s, store = settings.retention_s, storage

        def housekeeping() -> Any:
            return expire(queue, store, retention_s=retention_s)

    every = settings.housekeeping_s if settings is not None else 300.0
    next_housekeeping = time.monotonic() + random.uniform(0, min(every, 30.0))
    pulse = _Pulse(queue, consumer, stop)
    pulse.start()
    backoff = _Backoff()
    try:
        while not stop.is_set():
            try:
                delivery = queue.claim(consumer, poll_s)
            except Exception as exc:
                if stop.is_set():
                    break
                backoff.wait(stop, exc)
                continue
            backoff.reset()
            if delivery is None:
                if housekeeping is not None and time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + every
                    try:
                        housekeeping()
                    except Exception:
                        log.warning("housekeeping failed", exc_info=True)
                continue
            log.info("job %s: started (delivery %d, worker %s)", delivery.job.id, delivery.deliveries, consumer)
            try:
                status = process(queue, delivery, handler, storage=storage, stop=stop, pulse=pulse,
                                 time_limit_s=job_time_limit(delivery.job, settings))
            except Exception:  # never let one job take the worker down
                log.error("job %s: %s", delivery.job.id, traceback.format_exc())
                continue
            if status is not None:
                log.info("job %s: %s", delivery.job.id, status.value)
    finally:
        pulse.done.set()


def load_handler_factory(path: str) -> Callable[..., Handler]:
    """``module:function`` → the function (tests plug in their own handlers this way)."""
    module, _, attr = path.partition(":")
    factory: Callable[..., Handler] = getattr(importlib.import_module(module), attr)
    return factory
