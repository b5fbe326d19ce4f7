"""Frame times: where each frame of a video lies, in seconds, from its own presentation timestamp.

The one definition of a time in vidgate. Snippet times in results, thumbnails, clips and the padding
of context clips all come from :func:`frame_times`; nothing divides a frame index by a frame rate.
Variable frame rate (phones) is exact: a frame's time is its timestamp, not its index over the
average rate.

Time 0 is the first frame's presentation time, as a player's clock starts at the first picture: a
stream whose timestamps start late (an MPEG-TS starting at 10 s) and an MP4 edit list (frames it cuts
are not frames of the video; an empty edit's delay before the first picture is not counted) change
no time. ``VideoInfo.duration`` is measured the same way: it equals the time of index ``num_frames``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .probe import VideoInfo


def frame_times(info: VideoInfo, frames: Sequence[int] | np.ndarray) -> np.ndarray:
    """Seconds from the first frame to the start of each of ``frames`` ``(K,) float64``.

    Index ``num_frames`` is the end of the last frame: its timestamp plus its duration (the frame
    table's ``frame_ticks``). So frames ``[a, b)`` are on screen from ``frame_times(info, [a, b])``:
    the first one's time to the next one's. Without a frame table (a ``VideoInfo`` built by hand) the
    times are ``index / fps``.

    Raises:
        IndexError: an index outside ``[0, num_frames]``.
    """
    index = np.asarray(frames, dtype=np.int64).reshape(-1)  # (K,)
    if index.size and (index.min() < 0 or index.max() > info.num_frames):
        raise IndexError(f"frame index outside [0, {info.num_frames}]: {index.min()}..{index.max()}")
    table = info.table
    if table is None or table.num_frames != info.num_frames or table.num_frames == 0:
        return index / info.fps  # (K,)
    last = table.num_frames - 1
    ticks = table.pts[np.minimum(index, last)] - table.pts[0] + np.where(index > last, table.frame_ticks, 0)  # (K,)
    seconds: np.ndarray = ticks * table.time_base.numerator / table.time_base.denominator  # (K,)
    return seconds
