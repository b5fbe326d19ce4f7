"""After the gate stage: concept examples for the checkpoint (`pipelines.concept_examples`).

The kernels keep learning after k-means, so examples are taken from the final model: every training
video's cached centre frames (the crops the light encoder trained on) go through it once.
"""

from __future__ import annotations

from collections.abc import Iterator

from models.checkpoint import Example

from ..cache import centre_frames
from ..concept_examples import VideoFrames, collect_concept_examples
from ..decoding import probe
from ..planning import plan_video, snippet_times
from .context import Context


def concept_examples(ctx: Context) -> list[list[Example]]:
    """Every kernel's most activating training frames, within the checkpoint's size budget."""
    c, root = ctx.config, ctx.dataset.root

    def videos() -> Iterator[VideoFrames]:
        for video in ctx.bar(ctx.videos["train"], "concept examples"):
            info = probe(video.path)
            plan = plan_video(info.num_frames, info.fps, snippet_frames=c.snippet_frames, max_snippets=c.max_snippets)
            name = str(video.path.relative_to(root)) if video.path.is_relative_to(root) else video.path.name
            middles = [(start + end) / 2 for start, end in snippet_times(plan, info)]
            yield VideoFrames(name, centre_frames(video), middles)

    return collect_concept_examples(ctx.model, videos(), device=ctx.device)
