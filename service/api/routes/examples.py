"""``/v1/examples``: the shipped example videos of the served model, and a job of one without an upload.

The API reads only the examples' list (`service.examples`); the worker opens the video, as for any job.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pipelines.options import parse_options
from service.examples import Example, UnknownExample, examples_for, find_example, job_input
from service.jobs import new_job_id

from ..deps import OwnerDep, ServicesDep
from ..errors import AUTH_ERRORS, ApiError, error_responses
from ..jobview import job_body
from ..schemas import JobBody
from ..services import Services

router = APIRouter(prefix="/v1/examples", tags=["examples"])


class ExampleList(BaseModel):
    examples: list[Example] = Field(description="Examples whose true label is a class of the served model: test "
                                    "videos of the benchmark the demo model was trained on, with their truth.")


def _served(services: Services) -> tuple[Example, ...]:
    info = services.model_info
    if info is None:
        raise ApiError("not_ready", services.model_error or "the model is still loading")
    return examples_for(info["classes"])


@router.get("", response_model=ExampleList, summary="The example videos the served model can be tried on",
            responses=error_responses(*AUTH_ERRORS, "not_ready"))
def list_examples(services: ServicesDep, owner: OwnerDep) -> dict[str, Any]:
    return {"examples": [e.to_dict() for e in _served(services)]}


@router.post(
    "/{name}",
    status_code=202,
    response_model=JobBody,
    summary="Run a job on an example video (no upload)",
    description="Options come as query parameters, as for `POST /v1/jobs`. The job's `input` names the example "
    "and carries its truth (label and event times), which the viewer draws beside the selection.",
    responses=error_responses(*AUTH_ERRORS, "bad_options", "not_found", "not_ready", "queue_full",
                              "queue_unavailable", "validation_error"),
)
async def run_example(
    name: Annotated[str, Path(max_length=200)], request: Request, services: ServicesDep, owner: OwnerDep
) -> JSONResponse:
    options = parse_options(dict(request.query_params))  # a problem is 400 bad_options
    example = next((e for e in _served(services) if e.name == name), None)
    if example is None:
        try:
            find_example(name)
        except UnknownExample as exc:
            raise ApiError("not_found", exc.message) from None
        raise ApiError("not_found", f"the example {name!r} is not of the served model's classes")
    await run_in_threadpool(services.check_capacity)
    job = await run_in_threadpool(services.submit, job_id=new_job_id(), owner=owner, options=options,
                                  source=job_input(example), idempotency_key=None)
    body = job_body(job, services)
    return JSONResponse(body, status_code=202, headers={"Location": body["links"]["self"]})
