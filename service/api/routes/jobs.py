"""``/v1/jobs``: submit a video, follow the job, fetch its result and artifacts, cancel it, delete it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator

from service.artifacts import CONTEXT_SECONDS, MAX_CONTEXT_SECONDS
from service.jobs import JobStatus

from ..deps import OwnerDep, ServicesDep, find_job
from ..errors import AUTH_ERRORS, error_responses
from ..evidence import EVIDENCE_RETRY_S, job_evidence
from ..form import upload_openapi
from ..intake import IDEMPOTENCY, UPLOAD_ERRORS, submit_upload
from ..jobview import job_body
from ..media import artifact, media_response
from ..schemas import EvidenceBody, JobBody, JobList

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

# What `next_cursor` is made of (unpadded URL-safe base64); anything else is refused as a bad parameter.
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"

UPLOAD_BODY = upload_openapi()


@router.post(
    "",
    status_code=202,
    response_model=JobBody,
    summary="Submit a video (multipart upload, streamed to storage)",
    description=(
        "Options come as form fields or query parameters (form wins). With an `Idempotency-Key` header, "
        "repeating the request returns the first job instead of creating another."
    ),
    openapi_extra=UPLOAD_BODY,
    responses=error_responses(*UPLOAD_ERRORS),
)
async def submit_job(
    request: Request,
    services: ServicesDep,
    owner: OwnerDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200, description=IDEMPOTENCY)] = None,
) -> JSONResponse:
    job = await submit_upload(request, services, owner, idempotency_key)
    body = job_body(job, services)
    return JSONResponse(body, status_code=202, headers={"Location": body["links"]["self"]})


@router.get("", response_model=JobList, summary="List your jobs, newest first",
            responses=error_responses("bad_cursor", *AUTH_ERRORS, "validation_error", "queue_unavailable"))
async def list_jobs(
    services: ServicesDep,
    owner: OwnerDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200, pattern=CURSOR_PATTERN,
                                        description="`next_cursor` of the previous page.")] = None,
) -> dict[str, Any]:
    jobs, next_cursor = await run_in_threadpool(services.list_jobs, owner, status, limit, cursor)
    return {"jobs": [job_body(j, services, with_result=False) for j in jobs], "next_cursor": next_cursor}


@router.get("/{job_id}", response_model=JobBody, summary="A job: status, progress, timestamps, result or error",
            responses=error_responses(*AUTH_ERRORS, "not_found", "queue_unavailable"))
async def get_job(job_id: str, services: ServicesDep, owner: OwnerDep) -> dict[str, Any]:
    job = await find_job(services, owner, job_id)
    return await run_in_threadpool(job_body, job, services, with_result=True)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobBody,
    summary="Stop a queued or running job; it stays readable, cancelled once stopped",
    description="A queued job is cancelled at once; a running job's worker is asked to stop and stops at its next "
    "cancel check (within about a second), then the job reads `cancelled`. The answer is the job as it is now: "
    "`cancelled`, or `running` until its worker stops. A finished job has nothing to stop (409 `job_finished`).",
    responses=error_responses(*AUTH_ERRORS, "not_found", "job_finished", "conflict", "queue_unavailable"),
)
async def cancel_job(job_id: str, services: ServicesDep, owner: OwnerDep) -> JSONResponse:
    job = await find_job(services, owner, job_id)
    current = await run_in_threadpool(services.cancel, job)
    return JSONResponse(await run_in_threadpool(job_body, current, services), status_code=202)


@router.delete(
    "/{job_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a job and its files; an unfinished job is stopped first",
    description="The job, its upload, its result and artifacts are removed, and every later request for it is "
    "404. A queued or running job is cancelled first (its worker stops at its next cancel check and records "
    "nothing); to stop a job and keep it, use `POST /v1/jobs/{id}/cancel`.",
    responses={204: {"description": "deleted"}, **error_responses(*AUTH_ERRORS, "not_found", "queue_unavailable")},
)
async def delete_job(job_id: str, services: ServicesDep, owner: OwnerDep) -> Response:
    job = await find_job(services, owner, job_id)
    await run_in_threadpool(services.delete_job, job)
    return Response(status_code=204)


def _half_steps(seconds: float) -> float:
    """Exactly a multiple of 0.5, as the schema says (pydantic's ``multiple_of`` lets 1e-9 pass)."""
    if not (seconds * 2).is_integer():
        raise ValueError(f"Input should be a multiple of 0.5, got {seconds!r}")
    return seconds


@router.get(
    "/{job_id}/evidence",
    response_model=EvidenceBody,
    summary="Each selected snippet's evidence for the returned labels (computed on the first request, then kept)",
    description="200 with the evidence once it exists: from the result when the job was submitted with "
    "`evidence`, else computed by a worker from what the head read (no decoding) on the first request and kept "
    "beside the result. 202 while a worker computes it: ask again after `Retry-After` seconds.",
    responses={202: {"description": "a worker is computing it; the body's `status` says where it is",
                     "headers": {"Retry-After": {"description": "Seconds to wait before asking again.",
                                                 "schema": {"type": "integer"}}}},
               **error_responses(*AUTH_ERRORS, "not_found", "job_not_finished", "evidence_unavailable",
                                 "queue_full", "queue_unavailable", "storage_unavailable")},
)
async def evidence(job_id: str, services: ServicesDep, owner: OwnerDep) -> JSONResponse:
    job = await find_job(services, owner, job_id)
    body = await run_in_threadpool(job_evidence, services, job)
    if body["status"] == JobStatus.SUCCEEDED.value:
        return JSONResponse(body)
    return JSONResponse(body, status_code=202, headers={"Retry-After": str(EVIDENCE_RETRY_S)})


MEDIA_ERRORS = error_responses(*AUTH_ERRORS, "not_found", "job_not_finished", "range_not_satisfiable",
                               "decode_failed", "queue_unavailable", "storage_unavailable")


@router.get(
    "/{job_id}/snippets/{index}/thumbnail",
    summary="JPEG of a snippet's centre frame (for snippets the light pass saw: the frame it saw)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 206: {"description": "the requested byte range"},
               **MEDIA_ERRORS},
)
async def thumbnail(job_id: str, index: int, request: Request, services: ServicesDep, owner: OwnerDep) -> Response:
    job = await find_job(services, owner, job_id)
    return media_response(request, await artifact(services, job, index, "thumbnail"), "image/jpeg")


