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
form as sent (each field as its text or as JSON reads it, the file as its bytes) validates against the operation's
body schema; every other failure stands.

schemathesis loads this file through ``SCHEMATHESIS_HOOKS``.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.transport.serialization import Binary

VIDEOS = [Path(p).read_bytes() for p in os.environ["VIDGATE_SCHEMATHESIS_VIDEOS"].split(os.pathsep) if p]

schemathesis.openapi.format("binary", st.sampled_from(VIDEOS))


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep a failure unless it says a valid request was accepted as if it were invalid."""
    if not isinstance(failure, AcceptedNegativeData) or case.meta is None or not isinstance(case.body, dict):
        return True
    if any(info.mode.is_negative for location, info in case.meta.components.items()
           if location is not ParameterLocation.BODY):
        return True  # a query, path or header value was broken too: the case is negative whatever its body
    body = case.operation.get_body_for_media_type(case.media_type)
    if body is None or not case.media_type.startswith("multipart/form-data"):
        return True
    schema = body.definition["schema"]
    properties = schema.get("properties", {})
    instance = {name: _as_sent(value, properties.get(name, {})) for name, value in case.body.items()}
    return not jsonschema.Draft202012Validator(schema).is_valid(instance)


def _as_sent(value: Any, schema: dict[str, Any]) -> Any:
    """A form part as the server reads it: a file as a string of its length (``Binary`` itself reads as ``""``);
    a field as its text or as JSON reads that text, whichever the field's schema accepts (how the API reads it)."""
    data = value.data if isinstance(value, Binary) else value
    if isinstance(data, bytes):
        return "x" * len(data)
    text = value if isinstance(value, str) else json.dumps(value)
    readings: list[Any] = [text]
    with contextlib.suppress(ValueError):
        readings.append(json.loads(text))
    return next((r for r in readings if jsonschema.Draft202012Validator(schema).is_valid(r)), text)
