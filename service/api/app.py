"""The FastAPI application: `create_app(settings)` wires storage, the queue and (embedded mode) the workers.

Embedded mode (default): SQLite job store in the data folder and in-process worker threads that run the
recognizer; nothing else to install, and jobs survive a restart. Redis mode (``VIDGATE_REDIS_URL``): the
API only enqueues; ``vidgate worker`` processes consume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.errors import VidgateError
from service.config import Settings, get_settings
from service.metrics import QueueCollector

from .errors import ApiError, install_error_handlers
from .routes import classify, health, jobs, models, pages

log = logging.getLogger("vidgate.api")
T = TypeVar("T")

DESCRIPTION = """\
Long-range activity recognition for long videos: a cheap gate picks the snippets a heavy 3D CNN looks at.

Submit a video with `POST /v1/jobs` (multipart, streamed), follow it with `GET /v1/jobs/{id}`, fetch
thumbnails and clips of the selected snippets. Every error has the shape
`{"error": {"code": "...", "message": "..."}}`; codes are listed in docs/api.md.
"""


class Services:
    """What the routes use: settings, storage, the queue, the model's description and the embedded workers."""

    def __init__(self, settings: Settings) -> None:
        from service.storage import Storage

        self.settings = settings
        self.mode = "redis" if settings.redis_url else "embedded"
        self.storage = Storage(settings.storage_root)
        self.queue = _open_queue(settings)
        self.model_info: dict[str, Any] | None = None
        self.model_error: str | None = None
        self.metrics_registry = CollectorRegistry(auto_describe=False)
        self.metrics_registry.register(QueueCollector(self.queue.stats, self.queue.depth))
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._artifact_slots = asyncio.Semaphore(2)  # decoding for lazily made clips: bounded

    # ---- start-up / shut-down -------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model (embedded) or read its description (Redis), then start the embedded workers."""
        try:
            if self.mode == "embedded":
                from service.handlers import make_recognizer_handler

                handler = make_recognizer_handler(self.settings, self.storage)
                self.model_info = handler.model_info
                self._start_workers(handler)
            else:
                self.model_info = _checkpoint_info(self.settings.checkpoint)
        except VidgateError as exc:
            self.model_error = exc.message
            log.error("model not loaded: %s", exc.message)

    def _start_workers(self, handler: Callable[..., Any]) -> None:
        from service.worker import run_worker

        for i in range(max(1, self.settings.workers)):
            thread = threading.Thread(
                target=run_worker,
                args=(self.queue, handler),
                kwargs={"stop": self._stop, "name": f"embedded-{i}", "settings": self.settings},
                name=f"vidgate-worker-{i}",
                daemon=True,
            )
            thread.start()
            self._workers.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self.queue.close()

    def workers_alive(self) -> int:
        return sum(t.is_alive() for t in self._workers)

    # ---- jobs --------------------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Any:
        return self._queue_call(self.queue.get, job_id)

    def list_jobs(self, owner: str, status: str | None, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
        from service.jobs import JobStatus

        wanted = JobStatus(status) if status else None
        return self._queue_call(self.queue.list, owner=owner, status=wanted, limit=limit, cursor=cursor)

    def find_idempotent(self, owner: str, key: str) -> Any:
        return self._queue_call(self.queue.find_idempotent, owner, key)

    def check_capacity(self) -> None:
        depth = self._queue_call(self.queue.depth)
        if depth >= self.settings.max_queue:
            raise ApiError("queue_full", f"the queue holds {depth} jobs (limit {self.settings.max_queue}); retry later")

    def submit(self, *, job_id: str, owner: str, options: dict[str, Any], source: dict[str, Any],
               idempotency_key: str | None) -> Any:
        from service.jobs import Job
        from service.queue import QueueFull

        job = Job.new(id=job_id, owner=owner, options=options, input=source, idempotency_key=idempotency_key)
        try:
            return self._queue_call(self.queue.submit, job)
        except QueueFull as exc:
            raise ApiError("queue_full", str(exc) or "the queue is full; retry later") from None

    def cancel_or_delete(self, job: Any) -> dict[str, Any] | None:
        """Cancel a queued/running job (returns its new state) or delete a finished one (returns None)."""
        from .jobview import FINISHED, field, links, status_of

        job_id = field(job, "id")
        if status_of(job) in FINISHED:
            self._queue_call(self.queue.delete, job_id)
            self.remove_artifacts(job_id)
            return None
        cancelled = self._queue_call(self.queue.cancel, job_id)
        current = self.get_job(job_id)
        status = status_of(current) if current is not None else "cancelled"
        if not cancelled and status not in FINISHED:
            raise ApiError("conflict", f"the job is {status} and could not be cancelled; retry")
        return {"id": job_id, "status": status, "links": links(job_id, status, None)}

    def remove_artifacts(self, job_id: str) -> None:
        from service.handlers import job_prefix

        with contextlib.suppress(Exception):
            self.storage.delete_prefix(job_prefix(job_id))

    def job_result(self, job: Any) -> dict[str, Any] | None:
        from service.handlers import result_key

        from .jobview import field

        result = field(job, "result")
        if result:
            return dict(result)
        key = result_key(field(job, "id"))
        try:
            stored: dict[str, Any] = self.storage.read_json(key)
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
            if _is_unavailable(exc):
                raise ApiError("queue_unavailable", f"the job queue cannot be reached ({type(exc).__name__})") from None
            raise


def _is_unavailable(exc: Exception) -> bool:
    import sqlite3

    import redis

    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | sqlite3.OperationalError
                      | ConnectionError | TimeoutError)


def _open_queue(settings: Settings) -> Any:
    from service.queue import open_queue

    return open_queue(settings)


def _checkpoint_info(checkpoint: Path) -> dict[str, Any]:
    """The model's description from the checkpoint's metadata, without loading weights (Redis-mode API)."""
    from models.checkpoint import CheckpointError, read_metadata
    from pipelines.errors import ModelError

    try:
        config = read_metadata(checkpoint)["config"]
    except CheckpointError as exc:
        raise ModelError(str(exc)) from None
    keys = ("name", "version", "light", "heavy", "classes", "snippet_frames", "multi_label", "threshold")
    return {k: config.get(k) for k in keys}


class _Static(StaticFiles):
    """Static files; a missing folder (viewer not installed) is a 404, not a server error."""

    async def check_config(self) -> None:
        if self.directory is None or not Path(self.directory).is_dir():
            raise StarletteHTTPException(404, "the viewer page is not installed")
        await super().check_config()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The vidgate API (``settings`` default: from ``VIDGATE_*`` environment variables)."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services(settings)
        app.state.services = services
        await run_in_threadpool(services.start)
        try:
            yield
        finally:
            await run_in_threadpool(services.stop)

    app = FastAPI(
        title="vidgate",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "jobs", "description": "Asynchronous recognition jobs."},
            {"name": "classify", "description": "Synchronous convenience call."},
            {"name": "models", "description": "The model the workers run."},
            {"name": "health", "description": "Liveness, readiness, metrics."},
        ],
    )
    install_error_handlers(app)
    for router in (jobs.router, classify.router, models.router, health.router, pages.router):
        app.include_router(router)
    app.mount("/static", _Static(directory=pages.STATIC_DIR, check_dir=False), name="static")
    return app
