"""Test videos with awkward timing whose frames say which they are.

Every frame carries its own number as a 4 × 4 grid of black and white cells in the frame's central
square (12 bits of number, 4 check bits). The grid survives H.264, JPEG and scaling, and lies inside
the centre crop the light network sees, so :func:`read_code` reads the number back from a decoded
frame, a thumbnail or a frame of a clip.

:func:`write_timed_video` writes one of three timings, each with variable frame rate (30 fps with a
stretch at about 12 fps, every gap jittered by up to ±15 %), so that frame index / average fps is
wrong by up to a second on each:

* ``vfr``: an MP4 whose first frame is at 0;
* ``offset``: an MPEG-TS whose timestamps start at 10 s;
* ``edit_list``: an MP4 whose first frames are encoded before 0 and cut by its edit list (the
  player starts later into the stream, as after a cut without re-encoding), with B-frames.

The returned :class:`TimedVideo` knows each frame's presentation time from what was written, not from
the probe, so a test checks the probe, the plan and the artifacts against an independent truth.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from pipelines.encoding import write_video

TIMINGS = ("vfr", "offset", "edit_list")
TIME_BASE = Fraction(1, 90000)
_GRID = 4
_INDEX_BITS = 12
_HIDDEN = 3  # frames the edit list cuts from the start of ``edit_list``


def _check(index: int) -> int:
    return (index ^ (index >> 4) ^ (index >> 8)) & 0xF


def code_frame(index: int, height: int, width: int) -> np.ndarray:
    """Frame ``index`` ``(H, W, 3) uint8``: grey, with its number as black/white cells in the central square."""
    word = index | _check(index) << _INDEX_BITS
    bits = np.array([(word >> k) & 1 for k in range(_GRID * _GRID)], dtype=np.uint8).reshape(_GRID, _GRID)
    side = min(height, width) // _GRID * _GRID
    cells = np.kron(bits * 255, np.ones((side // _GRID, side // _GRID), dtype=np.uint8))  # (side, side)
    frame = np.full((height, width, 3), 128, dtype=np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    frame[top : top + side, left : left + side] = cells[..., None]
    return frame


def read_code(image: np.ndarray) -> int:
    """The number of a frame written by :func:`code_frame`, from the frame, its centre crop or a scaled copy.

    Raises:
        ValueError: the cells do not hold a valid number (not such a frame, or damaged beyond reading).
    """
    grey = np.asarray(image, dtype=np.float64).mean(axis=2)  # (H, W)
    h, w = grey.shape
    side = min(h, w)
    top, left = (h - side) / 2, (w - side) / 2
    cell = side / _GRID
    word = 0
    for k in range(_GRID * _GRID):
        row, col = divmod(k, _GRID)
        y0, x0 = top + (row + 0.3) * cell, left + (col + 0.3) * cell  # the middle 40 % of the cell
        y1, x1 = y0 + 0.4 * cell, x0 + 0.4 * cell
        value = grey[round(y0) : max(round(y1), round(y0) + 1), round(x0) : max(round(x1), round(x0) + 1)].mean()
        if 64 < value < 192:
            raise ValueError(f"cell {k} is neither black nor white ({value:.0f})")
        word |= int(value >= 128) << k
    index = word & ((1 << _INDEX_BITS) - 1)
    if word >> _INDEX_BITS != _check(index):
        raise ValueError(f"check bits do not match the number {index}")
    return index


@dataclass(frozen=True)
class TimedVideo:
    """A written test video and the truth about its frames.

    Attributes:
        path: the file.
        timing: one of :data:`TIMINGS`.
        times: frame number -> presentation time in seconds from the first frame shown (negative for
            frames the edit list hides).
        shown: the numbers of the frames a player shows, in presentation order (frame index ``i`` of
            the video is ``shown[i]``).
        end: where the last frame ends, in the same seconds (as written; an MPEG-TS does not keep it).
    """

    path: Path
    timing: str
    times: dict[int, float]
    shown: tuple[int, ...]
    end: float

    def time_of_index(self, index: int) -> float:
        """The presentation time of frame index ``index`` (a frame of the video as probed)."""
        return self.times[self.shown[index]]


def vfr_gaps(seconds: float, seed: int = 0) -> list[float]:
    """Gaps between frames in seconds: 30 fps, the middle third at 12 fps, each gap ×U(0.85, 1.15)."""
    rng = np.random.default_rng(seed)
    gaps, t = [], 0.0
    while t < seconds:
        rate = 12.0 if seconds / 3 <= t < 2 * seconds / 3 else 30.0
        gap = float(rng.uniform(0.85, 1.15)) / rate
        gaps.append(gap)
        t += gap
    return gaps


def write_timed_video(folder: Path, timing: str, *, seconds: float = 6.0, size: tuple[int, int] = (96, 128),
                      seed: int = 0) -> TimedVideo:
    """Write a test video of ``timing`` (one of :data:`TIMINGS`) into ``folder``; ``size`` = (height, width)."""
    if timing not in TIMINGS:
        raise ValueError(f"unknown timing {timing!r}; known: {', '.join(TIMINGS)}")
    ticks = np.concatenate([[0], np.cumsum(np.round(np.array(vfr_gaps(seconds, seed)) / float(TIME_BASE)))])
    ticks = ticks.astype(np.int64)  # (N,) one per frame, the last gap ends the stream
    start = {"vfr": 0, "offset": 10 * TIME_BASE.denominator, "edit_list": -int(ticks[_HIDDEN])}[timing]
    pts = [int(t) + start for t in ticks[:-1]]
    path = folder / (f"{timing}.ts" if timing == "offset" else f"{timing}.mp4")

    def frames() -> Iterator[np.ndarray]:
        return (code_frame(i, *size) for i in range(len(pts)))

    end = int(ticks[-1]) + start
    write_video(path, frames(), fps=30.0, pts=pts, end_pts=end, time_base=TIME_BASE, gop=30,
                bframes=0 if timing == "vfr" else 2, crf=18)
    first = 0 if timing != "edit_list" else _HIDDEN
    times = {i: float((p - pts[first]) * TIME_BASE) for i, p in enumerate(pts)}
    return TimedVideo(path=path, timing=timing, times=times, shown=tuple(range(first, len(pts))),
                      end=float((end - pts[first]) * TIME_BASE))


def edit_list(path: Path) -> list[tuple[int, int]]:
    """The ``(segment duration, media time)`` entries of an MP4's first edit list (``elst`` box); [] without one."""
    data = path.read_bytes()
    at = data.find(b"elst")
    if at < 0:
        return []
    version, count = data[at + 4], struct.unpack(">I", data[at + 8 : at + 12])[0]
    fmt, width = (">Qq", 20) if version == 1 else (">Ii", 12)  # each entry ends with a 4-byte media rate
    return [struct.unpack_from(fmt, data, at + 12 + i * width) for i in range(count)]
