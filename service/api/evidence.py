"""A job's per-snippet evidence, on request: from the result, from the copy kept in storage, or from a worker.

Computing the evidence needs the model (the temporal head's integrated gradients), and this process never
imports torch, so the first request for a job's evidence enqueues an evidence job (`service.jobs.JobKind`;
one per job, by its idempotency key) that a worker runs from what the head read (`jobs/{id}/head.npz`,
no decoding). The worker keeps the evidence beside the result (`jobs/{id}/evidence.json`), from where every
later request is served. A job submitted with the option ``evidence`` already holds it in its result.
"""

from __future__ import annotations

from typing import Any

from service.jobs import Job, JobStatus
from service.storage import evidence_key

from .errors import ApiError
from .services import Services

EVIDENCE_RETRY_S = 1  # Retry-After of a 202: an evidence job is one head pass


def job_evidence(services: Services, job: Job) -> dict[str, Any]:
    """The evidence body of a succeeded job (`schemas.EvidenceBody`): ``status`` succeeded with the snippets'
    evidence, or queued/running while a worker computes it. Blocking: run it in a thread."""
    if job.status is not JobStatus.SUCCEEDED:
        raise ApiError("job_not_finished", f"the job is {job.status.value}; its evidence exists once it has succeeded")
    links = {"self": f"/v1/jobs/{job.id}/evidence", "page": f"/jobs/{job.id}"}
    result = services.job_result(job) or {}
    snippets = result.get("snippets") or []
    if snippets and all(s.get("evidence") is not None for s in snippets):  # asked for when submitted
        return _ready([{"index": s["index"], "evidence": s["evidence"]} for s in snippets], links)
    key = evidence_key(job.id)
    try:
        return _ready(services.storage.read_json(key)["snippets"], links)
    except FileNotFoundError:
        pass
    request = services.request_evidence(job)
    if request.status is JobStatus.SUCCEEDED and request.result:  # done; its file is being written
        return _ready(request.result["snippets"], links)
    if request.finished:
        error = request.error or {}
        raise ApiError(error.get("code", "internal_error"),
                       error.get("message", f"the evidence job is {request.status.value}"))
    return {"status": request.status.value, "snippets": None, "links": links}


def _ready(snippets: list[dict[str, Any]], links: dict[str, str]) -> dict[str, Any]:
    return {"status": JobStatus.SUCCEEDED.value, "snippets": snippets, "links": links}
