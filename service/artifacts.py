"""Artifacts of a selected snippet a person looks at: a JPEG thumbnail and an MP4 clip.

One place renders them, for the job handler (thumbnails right after a job), the API (made lazily on
first request, then cached in storage) and local batches (``--artifacts``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

THUMBNAIL_SIZE = 160
KINDS = ("thumbnail", "clip")


def centre_frame(snippet: dict[str, Any]) -> int:
    """The centre frame of a result's snippet (``frames`` is ``[first, last + 1)``)."""
    start, end = snippet["frames"]
    return int(start + (end - start) // 2)


def render_thumbnails(video: Path, snippets: list[dict[str, Any]]) -> list[bytes]:
    """Thumbnails of several snippets in one isolated pass over the video (the worker's, after a job)."""
    from pipelines.artifacts import thumbnails

    return thumbnails(video, [centre_frame(s) for s in snippets], THUMBNAIL_SIZE, isolate=True)


def render_artifact(video: Path, snippet: dict[str, Any], kind: str) -> bytes:
    """The bytes of a snippet's thumbnail (JPEG of its centre frame) or clip (MP4 of its frames).

    The video is an upload: it is decoded in a limited child process, never opened here.
    """
    from pipelines.artifacts import clip, thumbnail

    if kind == "thumbnail":
        return thumbnail(video, centre_frame(snippet), THUMBNAIL_SIZE, isolate=True)
    if kind != "clip":
        raise ValueError(f"unknown artifact kind {kind!r}; known: {', '.join(KINDS)}")
    start, end = snippet["frames"]
    with tempfile.TemporaryDirectory(prefix="vidgate-clip-") as tmp:
        out = Path(tmp) / "clip.mp4"
        clip(video, int(start), int(end), out, isolate=True)
        return out.read_bytes()
