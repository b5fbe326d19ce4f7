"""Taking in an upload: stream it to storage, check it is a video by its content, build the job's options.

Shared by ``POST /v1/jobs`` and ``POST /v1/classify``. The request body goes from the socket to storage in
chunks through a bounded hand-off to a writer thread, so a 2 GB upload holds a few hundred KB in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from pipelines.decoding import probe
from pipelines.errors import VidgateError
from pipelines.options import Options, parse_options

from .errors import ApiError, vidgate_status
from .upload import Upload, receive_upload

_END = object()
_ABORT = object()


class _Aborted(Exception):
    pass


class StorageWriter:
    """Feeds chunks from async code to ``storage.write_stream`` running in a thread (bounded, back-pressured)."""

    def __init__(self, storage: Any, key: str, max_bytes: int) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=16)
        self.sha256 = hashlib.sha256()
        self.size = 0
        self._storage = storage
        self._key = key
        self._done = threading.Event()
        self._future = asyncio.get_running_loop().run_in_executor(None, self._run, max_bytes)

    def _chunks(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                raise _Aborted
            assert isinstance(item, bytes)
            yield item

    def _run(self, max_bytes: int) -> None:
        try:
            self._storage.write_stream(self._key, self._chunks(), max_bytes)
        finally:
            self._done.set()

    def _put(self, item: object) -> None:
        while not self._done.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    async def write(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.size += len(chunk)
        if self._future.done():
            await self._future  # the writer failed: raise its error here
            raise ApiError("storage_unavailable", "the storage writer stopped early")
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:
            await run_in_threadpool(self._put, chunk)

    async def close(self) -> None:
        await run_in_threadpool(self._put, _END)
        await self._future

    async def abort(self) -> None:
        await run_in_threadpool(self._put, _ABORT)
        with contextlib.suppress(Exception):
            await self._future


async def receive_video(request: Request, storage: Any, key: str, *, max_bytes: int) -> tuple[Upload, str]:
    """Stream the ``file`` part of ``request`` to ``storage[key]``; returns the parsed form and the sha256.

    On any error the partial upload is removed and the error is raised.
    """
    writer = StorageWriter(storage, key, max_bytes)
    try:
        upload = await receive_upload(request, file_field="file", max_bytes=max_bytes, write=writer.write)
        await writer.close()
    except BaseException as exc:
        await writer.abort()
        await run_in_threadpool(_remove, storage, key)
        if isinstance(exc, VidgateError):  # the storage's own limit check fired first
            raise ApiError(exc.code, exc.message, status=vidgate_status(exc)) from None
        if isinstance(exc, OSError):
            raise ApiError("storage_unavailable", f"the upload could not be stored: {exc}") from None
        raise
    return upload, writer.sha256.hexdigest()


def _remove(storage: Any, key: str) -> None:
    with contextlib.suppress(Exception):
        storage.delete_prefix(key)


async def check_video(storage: Any, key: str, settings: Any, display_name: str) -> dict[str, Any]:
    """Probe the stored upload by its content; refuses non-videos (415) and videos over the limits (413)."""

    def run() -> dict[str, Any]:
        with storage.local_path(key) as path:
            info = probe(path, max_file_bytes=settings.max_upload_bytes, max_duration=settings.max_duration_s,
                         max_pixels=settings.max_pixels)
        return {"duration": info.duration, "fps": info.fps, "num_frames": info.num_frames,
                "width": info.width, "height": info.height, "codec": info.codec}

    try:
        return await run_in_threadpool(run)
    except VidgateError as exc:
        # Messages name the stored file; show the client's name instead (never the server path).
        message = exc.message.replace(f"{key.rsplit('/', 1)[-1]}:", f"{display_name}:")
        raise ApiError(exc.code, message, status=vidgate_status(exc)) from None


def options_from(values: Mapping[str, str]) -> Options:
    """Options from form fields and query strings; a problem is `OptionsError` (400 ``bad_options``)."""
    return parse_options(dict(values))


def upload_openapi() -> dict[str, Any]:
    """The multipart body of an upload in OpenAPI, generated from `Options` (one field per option)."""
    schema = Options.model_json_schema()
    definitions = schema.get("$defs", {})
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary", "description": "The video (any container)."},
    }
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        prop = {**(branches[0] if branches else {}), **prop}
        if "$ref" in prop:
            prop = {**definitions[prop.pop("$ref").rsplit("/", 1)[-1]], **prop}
        properties[name] = {k: v for k, v in prop.items() if k != "title" and not (k == "default" and v is None)}
    body = {"type": "object", "required": ["file"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": body}}}}
