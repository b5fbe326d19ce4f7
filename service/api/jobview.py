"""Route logic shared by the jobs and classify routers: submit an upload, find a job, render it, serve artifacts."""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from service.handlers import artifact_key, input_key, local_input, make_artifact

from .errors import ApiError
from .intake import check_video, parse_options, receive_video

if TYPE_CHECKING:
    from .app import Services

FINISHED = ("succeeded", "failed", "cancelled")


def new_job_id() -> str:
    """128 random bits, URL-safe: job ids are unguessable, so knowing one id reveals no other."""
    return secrets.token_urlsafe(16)


def field(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a job record or of one of its parts (records are dataclasses; parts may be dicts)."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def status_of(job: Any) -> str:
    status = field(job, "status")
    return str(getattr(status, "value", status))


async def find_job(services: Services, owner: str, job_id: str) -> Any:
    """The caller's job, or 404 (also for another owner's job: existence is not revealed)."""
    if len(job_id) > 100:
        raise ApiError("not_found", "no such job")
    job = await run_in_threadpool(services.get_job, job_id)
    if job is None or field(job, "owner") != owner:
        raise ApiError("not_found", "no such job")
    return job


def links(job_id: str, status: str, result: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"self": f"/v1/jobs/{job_id}", "page": f"/jobs/{job_id}"}
    if status == "succeeded" and result is not None:
        selected = [s["index"] for s in result.get("snippets", []) if s.get("selected")]
        out["thumbnails"] = [f"/v1/jobs/{job_id}/snippets/{i}/thumbnail" for i in selected]
        out["clips"] = [f"/v1/jobs/{job_id}/snippets/{i}/clip" for i in selected]
    return out


def job_body(job: Any, services: Services, *, with_result: bool = True) -> dict[str, Any]:
    """The JSON of a job (`schemas.Job`); never exposes storage keys or the owner."""
    job_id = field(job, "id")
    status = status_of(job)
    source = field(job, "input") or {}
    progress = field(job, "progress")
    error = field(job, "error")
    result = services.job_result(job) if with_result and status == "succeeded" else None
    body: dict[str, Any] = {
        "id": job_id,
        "status": status,
        "created_at": field(job, "created_at"),
        "started_at": field(job, "started_at"),
        "finished_at": field(job, "finished_at"),
        "progress": {"stage": field(progress, "stage", status), "fraction": float(field(progress, "fraction", 0.0))}
        if progress
        else {"stage": status, "fraction": 1.0 if status == "succeeded" else 0.0},
        "options": dict(field(job, "options") or {}),
        "input": {"filename": field(source, "filename"), "size": int(field(source, "size", 0) or 0),
                  "sha256": field(source, "sha256")},
        "error": {"code": field(error, "code", "error"), "message": field(error, "message", "")} if error else None,
        "attempts": int(field(job, "attempts", 0) or 0),
        "links": links(job_id, status, result if with_result else None),
    }
    if with_result:
        body["result"] = result
    return body


async def submit_upload(request: Request, services: Services, owner: str, idempotency_key: str | None) -> Any:
    """Stream the upload to storage, check it, and enqueue a job; returns the job record."""
    settings = services.settings
    defaults: dict[str, Any] = {"default_budget": settings.default_budget, "default_top_k": settings.default_top_k}
    query = dict(request.query_params)
    query.pop("timeout", None)  # classify's own parameter
    parse_options(query, **defaults)  # refuse bad options before reading a byte of the body
    if idempotency_key:
        existing = await run_in_threadpool(services.find_idempotent, owner, idempotency_key)
        if existing is not None:
            return existing
    await run_in_threadpool(services.check_capacity)
    job_id = new_job_id()
    key = input_key(job_id)
    upload, sha256 = await receive_video(request, services.storage, key, max_bytes=settings.max_upload_bytes)
    display = _display_name(upload.filename)
    try:
        options = parse_options({**query, **upload.fields}, **defaults)
        await check_video(services.storage, key, settings, display)
        job = await run_in_threadpool(
            services.submit,
            job_id=job_id,
            owner=owner,
            options=options,
            source={"filename": display, "size": upload.size, "key": key, "sha256": sha256},
            idempotency_key=idempotency_key,
        )
    except BaseException:
        await run_in_threadpool(services.remove_artifacts, job_id)
        raise
    if field(job, "id") != job_id:  # an idempotent repeat raced us: keep the first job, drop this upload
        await run_in_threadpool(services.remove_artifacts, job_id)
    return job


def _display_name(filename: str | None) -> str:
    """The client's file name, for display only: last path component, no control characters, bounded."""
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:200]
    return name or "upload"


async def artifact(services: Services, job: Any, index: int, kind: str) -> bytes:
    """A snippet's thumbnail or clip: from storage, or made now (decoding only that snippet) and cached."""
    status = status_of(job)
    if status != "succeeded":
        raise ApiError("job_not_finished", f"the job is {status}; artifacts exist once it has succeeded")
    result = await run_in_threadpool(services.job_result, job)
    snippets = (result or {}).get("snippets", [])
    if not 0 <= index < len(snippets):
        raise ApiError("not_found", f"no snippet {index} (the job has {len(snippets)})")
    job_id = field(job, "id")
    key = artifact_key(job_id, index, kind)

    def load_or_make() -> bytes:
        storage = services.storage
        if storage.exists(key):
            cached: bytes = storage.read_bytes(key)
            return cached
        source = field(job, "input") or {}
        with local_input(storage, field(source, "key")) as path:
            data = make_artifact(path, snippets[index], kind)
        with contextlib.suppress(Exception):  # caching is best effort; the bytes are served either way
            storage.write_bytes(key, data)
        return data

    return await services.run_artifact(load_or_make)
