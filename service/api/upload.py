"""Streaming ``multipart/form-data`` parsing: the file part goes to a sink chunk by chunk, never whole into memory.

python-multipart's push parser runs over ``request.stream()``; its callbacks only record events, which
are then handled in async code, so a slow sink (storage on another machine) applies back-pressure to the
client instead of buffering. The size limit is enforced while streaming: the request is refused with
413 as soon as the file part passes it (and before reading anything when ``Content-Length`` already says so).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from .errors import ApiError

MAX_FIELD_BYTES = 4096
MAX_FIELDS = 32
# Multipart framing around the file: boundaries, part headers, small option fields.
_FRAMING_SLACK = 64 * 1024 + MAX_FIELDS * MAX_FIELD_BYTES


class UploadAborted(Exception):
    """The client closed the connection before the body ended (a client error: nothing is kept)."""


@dataclass
class Upload:
    """What a parsed request held: the file part's declared name and size, and the small text fields."""

    filename: str | None = None
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


class _Part:
    def __init__(self) -> None:
        self.headers: dict[str, bytes] = {}
        self.name: str | None = None
        self.filename: str | None = None
        self.value = bytearray()


async def receive_upload(
    request: Request,
    *,
    file_field: str,
    max_bytes: int,
    write: Callable[[bytes], Awaitable[None]],
    idle_timeout_s: float | None = None,
) -> Upload:
    """Parse a multipart request, passing the bytes of the part named ``file_field`` to ``write``.

    Args:
        request: the incoming request.
        file_field: form field name of the file part.
        max_bytes: largest accepted file; refused with ``file_too_large`` (413) as soon as it is passed.
        write: called with each chunk of the file, in order.
        idle_timeout_s: longest wait for the next bytes of the body (None: no limit).

    Raises:
        ApiError: ``unsupported_media_type`` (not multipart), ``bad_request`` (malformed body, missing file,
            repeated file, a file under another field name, a part without a name, oversized field),
            ``file_too_large``, ``upload_timeout`` (the client went quiet).
        UploadAborted: the client disconnected.
    """
    ctype, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError("unsupported_media_type", "send the video as multipart/form-data with a 'file' part")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + _FRAMING_SLACK:
        raise ApiError("file_too_large", f"the upload ({declared} bytes) exceeds the limit of {max_bytes} bytes")

    events: list[tuple[str, Any]] = []
    header_field = bytearray()
    header_value = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        # Raw bytes: browsers send file names as UTF-8 in the header, which is not Latin-1.
        events.append(("header", (header_field.decode("latin-1").lower(), bytes(header_value))))
        header_field.clear()
        header_value.clear()

    callbacks: Any = {
        "on_part_begin": lambda: events.append(("begin", None)),
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": lambda: events.append(("headers_done", None)),
        "on_part_data": lambda data, start, end: events.append(("data", bytes(data[start:end]))),
        "on_part_end": lambda: events.append(("end", None)),
        "on_end": lambda: events.append(("finished", None)),
    }
    parser = MultipartParser(boundary, callbacks)
    upload = Upload()
    part: _Part | None = None
    seen_file = finished = False
    fields = 0

    async for chunk in _body(request, idle_timeout_s):
        if not chunk:
            continue
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise ApiError("bad_request", f"malformed multipart body: {exc}") from None
        for kind, value in events:
            if kind == "begin":
                part = _Part()
            elif part is None:
                if kind == "finished":
                    finished = True
                continue
            elif kind == "header":
                part.headers[value[0]] = value[1]
            elif kind == "headers_done":
                _, disposition = parse_options_header(part.headers.get("content-disposition", b""))
                part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
                raw_filename = disposition.get(b"filename")
                part.filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
                if not part.name:  # a field no one can name is a field no one reads: refused, not dropped
                    raise ApiError("bad_request", "a form part has no name (Content-Disposition: form-data; name=...)")
                if part.name == file_field:
                    if seen_file:
                        raise ApiError("bad_request", f"send exactly one '{file_field}' part")
                    seen_file = True
                    upload.filename = part.filename
                elif part.filename is not None:
                    # A file under another name (``-F video=@x.mp4``): say what was expected, not "field too big".
                    raise ApiError(
                        "bad_request", f"expected a file in field '{file_field}', got a file in field {part.name!r}"
                    )
                else:
                    fields += 1
                    if fields > MAX_FIELDS:
                        raise ApiError("bad_request", f"more than {MAX_FIELDS} form fields")
            elif kind == "data":
                if part.name == file_field:
                    upload.size += len(value)
                    if upload.size > max_bytes:
                        raise ApiError("file_too_large", f"the upload exceeds the limit of {max_bytes} bytes")
                    await write(value)
                else:
                    part.value.extend(value)
                    if len(part.value) > MAX_FIELD_BYTES:
                        raise ApiError("bad_request", f"form field {part.name!r} is over {MAX_FIELD_BYTES} bytes")
            elif kind == "end":
                if part.name and part.name != file_field:
                    upload.fields[part.name] = part.value.decode("utf-8", "replace")
                part = None
            elif kind == "finished":
                finished = True
        events.clear()
    if not finished:
        raise ApiError("bad_request", "the multipart body ended before its closing boundary")
    if not seen_file:
        raise ApiError("bad_request", f"expected a file in field '{file_field}'; the form has none")
    return upload


async def _body(request: Request, idle_timeout_s: float | None) -> AsyncIterator[bytes]:
    """The request body's chunks; a client silent for ``idle_timeout_s`` gets 408, one that leaves raises
    `UploadAborted`."""
    chunks = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), idle_timeout_s)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise ApiError("upload_timeout", f"no bytes arrived for {idle_timeout_s:g} s; the upload was dropped",
                           headers={"Connection": "close"}) from None
        except ClientDisconnect:
            raise UploadAborted("the client closed the connection before the upload ended") from None
        yield chunk
