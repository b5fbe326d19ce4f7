"""Taking in an upload: stream it to storage, check it is a video by its content, and enqueue its job (the
form's fields: `.form`). ``POST /v1/jobs`` and ``POST /v1/classify`` go route → `submit_upload` → the queue
(`Services.submit`); `.jobview` renders the job they answer with.

The request body goes from the socket to storage in chunks: bytes are gathered in the event loop and written
1 MiB at a time by a short thread-pool call, so no thread waits on a slow client (a trickling upload costs a
coroutine, not a thread) and a 2 GB upload holds about 1 MiB in memory. A client that sends nothing for
``VIDGATE_UPLOAD_IDLE_TIMEOUT_S`` gets 408; one that disconnects is logged as an aborted upload (a client
error), and nothing of it is kept.

The stored upload is probed in a limited child process (`pipelines.decoding.probe_isolated`: time,
memory and open-file limits, allow-listed demuxers); the API process never opens the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from pipelines.decoding import probe_isolated
from pipelines.errors import VidgateError
from service.jobs import Job, new_job_id
from service.storage import Storage, StreamWriter, input_key

from .errors import AUTH_ERRORS, ApiError, vidgate_status
from .form import options_from
from .services import Services
from .upload import Upload, UploadAborted, receive_upload

log = logging.getLogger("vidgate.api")
FLUSH_BYTES = 1 << 20

IDEMPOTENCY = ("Repeating a valid request with the same key (per API key) returns the first job instead of making "
               "another.")

# What an upload can be refused with: the request, the key, the body's size and form, the content (probed in a
# limited child), the options, the queue and storage.
UPLOAD_ERRORS = (
    "bad_options", "bad_request", "upload_aborted", *AUTH_ERRORS, "upload_timeout",
    "file_too_large", "video_too_long", "video_too_large",
    "not_a_video", "unsupported_container", "no_video_stream", "unsupported_codec", "unsupported_media_type",
    "validation_error", "empty_file", "truncated_video", "decode_failed", "decode_timeout", "decoder_crashed",
    "decoder_out_of_memory",
    "queue_full", "queue_unavailable", "storage_unavailable",
)


class _Buffered:
    """Collects chunks in the event loop; writes them to storage in ~1 MiB blocks from the thread pool."""

    def __init__(self, writer: StreamWriter) -> None:
        self.writer = writer
        self._buffer = bytearray()

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            await run_in_threadpool(self.writer.write, data)


async def receive_video(request: Request, storage: Storage, key: str, *, max_bytes: int,
                        idle_timeout_s: float | None = None) -> tuple[Upload, str]:
    """Stream the ``file`` part of ``request`` to ``storage[key]``; returns the parsed form and the sha256.

    On any error the partial upload is removed and the error is raised.
    """
    try:
        writer = await run_in_threadpool(storage.open_writer, key, max_bytes)
    except OSError as exc:
        raise ApiError("storage_unavailable", f"the upload could not be stored: {exc}") from None
    sink = _Buffered(writer)
    try:
        upload = await receive_upload(request, file_field="file", max_bytes=max_bytes, write=sink.write,
                                      idle_timeout_s=idle_timeout_s)
        await sink.flush()
        _, sha256 = await run_in_threadpool(writer.commit)
    except BaseException as exc:
        await run_in_threadpool(writer.abort)
        await run_in_threadpool(_remove, storage, key)
        if isinstance(exc, UploadAborted):
            log.warning("upload aborted by the client after %d bytes (client error, nothing kept): %s",
                        writer.size, exc)
            raise ApiError("upload_aborted", str(exc)) from None
        if isinstance(exc, VidgateError):  # the storage's own limit check fired first
            raise ApiError(exc.code, exc.message, status=vidgate_status(exc)) from None
        if isinstance(exc, OSError):
            raise ApiError("storage_unavailable", f"the upload could not be stored: {exc}") from None
        raise
    return upload, sha256


def _remove(storage: Storage, key: str) -> None:
    with contextlib.suppress(Exception):
        storage.delete_prefix(key)


async def check_video(storage: Storage, key: str, settings: Any, display_name: str,
                      slots: asyncio.Semaphore) -> dict[str, Any]:
    """Probe the stored upload by its content in a limited child; refuses non-videos (415), lists and playlists
    (415), and videos over the limits (413). Returns what the probe learned.

    ``slots`` bounds the probe children running at once (the others wait, holding no thread).
    """

    def run() -> dict[str, Any]:
        with storage.local_path(key) as path:
            info = probe_isolated(path, timeout_s=settings.decode_timeout_s,
                                  memory_limit_bytes=settings.decode_memory_bytes,
                                  max_file_bytes=settings.max_upload_bytes, max_duration=settings.max_duration_s,
                                  max_pixels=settings.max_pixels)
        return {"duration": info.duration, "fps": info.fps, "num_frames": info.num_frames,
                "width": info.width, "height": info.height, "codec": info.codec}

    try:
        async with slots:
            return await run_in_threadpool(run)
    except VidgateError as exc:
        # Messages name the stored file; show the client's name instead (never the server path).
        message = exc.message.replace(f"{key.rsplit('/', 1)[-1]}:", f"{display_name}:")
        raise ApiError(exc.code, message, status=vidgate_status(exc)) from None


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
