"""Snippet planning: which runs of consecutive frames a video is cut into.

A snippet is ``snippet_frames`` consecutive frames; its centre frame is the one the light encoder
sees. Snippets are spread uniformly over the whole video: snippet ``i`` of ``n`` is centred on the
middle of the ``i``-th of ``n`` equal segments, so a video of exactly ``n × snippet_frames`` frames is
tiled exactly and a longer one has equal gaps between snippets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import OptionsError


@dataclass(frozen=True)
class Snippet:
    """One snippet of a video.

    Attributes:
        index: position in the plan (0-based).
        start_frame: first frame.
        end_frame: one past the last frame (exclusive).
        centre_frame: the frame the light encoder sees, ``start_frame + length // 2`` (clamped).
        start: start time in seconds (``start_frame / fps``).
        end: end time in seconds (``end_frame / fps``).
    """

    index: int
    start_frame: int
    end_frame: int
    centre_frame: int
    start: float
    end: float

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame

    def frame_indices(self, length: int | None = None) -> list[int]:
        """The snippet's frames; with ``length``, padded by repeating the last frame (short videos)."""
        frames = list(range(self.start_frame, self.end_frame))
        if length is not None and len(frames) < length:
            frames += [self.end_frame - 1] * (length - len(frames))
        return frames


def plan_snippets(
    num_frames: int,
    fps: float,
    *,
    snippet_frames: int = 8,
    num_snippets: int | None = None,
    seconds_per_snippet: float | None = None,
    max_snippets: int = 256,
) -> list[Snippet]:
    """Spread snippets uniformly over a video; every frame index is in range.

    Three ways to choose the count (give at most one of ``num_snippets`` / ``seconds_per_snippet``):

    * ``num_snippets``: exactly that many (as in training, where every video has the same count).
      When the video has fewer than ``num_snippets × snippet_frames`` frames the snippets overlap;
      the count never shrinks, so batch shapes stay fixed.
    * ``seconds_per_snippet``: one snippet per that many seconds, at most ``max_snippets`` and at
      most as many as fit without overlap.
    * neither: as many non-overlapping snippets as fit, at most ``max_snippets``.

    A video shorter than one snippet gets a single snippet covering all of its frames
    (``num_frames < snippet_frames``; use :meth:`Snippet.frame_indices` with ``length`` to pad).

    Args:
        num_frames: frames in the video (exact, from :func:`pipelines.decoding.probe`).
        fps: average frame rate, for the start/end times.
        snippet_frames: frames per snippet.
        num_snippets: fixed snippet count.
        seconds_per_snippet: one snippet per this many seconds of video.
        max_snippets: cap for the ``seconds_per_snippet`` and default modes.

    Raises:
        OptionsError: non-positive sizes or both counting modes at once.
    """
    if num_frames < 1:
        raise OptionsError(f"a video needs at least one frame to plan snippets, got {num_frames}")
    if snippet_frames < 1 or max_snippets < 1 or not fps > 0:
        raise OptionsError("snippet_frames, max_snippets and fps must be positive")
    if num_snippets is not None and seconds_per_snippet is not None:
        raise OptionsError("give num_snippets or seconds_per_snippet, not both")
    fit = max(1, num_frames // snippet_frames)
    if num_snippets is not None:
        if num_snippets < 1:
            raise OptionsError(f"num_snippets must be positive, got {num_snippets}")
        count = num_snippets
    elif seconds_per_snippet is not None:
        if not seconds_per_snippet > 0:
            raise OptionsError(f"seconds_per_snippet must be positive, got {seconds_per_snippet}")
        count = min(max_snippets, fit, max(1, math.ceil(num_frames / fps / seconds_per_snippet)))
    else:
        count = min(max_snippets, fit)
    length = min(snippet_frames, num_frames)
    segment = num_frames / count
    snippets = []
    for i in range(count):
        start = round((i + 0.5) * segment - length / 2)
        start = min(max(0, start), num_frames - length)
        end = start + length
        snippets.append(Snippet(index=i, start_frame=start, end_frame=end, centre_frame=start + length // 2,
                                start=start / fps, end=end / fps))
    return snippets


def plan_video(num_frames: int, fps: float, *, snippet_frames: int, max_snippets: int) -> list[Snippet]:
    """The snippet plan shared by training, evaluation and inference.

    As many non-overlapping snippets as fit, up to ``max_snippets``, spread uniformly over the whole
    video: a video of exactly ``n × snippet_frames`` frames (n ≤ max) is tiled exactly, a longer one
    gets ``max_snippets`` snippets with gaps between them.
    """
    count = max(1, min(max_snippets, num_frames // snippet_frames))
    return plan_snippets(num_frames, fps, snippet_frames=snippet_frames, num_snippets=count)


def relative_times(plan: list[Snippet], num_frames: int) -> list[float]:
    """Each snippet's centre as a fraction of the video's length, in [0, 1]: the times the head reads."""
    return [(s.start_frame + s.end_frame) / 2 / max(1, num_frames) for s in plan]
