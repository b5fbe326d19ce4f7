"""schemathesis hooks for the reliability run: a valid upload is a real video.

The OpenAPI schema states what a schema can about the file (binary, not empty). Whether the bytes are a video
the API accepts is decided by probing them in a limited child, which no schema can state, so a generated PNG is
refused with 415 however valid the request is otherwise. Positive cases upload the test suite's small real
videos instead (``VIDGATE_SCHEMATHESIS_VIDEOS``: paths joined by ``os.pathsep``), so a refused valid request is
a real contract failure. schemathesis loads this file through ``SCHEMATHESIS_HOOKS``.
"""

from __future__ import annotations

import os
from pathlib import Path

import schemathesis
from hypothesis import strategies as st

VIDEOS = [Path(p).read_bytes() for p in os.environ["VIDGATE_SCHEMATHESIS_VIDEOS"].split(os.pathsep) if p]

schemathesis.openapi.format("binary", st.sampled_from(VIDEOS))
