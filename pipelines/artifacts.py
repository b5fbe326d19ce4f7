"""Artifacts a person looks at: a JPEG thumbnail of a snippet's centre frame, a small MP4 of a snippet."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from .decoding import Decoder, IsolatedDecoder, open_decoder
from .encoding import write_video


def _decoder(video: str | Path, backend: str, isolate: bool) -> Decoder:
    """The video's decoder; for untrusted files a limited child forked from the warm fork server."""
    return IsolatedDecoder(video, backend, timeout_s=60.0, fork=True) if isolate else open_decoder(video, backend)


def thumbnail(video: str | Path, frame_index: int, size: int = 160, *, backend: str = "pyav",
              isolate: bool = False) -> bytes:
    """JPEG of one frame, its longer side scaled to ``size`` (aspect kept); ``isolate`` decodes in a child."""
    return thumbnails(video, [frame_index], size, backend=backend, isolate=isolate)[0]


def thumbnails(video: str | Path, frame_indices: list[int], size: int = 160, *, backend: str = "pyav",
               isolate: bool = False) -> list[bytes]:
    """JPEGs of several frames, decoded in one pass over the video (one child when ``isolate``)."""
    if not frame_indices:
        return []
    with _decoder(video, backend, isolate) as decoder:
        frames = decoder.frames(frame_indices)  # (N, H, W, 3)
    out = []
    for frame in frames:
        image = Image.fromarray(frame)
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def _even_size(width: int, height: int, longest: int) -> tuple[int, int]:
    scale = min(1.0, longest / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def clip(video: str | Path, start_frame: int, end_frame: int, out: str | Path, *, longest: int = 320,
         backend: str = "pyav", isolate: bool = False) -> Path:
    """Write frames ``[start_frame, end_frame)`` as a small H.264 MP4 (longer side ≤ ``longest``); ``isolate``
    decodes in a child (only the decoded frames, never the file, reach this process)."""
    with _decoder(video, backend, isolate) as decoder:
        info = decoder.info
        end_frame = min(end_frame, info.num_frames)
        if not 0 <= start_frame < end_frame:
            raise ValueError(f"empty frame range [{start_frame}, {end_frame}) for a video of {info.num_frames} frames")
        frames = decoder.frames(list(range(start_frame, end_frame)))  # (N, H, W, 3)
    width, height = _even_size(frames.shape[2], frames.shape[1], longest)
    resized = (np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BILINEAR)) for f in frames)
    write_video(out, resized, fps=info.fps or 12.0, gop=max(1, end_frame - start_frame), bframes=0)
    return Path(out)
