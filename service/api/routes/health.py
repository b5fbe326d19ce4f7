"""Liveness, readiness and Prometheus metrics (unauthenticated: they reveal no job data)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from service.metrics import exposition

from ..deps import ServicesDep
from ..errors import RETRY_AFTER_S

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Check(BaseModel):
    ok: bool
    detail: str = ""


class Readiness(BaseModel):
    status: str = Field(description="ready or not_ready", examples=["ready"])
    mode: str = Field(description="embedded or redis", examples=["embedded"])
    checks: dict[str, Check] = Field(
        examples=[{"model": {"ok": True, "detail": "tiny-test"}, "queue": {"ok": True}, "storage": {"ok": True}}]
    )


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: model loaded, queue and storage reachable, a worker alive",
    responses={503: {"model": Readiness, "description": "not ready (has Retry-After)"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, Check] = await run_in_threadpool(_checks, services)
    ready = all(c.ok for c in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", mode=services.mode, checks=checks)
    headers = {} if ready else {"Retry-After": str(RETRY_AFTER_S[503])}
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503, headers=headers)


def _checks(services: Any) -> dict[str, Check]:
    checks = {}
    info = services.model_info
    checks["model"] = Check(ok=info is not None, detail=info["name"] if info else services.model_error or "loading")
    try:
        services.queue.ping()
        checks["queue"] = Check(ok=True)
    except Exception as exc:  # any failure to reach the queue means "not ready", with the reason
        checks["queue"] = Check(ok=False, detail=f"{type(exc).__name__}: {exc}")
    try:
        services.storage.ping()
        checks["storage"] = Check(ok=True)
    except Exception as exc:  # same: unreachable storage is a readiness failure, not a crash
        checks["storage"] = Check(ok=False, detail=f"{type(exc).__name__}: {exc}")
    if services.mode == "embedded":
        alive = services.workers_alive()
        checks["workers"] = Check(ok=alive > 0, detail=f"{alive} running")
    else:  # worker processes beat every few seconds; none within two leases means nobody consumes
        window = max(2 * services.settings.lease_s, 10.0)
        try:
            alive = services.queue.live_workers(within_s=window) or 0
            checks["workers"] = Check(ok=alive > 0, detail=f"{alive} alive")
        except Exception as exc:  # the queue check above already names the cause
            checks["workers"] = Check(ok=False, detail=f"unknown ({type(exc).__name__})")
    return checks


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "text exposition format"}},
)
async def metrics(services: ServicesDep) -> Response:
    body = await run_in_threadpool(exposition, services.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
