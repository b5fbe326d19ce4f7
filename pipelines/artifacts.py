"""Artifacts a person looks at: JPEG thumbnails of frames, small MP4 clips of a snippet and its context."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from .decoding import Decoder, IsolatedDecoder, open_decoder
from .encoding import write_video

_CHUNK = 16  # frames decoded at a time for a clip: memory stays bounded whatever the clip's length


def jpeg(frame: np.ndarray, size: int = 160, *, quality: int = 85) -> bytes:
    """JPEG of one RGB frame ``(H, W, 3)``, its longer side scaled down to ``size`` (aspect kept)."""
    image = Image.fromarray(np.ascontiguousarray(frame))
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _decoder(video: str | Path, backend: str, isolate: bool) -> Decoder:
    """The video's decoder; for untrusted files a limited child forked from the warm fork server (only
    decoded frames reach this process, never the file)."""
    return IsolatedDecoder(video, backend, timeout_s=60.0, fork=True) if isolate else open_decoder(video, backend)


def thumbnail(video: str | Path, frame_index: int, size: int = 160, *, backend: str = "pyav",
              isolate: bool = False) -> bytes:
    """JPEG of one frame, its longer side scaled to ``size`` (aspect kept); ``isolate`` decodes in a child."""
    with _decoder(video, backend, isolate) as decoder:
        frame = decoder.frames([frame_index])[0]  # (H, W, 3)
    return jpeg(frame, size)


def _even_size(width: int, height: int, longest: int) -> tuple[int, int]:
    scale = min(1.0, longest / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def clip_range(start_frame: int, end_frame: int, num_frames: int, fps: float, pad_s: float) -> tuple[int, int]:
    """Frames ``[first, last + 1)`` of a snippet widened by ``pad_s`` seconds on each side, within the video."""
    pad = round(max(0.0, pad_s) * (fps or 12.0))
    return max(0, start_frame - pad), min(num_frames, end_frame + pad)


def clip(video: str | Path, start_frame: int, end_frame: int, out: str | Path, *, longest: int = 320,
         pad_s: float = 0.0, backend: str = "pyav", isolate: bool = False) -> Path:
    """Write frames ``[start_frame, end_frame)`` as a small H.264 MP4 (longer side ≤ ``longest``).

    ``pad_s`` widens the range by that many seconds on each side (a context clip; `clip_range`).
    Frames are decoded and scaled a few at a time, so a long clip of a large video needs little memory.
    ``isolate`` decodes in a limited child (the file is probed there too).
    """
    with _decoder(video, backend, isolate) as decoder:
        info = decoder.info
        start_frame, end_frame = clip_range(start_frame, min(end_frame, info.num_frames), info.num_frames,
                                            info.fps, pad_s)
        if not 0 <= start_frame < end_frame:
            raise ValueError(f"empty frame range [{start_frame}, {end_frame}) for a video of {info.num_frames} "
                             "frames")

        def scaled() -> Iterator[np.ndarray]:
            for first in range(start_frame, end_frame, _CHUNK):
                frames = decoder.frames(list(range(first, min(first + _CHUNK, end_frame))))  # (N, H, W, 3)
                size = _even_size(frames.shape[2], frames.shape[1], longest)  # upright frames (rotation applied)
                for f in frames:
                    yield np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BILINEAR))

        write_video(out, scaled(), fps=info.fps or 12.0, gop=max(1, end_frame - start_frame), bframes=0,
                    faststart=True)
    return Path(out)