@router.get(
    "/{job_id}/snippets/{index}/clip",
    summary="A snippet as a small MP4 (made on first request, then cached)",
    response_class=Response,
    responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "the requested byte range"},
               **MEDIA_ERRORS},
)
async def clip(job_id: str, index: int, request: Request, services: ServicesDep, owner: OwnerDep) -> Response:
    job = await find_job(services, owner, job_id)
    return media_response(request, await artifact(services, job, index, "clip"), "video/mp4")


@router.get(
    "/{job_id}/snippets/{index}/context",
    summary="A few seconds around a snippet as a small MP4 (made on first request, then cached)",
    description="The snippet's frames and `seconds` either side of it, cut at the video's start and end. "
    "Any snippet has one, selected or not.",
    response_class=Response,
    responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "the requested byte range"},
               **MEDIA_ERRORS},
)
async def context_clip(
    job_id: str,
    index: int,
    request: Request,
    services: ServicesDep,
    owner: OwnerDep,
    seconds: Annotated[float, Query(ge=0.0, le=MAX_CONTEXT_SECONDS, multiple_of=0.5,
                                    description="Seconds before and after the snippet."),
                       AfterValidator(_half_steps)] = CONTEXT_SECONDS,
) -> Response:
    job = await find_job(services, owner, job_id)
    return media_response(request, await artifact(services, job, index, "context", context_s=seconds), "video/mp4")
