"""schemathesis hooks for the reliability run: a valid upload is a real video, and a negative case is invalid.

The OpenAPI schema states what a schema can about the file (binary, not empty). Whether the bytes are a video
the API accepts is decided by probing them in a limited child, which no schema can state, so a generated PNG is
refused with 415 however valid the request is otherwise. Positive cases upload the test suite's small real
videos instead (``VIDGATE_SCHEMATHESIS_VIDEOS``: paths joined by ``os.pathsep``), so a refused valid request is
a real contract failure.

schemathesis makes a negative case by breaking one keyword, and inside an ``anyOf`` it breaks one branch (the
form's rule "another mode, a budget or a count" has three): a case that breaks one branch and meets another is
valid, and the API rightly accepts it; and schemathesis reads a file part as an empty string, so its own check of
the form as sent fails on the file's ``minLength``. An "accepted negative data" failure is dropped only when the
form the request carried (each field as its text or as JSON reads it, the file as its bytes) validates against
the operation's body schema (each one is listed in ``VIDGATE_SCHEMATHESIS_DROPPED``); every other failure stands.

schemathesis loads this file through ``SCHEMATHESIS_HOOKS``.
"""

from __future__ import annotations

import contextlib
import json
import os
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import jsonschema
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation

VIDEOS = [Path(p).read_bytes() for p in os.environ["VIDGATE_SCHEMATHESIS_VIDEOS"].split(os.pathsep) if p]

DROPPED = os.environ.get("VIDGATE_SCHEMATHESIS_DROPPED")  # a file that lists the dropped failures

schemathesis.openapi.format("binary", st.sampled_from(VIDEOS))


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep a failure unless it says a valid request was accepted as if it were invalid."""
    if not isinstance(failure, AcceptedNegativeData) or case.meta is None:
        return True
    if any(info.mode.is_negative for location, info in case.meta.components.items()
           if location is not ParameterLocation.BODY):
        return True  # a query, path or header value was broken too: the case is negative whatever its body
    body = case.operation.get_body_for_media_type(case.media_type)
    sent = _sent_form(response)
    if body is None or sent is None:
        return True
    schema = body.definition["schema"]
    properties = schema.get("properties", {})
    instance = {name: _reading(value, properties.get(name, {})) for name, value in sent.items()}
    if not jsonschema.Draft202012Validator(schema).is_valid(instance):
        return True
    if DROPPED:  # each dropped failure, for the record: the operation and the form as the API read it
        shown = {name: f"<{len(value)} bytes>" if isinstance(value, bytes) else value for name, value in sent.items()}
        with open(DROPPED, "a") as log:
            log.write(json.dumps({"operation": case.operation.label, "form": shown}) + "\n")
    return False


def _sent_form(response: Any) -> dict[str, str | bytes] | None:
    """The multipart form the request carried, as the API reads it: each field's last value (text), each file's
    bytes; None for any other body."""
    content, content_type = response.request.body, response.request.headers.get("Content-Type", "")
    content = content.encode() if isinstance(content, str) else content
    if not isinstance(content, bytes) or not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + content)
    form: dict[str, str | bytes] = {}
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        name = str(part.get_param("name", header="content-disposition"))
        form[name] = payload if part.get_filename() is not None else payload.decode(errors="replace")
    return form


def _reading(value: str | bytes, schema: dict[str, Any]) -> Any:
    """A file as JSON Schema sees it (a string of its length); a field as its text or as JSON reads that text,
    whichever the field's schema accepts (how the API reads it)."""
    if isinstance(value, bytes):
        return "x" * len(value)
    readings: list[Any] = [value]
    with contextlib.suppress(ValueError):
        readings.append(json.loads(value))
    return next((r for r in readings if jsonschema.Draft202012Validator(schema).is_valid(r)), value)
