"""Artifacts a person looks at: JPEG thumbnails of frames, small MP4 clips of a snippet and its context."""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from .decoding import Decoder, IsolatedDecoder, VideoInfo, frame_times, open_decoder
from .encoding import write_video

_CHUNK = 16  # frames decoded at a time for a clip: memory stays bounded whatever the clip's length
_CLIP_TIME_BASE = Fraction(1, 90000)  # MPEG's clock: fine enough for any frame spacing a video has
_SAME_TIME = 1e-6  # seconds: times closer than this are one instant (a frame exactly pad_s away is inside)


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


def clip_range(info: VideoInfo, start_frame: int, end_frame: int, pad_s: float) -> tuple[int, int]:
    """Frames ``[first, last + 1)`` of a snippet widened by ``pad_s`` seconds of video on each side.

    The widened range holds every frame on screen at some moment within ``pad_s`` seconds of the
    snippet (by the frames' own times, `frame_times`): from the frame showing ``pad_s`` before its
    start to the last frame starting less than ``pad_s`` after its end, cut at the video's ends.
    """
    end_frame = min(end_frame, info.num_frames)
    if not 0 <= start_frame < end_frame:
        raise ValueError(f"empty frame range [{start_frame}, {end_frame}) for a video of {info.num_frames} frames")
    pad = max(0.0, pad_s)
    if pad == 0:
        return start_frame, end_frame
    times = frame_times(info, np.arange(info.num_frames))  # (N,) each frame's start
    start, end = frame_times(info, [start_frame, end_frame])
    first = int(np.searchsorted(times, start - pad + _SAME_TIME, side="right")) - 1
    last = int(np.searchsorted(times, end + pad - _SAME_TIME, side="left"))
    return min(start_frame, max(0, first)), max(end_frame, min(info.num_frames, last))


def _clip_ticks(info: VideoInfo, first: int, end: int) -> list[int]:
    """Timestamps of frames ``[first, end]`` in a clip (the last: where frame ``end - 1`` ends), in
    ``_CLIP_TIME_BASE`` ticks from the clip's first frame: the source's own spacing (variable frame rate
    stays as it was), strictly increasing."""
    seconds = frame_times(info, np.arange(first, end + 1))  # (n + 1,)
    ticks = np.round((seconds - seconds[0]) * _CLIP_TIME_BASE.denominator).astype(np.int64)  # (n,)
    steps = np.arange(ticks.size)
    return [int(t) for t in np.maximum.accumulate(ticks - steps) + steps]  # a tick apart at least


def clip(video: str | Path, start_frame: int, end_frame: int, out: str | Path, *, longest: int = 320,
         pad_s: float = 0.0, backend: str = "pyav", isolate: bool = False) -> Path:
    """Write frames ``[start_frame, end_frame)`` as a small H.264 MP4 (longer side ≤ ``longest``).

    ``pad_s`` widens the range by that many seconds on each side (a context clip; `clip_range`). The
    clip keeps the frames' own timing (`frame_times`, from its first frame), so a second of clip is a
    second of the video on variable frame rate too. Frames are decoded and scaled a few at a time, so a
    long clip of a large video needs little memory. ``isolate`` decodes in a limited child (the file is
    probed there too).
    """
    with _decoder(video, backend, isolate) as decoder:
        info = decoder.info
        start_frame, end_frame = clip_range(info, start_frame, end_frame, pad_s)

        def scaled() -> Iterator[np.ndarray]:
            for first in range(start_frame, end_frame, _CHUNK):
                frames = decoder.frames(list(range(first, min(first + _CHUNK, end_frame))))  # (N, H, W, 3)
                size = _even_size(frames.shape[2], frames.shape[1], longest)  # upright frames (rotation applied)
                for f in frames:
                    yield np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BILINEAR))

        ticks = _clip_ticks(info, start_frame, end_frame)
        write_video(out, scaled(), fps=info.fps or 12.0, gop=max(1, end_frame - start_frame), bframes=0,
                    pts=ticks[:-1], end_pts=ticks[-1], time_base=_CLIP_TIME_BASE, faststart=True)
    return Path(out)
