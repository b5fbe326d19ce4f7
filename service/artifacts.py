"""Artifacts of a snippet a person looks at: a JPEG thumbnail, an MP4 clip, an MP4 context clip around it.

One place renders them, for the job handler (thumbnails of the frames the recognizer decoded anyway),
the API (made lazily on first request, then cached in storage) and local batches (``--artifacts``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

THUMBNAIL_SIZE = 160
KINDS = ("thumbnail", "clip", "context")
CONTEXT_SECONDS = 2.0  # a context clip's default: this many seconds before and after the snippet
MAX_CONTEXT_SECONDS = 10.0


def centre_frame(snippet: dict[str, Any]) -> int:
    """The centre frame of a result's snippet (``frames`` is ``[first, last + 1)``)."""
    start, end = snippet["frames"]
    return int(start + (end - start) // 2)


def thumbnail_jpeg(frame: np.ndarray) -> bytes:
    """A thumbnail of a frame already decoded (``(H, W, 3)`` uint8), e.g. what the light pass saw."""
    from pipelines.artifacts import jpeg

    return jpeg(frame, THUMBNAIL_SIZE)


def render_artifact(video: Path, snippet: dict[str, Any], kind: str, *, context_s: float = CONTEXT_SECONDS) -> bytes:
    """The bytes of a snippet's thumbnail (JPEG of its centre frame), clip (MP4 of its frames) or context
    clip (MP4 of its frames and ``context_s`` seconds either side, within the video)."""
    from pipelines.artifacts import clip, thumbnail

    if kind == "thumbnail":  # the video is an upload: decoded in a limited child, never opened here
        return thumbnail(video, centre_frame(snippet), THUMBNAIL_SIZE, isolate=True)
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; known: {', '.join(KINDS)}")
    start, end = snippet["frames"]
    pad_s = min(max(0.0, context_s), MAX_CONTEXT_SECONDS) if kind == "context" else 0.0
    with tempfile.TemporaryDirectory(prefix="vidgate-clip-") as tmp:
        out = Path(tmp) / "clip.mp4"
        clip(video, int(start), int(end), out, pad_s=pad_s, isolate=True)
        return out.read_bytes()
