"""Artifacts a person looks at: a JPEG thumbnail of a snippet's centre frame, a small MP4 of a snippet."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from .decoding import open_decoder, probe
from .encoding import write_video


def thumbnail(video: str | Path, frame_index: int, size: int = 160, *, backend: str = "pyav") -> bytes:
    """JPEG of one frame, its longer side scaled to ``size`` (aspect kept)."""
    with open_decoder(video, backend) as decoder:
        frame = decoder.frames([frame_index])[0]  # (H, W, 3)
    image = Image.fromarray(frame)
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _even_size(width: int, height: int, longest: int) -> tuple[int, int]:
    scale = min(1.0, longest / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def clip(video: str | Path, start_frame: int, end_frame: int, out: str | Path, *, longest: int = 320,
         backend: str = "pyav") -> Path:
    """Write frames ``[start_frame, end_frame)`` as a small H.264 MP4 (longer side ≤ ``longest``)."""
    info = probe(video)
    end_frame = min(end_frame, info.num_frames)
    if not 0 <= start_frame < end_frame:
        raise ValueError(f"empty frame range [{start_frame}, {end_frame}) for a video of {info.num_frames} frames")
    with open_decoder(video, backend, info=info) as decoder:
        frames = decoder.frames(list(range(start_frame, end_frame)))  # (N, H, W, 3)
    width, height = _even_size(frames.shape[2], frames.shape[1], longest)
    resized = (np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BILINEAR)) for f in frames)
    write_video(out, resized, fps=info.fps or 12.0, gop=max(1, end_frame - start_frame), bframes=0)
    return Path(out)
