"""``/v1/dead``: dead letters — jobs that failed ``VIDGATE_MAX_DELIVERIES`` times — listed, requeued once their
cause is fixed, or dropped. The same contract as ``vidgate dead`` (`JobQueue.dead_letters`, `requeue_dead`,
`drop_dead`), in both modes.

Auth as for the jobs routes: a key sees the dead letters of its own jobs; another key's are 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ..deps import OwnerDep, ServicesDep
from ..errors import AUTH_ERRORS, error_responses
from ..jobview import job_body
from ..schemas import DeadLetterList, JobBody
from .jobs import CURSOR_PATTERN

router = APIRouter(prefix="/v1/dead", tags=["dead letters"])


@router.get("", response_model=DeadLetterList, summary="Your dead letters, oldest first",
            responses=error_responses("bad_cursor", *AUTH_ERRORS, "validation_error", "queue_unavailable"))
async def list_dead(
    services: ServicesDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200, pattern=CURSOR_PATTERN,
                                        description="`next_cursor` of the previous page.")] = None,
) -> dict[str, Any]:
    letters, next_cursor = await run_in_threadpool(services.dead_letters, owner, limit, cursor)
    return {"dead_letters": [{"since": d.since, "job": job_body(d.job, services, with_result=False)} for d in letters],
            "next_cursor": next_cursor}


@router.post(
    "/{job_id}/requeue",
    status_code=202,
    response_model=JobBody,
    summary="Requeue a dead letter's job once its cause is fixed",
    description="The job goes back to `queued` and the dead letter is removed. Its delivery count starts over; "
    "`history` keeps the earlier round (attempts, error, times).",
    responses=error_responses(*AUTH_ERRORS, "not_found", "queue_full", "queue_unavailable"),
)
async def requeue_dead(job_id: str, services: ServicesDep, owner: OwnerDep) -> JSONResponse:
    job = await run_in_threadpool(services.requeue_dead, owner, job_id)
    body = job_body(job, services)
    return JSONResponse(body, status_code=202, headers={"Location": body["links"]["self"]})


@router.delete(
    "/{job_id}",
    status_code=204,
    response_class=Response,
    summary="Drop a dead letter; the job stays, failed, until retention removes it",
    responses={204: {"description": "dropped"}, **error_responses(*AUTH_ERRORS, "not_found", "queue_unavailable")},
)
async def drop_dead(job_id: str, services: ServicesDep, owner: OwnerDep) -> Response:
    await run_in_threadpool(services.drop_dead, owner, job_id)
    return Response(status_code=204)
