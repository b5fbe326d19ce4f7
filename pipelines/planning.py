"""Snippet planning: which runs of consecutive frames a video is cut into.

A snippet is ``snippet_frames`` consecutive frames; its centre frame is the one the light encoder
sees. Snippets are spread uniformly over the whole video: snippet ``i`` of ``n`` is centred on the
middle of the ``i``-th of ``n`` equal segments, so a video of exactly ``n × snippet_frames`` frames is
tiled exactly and a longer one has equal gaps between snippets.

:func:`align_to_keyframes` plans with the decoder in view instead: snippets start at keyframes, so
the light pass decodes one frame per snippet and the heavy pass only the snippet, with a stated
bound on the largest stretch of video no snippet covers (:func:`largest_gap`).

A plan is in frame indices; :func:`snippet_times` gives the seconds a snippet covers, from the frames'
own timestamps (`pipelines.decoding.timeline`), exact on variable frame rate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .decoding.probe import VideoInfo, keyframe_before
from .decoding.timeline import frame_times
from .errors import OptionsError


@dataclass(frozen=True)
class Snippet:
    """One snippet of a video.

    Attributes:
        index: position in the plan (0-based).
        start_frame: first frame.
        end_frame: one past the last frame (exclusive).
        centre_frame: the frame the light encoder sees, ``start_frame + length // 2`` (clamped).
    """

    index: int
    start_frame: int
    end_frame: int
    centre_frame: int

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
        fps: average frame rate (``num_frames / duration``), for ``seconds_per_snippet``.
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
        wanted = min(num_frames / fps / seconds_per_snippet, fit)  # capped first: a tiny value gives inf
        count = min(max_snippets, fit, max(1, math.ceil(wanted)))
    else:
        count = min(max_snippets, fit)
    length = min(snippet_frames, num_frames)
    segment = num_frames / count
    snippets = []
    for i in range(count):
        start = round((i + 0.5) * segment - length / 2)
        start = min(max(0, start), num_frames - length)
        end = start + length
        snippets.append(Snippet(index=i, start_frame=start, end_frame=end, centre_frame=start + length // 2))
    return snippets


def plan_video(num_frames: int, fps: float, *, snippet_frames: int, max_snippets: int) -> list[Snippet]:
    """The snippet plan shared by training, evaluation and inference.

    As many non-overlapping snippets as fit, up to ``max_snippets``, spread uniformly over the whole
    video: a video of exactly ``n × snippet_frames`` frames (n ≤ max) is tiled exactly, a longer one
    gets ``max_snippets`` snippets with gaps between them.
    """
    count = max(1, min(max_snippets, num_frames // snippet_frames))
    return plan_snippets(num_frames, fps, snippet_frames=snippet_frames, num_snippets=count)


def largest_gap(plan: Sequence[Snippet], num_frames: int) -> int:
    """The most consecutive frames no snippet covers: between two snippets, before the first or after the last."""
    if not plan:
        return num_frames
    gaps = [plan[0].start_frame, num_frames - plan[-1].end_frame]
    gaps += [b.start_frame - a.end_frame for a, b in itertools.pairwise(plan)]
    return max(0, *gaps)


def allowed_gap(num_frames: int, count: int, snippet_frames: int) -> int:
    """The coverage bound of :func:`align_to_keyframes`: what a uniform plan of ``count`` snippets leaves
    uncovered when it drops one snippet (two spacings minus a snippet)."""
    return max(0, math.ceil(2 * num_frames / max(1, count)) - snippet_frames)


def align_to_keyframes(
    num_frames: int,
    fps: float,
    keyframes: Sequence[int],
    *,
    snippet_frames: int,
    max_snippets: int,
    max_gap: int | None = None,
) -> list[Snippet] | None:
    """A decode-aware plan: snippets starting at keyframes, with no uncovered stretch over ``max_gap`` frames.

    Every keyframe that fits a whole snippet starts one (when there are more than ``max_snippets``,
    the one nearest each uniform snippet's start is taken). Where two of them lie more than
    ``max_gap`` frames apart, filler snippets go in at the earliest place that closes the gap (the
    cheapest to reach from their keyframe). The result never leaves more than ``max_gap`` frames
    uncovered, and never holds more than ``max_snippets`` snippets; when both cannot hold (keyframes
    too sparse for the bound), there is no aligned plan and None comes back.

    Args:
        num_frames: frames in the video.
        fps: average frame rate (for the uniform plan it starts from).
        keyframes: keyframe indices, ascending (from :func:`pipelines.decoding.probe`).
        snippet_frames: frames per snippet.
        max_snippets: most snippets (the uniform plan's count).
        max_gap: largest allowed uncovered stretch; default :func:`allowed_gap` of the uniform plan.
    """
    length = snippet_frames
    count = max(1, min(max_snippets, num_frames // length))
    if num_frames < 2 * length:
        return None
    bound = allowed_gap(num_frames, count, length) if max_gap is None else max_gap
    starts = sorted({int(k) for k in keyframes if 0 <= k <= num_frames - length})
    if len(starts) > count:
        uniform = [s.start_frame for s in plan_snippets(num_frames, fps, snippet_frames=length, num_snippets=count)]
        chosen: list[int] = []
        for u in uniform:
            free = [k for k in starts if not chosen or k >= chosen[-1] + length]
            if free:
                chosen.append(min(free, key=lambda k: abs(k - u)))
        starts = chosen
    kept: list[int] = []
    for k in starts:  # keyframes closer than a snippet apart (scene cuts): the first one only
        if not kept or k >= kept[-1] + length:
            kept.append(k)
    filled: list[int] = []
    covered = 0  # first frame not yet covered by the snippets placed so far
    for nxt in [*kept, None]:
        limit = num_frames if nxt is None else nxt
        # frames [covered, limit) are uncovered; the next snippet (or the video's end) must come within bound
        while limit - covered > bound:
            latest_needed = limit - bound - length  # a filler starting here leaves exactly ``bound`` before limit
            start = min(covered + bound, max(covered, latest_needed))
            start = min(start, num_frames - length)
            if start < covered or (nxt is not None and start + length > nxt):
                return None
            filled.append(start)
            covered = start + length
        if nxt is not None:
            filled.append(nxt)
            covered = nxt + length
    if len(filled) > max(count, 1):
        return None
    return [Snippet(index=i, start_frame=f, end_frame=f + length, centre_frame=f + length // 2)
            for i, f in enumerate(filled)]


def snippet_times(plan: Sequence[Snippet], info: VideoInfo) -> list[tuple[float, float]]:
    """Each snippet's ``(start, end)`` in seconds: its first frame's time, and its last frame's time plus
    that frame's duration (the next frame's time; the video's end for the last frame), from `frame_times`."""
    bounds = frame_times(info, [f for s in plan for f in (s.start_frame, s.end_frame)])  # (2T,)
    return [(float(a), float(b)) for a, b in zip(bounds[0::2], bounds[1::2], strict=True)]


def light_frames(plan: Sequence[Snippet], keyframes: Sequence[int] | None) -> list[int]:
    """The frame the light encoder sees per snippet: its first frame when that is a keyframe, else its centre."""
    keys = set(keyframes or ())
    return [s.start_frame if s.start_frame in keys else s.centre_frame for s in plan]


def passed_snippets(plan: Sequence[Snippet], keyframes: Sequence[int] | None) -> list[int]:
    """Snippets whose frames the light pass should keep: decoding them later would cost far more.

    Reaching a centre frame decodes every reference frame from the keyframe before it, so when that
    keyframe is at or before the snippet's first frame, most of the first half of the snippet is
    decoded anyway and the rest costs only about ``snippet_frames / 2`` more frames. Decoding the
    snippet after the gate instead would mean seeking back and decoding again from that keyframe —
    worth avoiding when the keyframe lies at least one snippet length before the snippet (long
    keyframe intervals).
    """
    if not keyframes:
        return []
    return [s.index for s in plan if keyframe_before(keyframes, s.centre_frame) <= s.start_frame - s.num_frames]


def relative_times(plan: list[Snippet], num_frames: int) -> list[float]:
    """Each snippet's centre as a fraction of the video's length, in [0, 1]: the times the head reads."""
    return [(s.start_frame + s.end_frame) / 2 / max(1, num_frames) for s in plan]
