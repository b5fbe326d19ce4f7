"""A job's media: a snippet's thumbnail, clip or context clip (`artifact`: from storage, or made now), answered
with byte ranges: ``Range: bytes=a-b`` gets 206 and that slice, so a player can seek.

One range per request (what video elements send); a multi-range request gets the whole body (200),
which HTTP allows; a range past the end gets 416 with ``Content-Range: bytes */size``.
"""

from __future__ import annotations

import contextlib
import re

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from service.artifacts import CONTEXT_SECONDS, render_artifact
from service.examples import job_video
from service.jobs import Job, JobStatus
from service.retention import drop_if_deleted
from service.storage import artifact_key

from .errors import ApiError
from .services import Services

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for a single-range ``Range`` header; None means "send it all".

    Raises:
        ApiError: ``range_not_satisfiable`` when the range starts past the end (or asks for no bytes).
    """
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:  # several ranges, another unit, or malformed: ignoring Range is allowed
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> ApiError:
    return ApiError("range_not_satisfiable", f"the requested range is outside the {size} bytes",
                    headers={"Content-Range": f"bytes */{size}"})


def media_response(request: Request, data: bytes, media_type: str) -> Response:
    """``data`` as 200, or the requested slice as 206; always says ranges are accepted."""
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=86400"}
    wanted = byte_range(request.headers.get("range"), len(data))
    if wanted is None:
        return Response(data, media_type=media_type, headers=headers)
    first, last = wanted
    headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
    return Response(data[first : last + 1], status_code=206, media_type=media_type, headers=headers)


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
            drop_if_deleted(services.queue, storage, job.id)  # deleted while it was made: no file outlives it
        return data

    return await services.run_artifact(load_or_make)
