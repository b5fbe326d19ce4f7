"""Test videos whose every frame is different, so a wrong frame index cannot go unnoticed.

Each frame is a coarse grid of random colours seeded by the frame index: neighbouring frames differ
everywhere (mean difference ~85 grey levels), big cells survive compression and resizing, and x264
still places B-frames between them.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from pipelines.encoding import write_video


def grid_frame(index: int, height: int, width: int, cells: int = 4) -> np.ndarray:
    """Frame ``index``: a ``cells × cells`` grid of colours seeded by the index, ``(H, W, 3) uint8``."""
    colours = np.random.default_rng(index).integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    big = np.repeat(np.repeat(colours, -(-height // cells), axis=0), -(-width // cells), axis=1)
    return np.ascontiguousarray(big[:height, :width])


def grid_frames(count: int, height: int, width: int) -> Iterator[np.ndarray]:
    return (grid_frame(i, height, width) for i in range(count))


def write_grid_video(path: Path, count: int, *, size: tuple[int, int] = (62, 98), fps: float = 12.0,
                     gop: int = 48, bframes: int = 2, pts: list[int] | None = None,
                     time_base: Fraction | None = None) -> Path:
    """A grid video of ``count`` frames, ``size`` = (height, width)."""
    write_video(path, grid_frames(count, *size), fps=fps, gop=gop, bframes=bframes, pts=pts, time_base=time_base)
    return path


def write_rotated_video(path: Path, count: int, *, size: tuple[int, int] = (62, 98), rotation: int = 90,
                        fps: float = 12.0, gop: int = 24) -> Path:
    """Upright grid frames of ``size`` stored turned, with display-matrix metadata turning them back.

    ``rotation`` is clockwise degrees for display (the old ``rotate`` tag). Written with PyAV
    directly: FFmpeg's MP4 muxer ignores the ``rotate`` metadata tag that ``write_video`` sets.
    """
    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
    coded = np.rot90(grid_frame(0, *size), k=rotation // 90)
    stream.height, stream.width = coded.shape[:2]
    stream.pix_fmt = "yuv420p"
    stream.codec_context.options = {"g": str(gop), "bf": "2", "preset": "veryfast"}
    stream.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
    for i in range(count):
        # Turn counter-clockwise what the player turns clockwise.
        image = np.ascontiguousarray(np.rot90(grid_frame(i, *size), k=rotation // 90))
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def sequential_frames(path: Path) -> np.ndarray:
    """Reference: every frame by one plain sequential PyAV decode, as coded (no rotation), ``(N, H, W, 3)``."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def resized_reference(frame: np.ndarray, size: int) -> np.ndarray:
    """Shorter side to ``size`` then centre crop, with PIL (an independent implementation)."""
    h, w = frame.shape[:2]
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    small = np.asarray(Image.fromarray(frame).resize((new_w, new_h), Image.Resampling.BOX))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return small[top : top + size, left : left + size]
