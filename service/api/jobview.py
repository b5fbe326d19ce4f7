"""How a job looks to its client: its JSON body and its links (the one place jobs are rendered)."""

from __future__ import annotations

from typing import Any

from service.jobs import Job, JobStatus

from .services import Services


def links(job_id: str, status: JobStatus, result: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"self": f"/v1/jobs/{job_id}", "page": f"/jobs/{job_id}"}
    if status is JobStatus.SUCCEEDED and result is not None:
        selected = [s["index"] for s in result.get("snippets", []) if s.get("selected")]
        out["thumbnails"] = [f"/v1/jobs/{job_id}/snippets/{i}/thumbnail" for i in selected]
        out["clips"] = [f"/v1/jobs/{job_id}/snippets/{i}/clip" for i in selected]
        out["context_clips"] = [f"/v1/jobs/{job_id}/snippets/{i}/context" for i in selected]
        out["evidence"] = f"/v1/jobs/{job_id}/evidence"
    return out


def job_body(job: Job, services: Services, *, with_result: bool = True) -> dict[str, Any]:
    """The JSON of a job (`schemas.JobBody`); never exposes storage keys or the owner."""
    status = job.status
    result = services.job_result(job) if with_result and status is JobStatus.SUCCEEDED else None
    progress = job.progress or {}
    body: dict[str, Any] = {
        "id": job.id,
        "status": status.value,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": {"stage": progress.get("stage", status.value), "fraction": float(progress.get("fraction", 0.0))}
        if progress
        else {"stage": status.value, "fraction": 1.0 if status is JobStatus.SUCCEEDED else 0.0},
        "options": job.options.to_dict(),
        "input": {"filename": job.input.get("filename"), "size": int(job.input.get("size") or 0),
                  "sha256": job.input.get("sha256"), "example": job.input.get("example"),
                  "truth": job.input.get("truth")},
        "error": {"code": job.error.get("code", "error"), "message": job.error.get("message", "")}
        if job.error else None,
        "attempts": job.attempts,
        "history": job.history,
        "links": links(job.id, status, result if with_result else None),
    }
    if with_result:
        body["result"] = result
    return body

