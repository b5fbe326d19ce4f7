"""``POST /v1/classify``: the synchronous convenience call, a job that the request waits for (up to a limit)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field

from service.jobs import JobStatus

from ..deps import OwnerDep, ServicesDep
from ..errors import STATUS_BY_CODE, ErrorBody, error_responses
from ..intake import IDEMPOTENCY, UPLOAD_ERRORS, submit_upload
from ..jobview import job_body
from ..schemas import JobBody
from .jobs import UPLOAD_BODY

router = APIRouter(prefix="/v1", tags=["classify"])

POLL_S = 0.1
# A job that fails answers with its own error: the codes a worker records.
JOB_ERRORS = ("worker_error", "retries_exhausted", "job_timeout", "internal_error")


class FailedJobBody(ErrorBody):
    """The error body, with the job when the job itself failed (not the request)."""

    job: JobBody | None = Field(None, description="The failed job (absent when the request was refused).")


@router.post(
    "/classify",
    response_model=JobBody,
    summary="Upload a video and wait for the result",
    description=(
        "Waits up to `timeout` seconds (at most VIDGATE_SYNC_TIMEOUT_S). Returns 200 with the finished job, "
        "the job's error (with its status code) if it failed, or 202 with the job and its links to poll."
    ),
    openapi_extra=UPLOAD_BODY,
    responses={202: {"model": JobBody, "description": "still running: poll links.self"},
               **error_responses(*UPLOAD_ERRORS, *JOB_ERRORS, model=FailedJobBody)},
)
async def classify(
    request: Request,
    services: ServicesDep,
    owner: OwnerDep,
    timeout: Annotated[float | None, Query(gt=0, description="Seconds to wait for the result.")] = None,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200, description=IDEMPOTENCY)] = None,
) -> JSONResponse:
    limit = min(timeout or services.settings.sync_timeout_s, services.settings.sync_timeout_s)
    job = await submit_upload(request, services, owner, idempotency_key)
    deadline = time.monotonic() + limit
    while not job.finished and time.monotonic() < deadline:
        if await request.is_disconnected():
            break  # the job still runs; the client can find it with GET /v1/jobs
        await asyncio.sleep(POLL_S)
        current = await run_in_threadpool(services.get_job, job.id)
        job = current or job
    body = await run_in_threadpool(job_body, job, services)
    if job.status is JobStatus.FAILED and body["error"]:
        code = body["error"]["code"]
        # A failure caused by the input keeps its status (415, 422...); anything else is a server error.
        http = STATUS_BY_CODE.get(code, 500)
        return JSONResponse({"error": body["error"], "job": body}, status_code=http if http >= 400 else 500)
    if job.finished:
        return JSONResponse(body, status_code=200)
    return JSONResponse(body, status_code=202, headers={"Location": body["links"]["self"]})
