"""The FastAPI application: `create_app(settings)` wires storage, the queue and (embedded mode) the workers.

Embedded mode (default): SQLite job store in the data folder and in-process worker threads that run the
recognizer; nothing else to install, and jobs survive a restart. Redis mode (``VIDGATE_REDIS_URL``): the
API only enqueues; ``vidgate worker`` processes consume.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.config import Settings, get_settings

from .errors import document_errors, install_error_handlers
from .routes import classify, dead, examples, health, jobs, models, pages
from .routes.docs import install_docs
from .services import Services

DESCRIPTION = """\
Long-range activity recognition for long videos: a cheap gate picks the snippets a heavy 3D CNN looks at.

Submit a video with `POST /v1/jobs` (multipart, streamed), follow it with `GET /v1/jobs/{id}`, fetch
thumbnails and clips of the selected snippets. Every error has the shape
`{"error": {"code": "...", "message": "..."}}`; codes are listed in docs/api.md.
"""


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
        docs_url=None,  # served from local files by install_docs
        redoc_url=None,
        openapi_tags=[
            {"name": "jobs", "description": "Asynchronous recognition jobs."},
            {"name": "classify", "description": "Synchronous convenience call."},
            {"name": "dead letters", "description": "Jobs that failed VIDGATE_MAX_DELIVERIES times: list, requeue, "
             "drop."},
            {"name": "examples", "description": "Example videos the served model knows, with their truth: try it "
             "without an upload."},
            {"name": "models", "description": "The model the workers run, with its card."},
            {"name": "health", "description": "Liveness, readiness, metrics."},
        ],
    )
    install_error_handlers(app)
    for router in (jobs.router, classify.router, examples.router, dead.router, models.router, health.router,
                   pages.router):
        app.include_router(router)
    install_docs(app)
    document_errors(app)
    app.mount("/static", _Static(directory=pages.STATIC_DIR, check_dir=False), name="static")
    return app
