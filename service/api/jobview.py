"""Route logic shared by the jobs and classify routers: submit an upload, find a job, render it, serve artifacts."""

from __future__ import annotations

import contextlib
import unicodedata
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from service.artifacts import CONTEXT_SECONDS, render_artifact
from service.examples import job_video
from service.jobs import Job, JobKind, JobStatus, new_job_id
from service.storage import artifact_key, input_key

from .errors import ApiError
from .form import options_from
from .intake import check_video, receive_video
from .services import Services


async def find_job(services: Services, owner: str, job_id: str) -> Job:
    """The caller's job, or 404 (also for another owner's job, whose existence is not revealed, and for the
    API's own evidence jobs)."""
    if len(job_id) > 100:
        raise ApiError("not_found", "no such job")
    job = await run_in_threadpool(services.get_job, job_id)
    if job is None or job.owner != owner or job.kind is not JobKind.RECOGNIZE:
        raise ApiError("not_found", "no such job")
    return job


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


def cancel_body(job: Job) -> dict[str, Any]:
    """The answer to a DELETE that cancelled (`schemas.CancelBody`)."""
    return {"id": job.id, "status": job.status.value, "links": links(job.id, job.status, None)}


async def submit_upload(request: Request, services: Services, owner: str, idempotency_key: str | None) -> Job:
    """Stream the upload to storage, check it, and enqueue a job; returns the job record.

    A repeat of an ``Idempotency-Key`` is a request like any other until its body has been read: a malformed
    or empty upload, or bad options, are refused as the first request would be; a valid repeat returns the
    first job (whatever its body held) and keeps nothing of its own upload.
    """
    settings = services.settings
    query = dict(request.query_params)
    query.pop("timeout", None)  # classify's own parameter
    options_from(query)  # refuse bad options before reading a byte of the body
    existing = await run_in_threadpool(services.find_idempotent, owner, idempotency_key) if idempotency_key else None
    if existing is None:
        await run_in_threadpool(services.check_capacity)
    job_id = new_job_id()
    key = input_key(job_id)
    upload, sha256 = await receive_video(request, services.storage, key, max_bytes=settings.max_upload_bytes,
                                         idle_timeout_s=settings.upload_idle_timeout_s or None)
    display = _display_name(upload.filename)
    try:
        options = options_from({**query, **upload.fields})
        if upload.size == 0:
            raise ApiError("empty_file", f"{display}: the file is empty (0 bytes)")
        if existing is not None:
            await run_in_threadpool(services.remove_files, job_id)
            return existing
        video = await check_video(services.storage, key, settings, display, services.probe_slots)
        job = await run_in_threadpool(
            services.submit,
            job_id=job_id,
            owner=owner,
            options=options,
            source={"filename": display, "size": upload.size, "key": key, "sha256": sha256,
                    "duration": video["duration"]},  # the worker's time limit scales with it
            idempotency_key=idempotency_key,
        )
    except BaseException:
        await run_in_threadpool(services.remove_files, job_id)
        raise
    if job.id != job_id:  # an idempotent repeat raced us: keep the first job, drop this upload
        await run_in_threadpool(services.remove_files, job_id)
    return job


def _display_name(filename: str | None) -> str:
    """The client's file name, for display only: last path component, no control characters, bounded."""
    name = unicodedata.normalize("NFC", filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    # No control, format (bidi overrides) or unpaired-surrogate characters: any script and emoji stay.
    name = "".join(ch for ch in name if ch.isprintable() and unicodedata.category(ch) not in ("Cf", "Cs"))[:200]
    return name or "upload"


async def artifact(services: Services, job: Job, index: int, kind: str, *, context_s: float | None = None) -> bytes:
    """A snippet's thumbnail, clip or context clip: from storage, or made now (decoding only those frames)
    and cached. ``context_s``: a context clip's seconds either side of the snippet."""
    if job.status is not JobStatus.SUCCEEDED:
        raise ApiError("job_not_finished", f"the job is {job.status.value}; artifacts exist once it has succeeded")
    result = await run_in_threadpool(services.job_result, job)
    snippets = (result or {}).get("snippets", [])
    if not 0 <= index < len(snippets):
        raise ApiError("not_found", f"no snippet {index} (the job has {len(snippets)})")
    seconds = CONTEXT_SECONDS if context_s is None else context_s
    key = artifact_key(job.id, index, kind, f"{seconds:g}s" if kind == "context" else "")

    def load_or_make() -> bytes:
        storage = services.storage
        if storage.exists(key):
            cached: bytes = storage.read_bytes(key)
            return cached
        with job_video(storage, job.input) as path:  # an upload, or a shipped example
            data = render_artifact(path, snippets[index], kind, context_s=seconds)
        with contextlib.suppress(Exception):  # caching is best effort; the bytes are served either way
            storage.write_bytes(key, data)
        return data

    return await services.run_artifact(load_or_make)
