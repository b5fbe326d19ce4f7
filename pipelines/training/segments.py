"""Where the events are, from a data set's timed annotations (``segments.csv``), per planned snippet.

Training plans each video as inference does (`pipelines.planning.plan_video`); a snippet shows an annotated
event when its time ``[start, end)`` (the frames' own timestamps) and the segment share at least half of the
shorter of the two: the definition evaluation scores "events found" by (`pipelines.evaluation.shows`).
Without ``segments.csv`` the stages learn where events are from the light and heavy networks alone.
"""

from __future__ import annotations

import torch

from ..cache import CachedVideo
from ..decoding import probe
from ..evaluation import shows
from ..planning import plan_video, snippet_times
from .context import Context


def snippet_coverage(ctx: Context, split: str) -> list[torch.Tensor] | None:
    """Per video of ``split``, 1 for each snippet that shows an annotated event, else 0 ``(T,)``; None when the
    data set has no segments. A video without segments of its own gets zeros (nothing marked)."""
    if not ctx.dataset.segments:
        return None
    cached = ctx.coverage.get(split)
    if cached is None:
        cached = ctx.coverage[split] = [_coverage(ctx, video) for video in ctx.videos[split]]
    return cached


def _coverage(ctx: Context, video: CachedVideo) -> torch.Tensor:
    segments = ctx.dataset.segments.get(video.path, ())
    if not segments:
        return torch.zeros(video.snippets)
    info = probe(video.path)
    plan = plan_video(info.num_frames, info.fps, snippet_frames=ctx.config.snippet_frames,
                      max_snippets=ctx.config.max_snippets)
    if len(plan) != video.snippets:  # the cache was planned the same way; anything else is a bug
        raise RuntimeError(f"{video.path}: {len(plan)} planned snippets, {video.snippets} cached")
    spans = snippet_times(plan, info)
    return torch.tensor([float(any(shows(span, (seg.start, seg.end)) for seg in segments)) for span in spans])
