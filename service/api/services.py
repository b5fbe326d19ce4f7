"""What the routes use: settings, storage, the queue, the model's description and the embedded workers.

`Services` is built once per app (in its lifespan) and reached through `deps.ServicesDep`. Nothing here
imports torch: in Redis mode the API process only reads the checkpoint's metadata; in embedded mode the
worker threads load the model (`service.handlers`), imported only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry

from models.card import ModelCard
from pipelines.errors import ModelError, VidgateError
from pipelines.options import Options
from pipelines.results import model_info
from service.config import Settings
from service.jobs import EVIDENCE_KEY_PREFIX, Job, JobKind, JobStatus
from service.metrics import QueueCollector
from service.queue import BadCursor, DeadLetter, JobQueue, QueueFull, open_queue
from service.storage import Storage, job_prefix, result_key

from .errors import ApiError

log = logging.getLogger("vidgate.api")
T = TypeVar("T")


class Services:
    """The app's long-lived parts; every queue call maps an unreachable backend to 503."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mode = "redis" if settings.redis_url else "embedded"
        self.storage = Storage(settings.storage_root)
        self.queue: JobQueue = open_queue(settings)
        self.model_info: dict[str, Any] | None = None
        self.model_card: ModelCard | None = None
        self.model_error: str | None = None
        self.metrics_registry = CollectorRegistry(auto_describe=False)
        self.metrics_registry.register(QueueCollector(self.queue.stats, self.queue.depth))
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._handler: Any = None
        self._artifact_slots = asyncio.Semaphore(2)  # decoding for lazily made clips: bounded
        self.probe_slots = asyncio.Semaphore(max(1, settings.intake_probes))  # upload probes: bounded

    # ---- start-up / shut-down -------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model (embedded) or read its description (Redis), then start the embedded workers."""
        try:
            if self.mode == "embedded":
                from service.handlers import make_recognizer_handler

                # This process runs the store's workers: jobs a previous process left running go back first.
                for job_id in self.queue.recover():
                    log.warning("job %s: interrupted when the last server stopped; queued again", job_id)

                self._handler = make_recognizer_handler(self.settings, self.storage)
                self.model_info = self._handler.model_info
                self._start_workers(self._handler)
            else:
                self.model_info = checkpoint_info(self.settings)
            self.model_card = checkpoint_card(self.settings)
        except VidgateError as exc:
            self.model_error = exc.message
            log.error("model not loaded: %s", exc.message)

    def _start_workers(self, handler: Any) -> None:
        from service.worker import run_worker

        in_flight = self.settings.in_flight(getattr(handler, "device", None), getattr(handler, "backend", None))
        for i in range(in_flight):
            thread = threading.Thread(
                target=run_worker,
                args=(self.queue, handler),
                kwargs={"stop": self._stop, "name": f"embedded-{i}", "settings": self.settings,
                        "storage": self.storage},
                name=f"vidgate-worker-{i}",
                daemon=True,
            )
            thread.start()
            self._workers.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=10)
        if self._handler is not None:
            with contextlib.suppress(Exception):
                self._handler.close()
        with contextlib.suppress(Exception):
            self.queue.close()

    def workers_alive(self) -> int:
        return sum(t.is_alive() for t in self._workers)

    # ---- jobs --------------------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        return self._queue_call(self.queue.get, job_id)

    def list_jobs(self, owner: str, status: JobStatus | None, limit: int,
                  cursor: str | None) -> tuple[list[Job], str | None]:
        try:
            jobs, after = self._queue_call(self.queue.list, owner=owner, status=status, limit=limit, cursor=cursor)
        except BadCursor:
            raise ApiError("bad_cursor", "the cursor is not one this API handed out; start from the first page "
                           "and follow next_cursor") from None
        return [job for job in jobs if job.kind is JobKind.RECOGNIZE], after  # evidence jobs are the API's own

    def request_evidence(self, job: Job) -> Job:
        """The job that computes ``job``'s evidence: the one asked for before, or a new one (one per job: its
        idempotency key finds it for every later request, in the same transaction as the submit)."""
        request = Job.new(owner=job.owner, kind=JobKind.EVIDENCE, input={"job": job.id},
                          idempotency_key=f"{EVIDENCE_KEY_PREFIX}{job.id}")
        try:
            found = self._queue_call(self.queue.submit, request)
        except QueueFull as exc:
            raise ApiError("queue_full", str(exc) or "the queue is full; retry later") from None
        if found.kind is not JobKind.EVIDENCE:  # an upload that took the key first
            raise ApiError("conflict", f"the idempotency key {request.idempotency_key} is taken by another job")
        return found

    def dead_letters(self, owner: str, limit: int, cursor: str | None) -> tuple[list[DeadLetter], str | None]:
        try:
            return self._queue_call(self.queue.dead_letters, owner=owner, limit=limit, cursor=cursor)
        except BadCursor:
            raise ApiError("bad_cursor", "the cursor is not one this API handed out; start from the first page "
                           "and follow next_cursor") from None

    def requeue_dead(self, owner: str, job_id: str) -> Job:
        """The caller's dead letter back in the queue (404 when it is not one of theirs, 429 when full)."""
        try:
            job = self._queue_call(self.queue.requeue_dead, job_id, owner=owner) if len(job_id) <= 100 else None
        except QueueFull as exc:
            raise ApiError("queue_full", str(exc) or "the queue is full; retry later") from None
        if job is None:
            raise ApiError("not_found", "no such dead letter")
        return job

    def drop_dead(self, owner: str, job_id: str) -> None:
        if len(job_id) > 100 or not self._queue_call(self.queue.drop_dead, job_id, owner=owner):
            raise ApiError("not_found", "no such dead letter")

    def find_idempotent(self, owner: str, key: str) -> Job | None:
        return self._queue_call(self.queue.find_idempotent, owner, key)

    def check_capacity(self) -> None:
        depth = self._queue_call(self.queue.depth)
        if depth >= self.settings.max_queue:
            raise ApiError("queue_full", f"the queue holds {depth} jobs (limit {self.settings.max_queue}); retry later")

    def submit(self, *, job_id: str, owner: str, options: Options, source: dict[str, Any],
               idempotency_key: str | None) -> Job:
        job = Job.new(id=job_id, owner=owner, options=options, input=source, idempotency_key=idempotency_key)
        try:
            return self._queue_call(self.queue.submit, job)
        except QueueFull as exc:
            raise ApiError("queue_full", str(exc) or "the queue is full; retry later") from None

    def cancel(self, job: Job) -> Job:
        """Stop a queued job at once, or ask a running job's worker to stop; returns the job as it is now.

        404 when it was deleted meanwhile; 409 ``job_finished`` when it has finished (nothing to stop), or
        ``conflict`` when it was finished and then requeued under the cancel (retry).
        """
        cancelled = not job.finished and self._queue_call(self.queue.cancel, job.id)
        current = self.get_job(job.id)
        if current is None:
            raise ApiError("not_found", "no such job")
        if cancelled:
            return current
        if current.finished:
            raise ApiError("job_finished", f"the job is {current.status.value}; there is nothing to cancel "
                           "(DELETE removes it)")
        raise ApiError("conflict", f"the job is {current.status.value} and could not be cancelled; retry")

    def delete_job(self, job: Job) -> None:
        """Remove a job, its files and the job that computes its evidence.

        An unfinished job is stopped first: its cancel is requested, and its worker, which reads a job that is
        gone as cancelled, stops at its next cancel check; every write it makes afterwards finds no job and
        changes nothing. The record goes before the files: a writer that checks for the record after writing
        (`service.retention.drop_if_deleted`) then never leaves files behind.
        """
        evidence = self._queue_call(self.queue.find_idempotent, job.owner, f"{EVIDENCE_KEY_PREFIX}{job.id}")
        doomed = [job] if evidence is None or evidence.kind is not JobKind.EVIDENCE else [job, evidence]
        for each in doomed:
            if not each.finished:
                self._queue_call(self.queue.cancel, each.id)
            self._queue_call(self.queue.delete, each.id)
            self.remove_files(each.id)

    def remove_files(self, job_id: str) -> None:
        with contextlib.suppress(Exception):
            self.storage.delete_prefix(job_prefix(job_id))

    def job_result(self, job: Job) -> dict[str, Any] | None:
        """The result of a succeeded job: from the record, or from storage (the durable copy)."""
        if job.result:
            return dict(job.result)
        try:
            stored: dict[str, Any] = self.storage.read_json(result_key(job.id))
            return stored
        except FileNotFoundError:
            return None

    async def run_artifact(self, make: Callable[[], T]) -> T:
        async with self._artifact_slots:
            return await run_in_threadpool(make)

    def _queue_call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the queue; a backend that cannot be reached becomes 503 ``queue_unavailable``."""
        try:
            return fn(*args, **kwargs)
        except (ApiError, VidgateError):
            raise
        except Exception as exc:
            if isinstance(exc, UNAVAILABLE):
                raise ApiError("queue_unavailable", f"the job queue cannot be reached ({type(exc).__name__})") from None
            raise


UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, sqlite3.OperationalError,
               ConnectionError, TimeoutError)


def checkpoint_info(settings: Settings) -> dict[str, Any]:
    """The model's description from the checkpoint's metadata, without loading weights (Redis-mode API)."""
    from models.checkpoint import CheckpointError, read_config

    try:
        config = read_config(settings.checkpoint)
    except CheckpointError as exc:
        raise ModelError(str(exc)) from None
    return model_info(dataclasses.asdict(config), checkpoint_card(settings))


def checkpoint_card(settings: Settings) -> ModelCard:
    """The model card of the checkpoint the workers run (`models.checkpoint.read_card`; no torch)."""
    from models.checkpoint import CheckpointError, read_card

    try:
        return read_card(settings.checkpoint)
    except CheckpointError as exc:
        raise ModelError(str(exc)) from None
