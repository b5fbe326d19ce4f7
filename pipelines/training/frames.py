"""Stage 1, frames: every snippet of every training and validation video is decoded once into the
work folder's frame cache (the ``test`` split is never decoded in training)."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..cache import cache_frames
from .context import Context, ticker
from .validation import validation_split


def prepare(ctx: Context) -> None:
    """Decode and cache every snippet of the training and validation videos (skips videos already
    cached); fills ``ctx.videos`` and ``ctx.targets`` for ``train`` and ``val``."""
    c = ctx.config
    size = max(c.light_size, c.heavy_size)
    validation = validation_split(ctx.dataset, c.val_fraction, c.seed, ctx.work)
    ctx.validation_source = validation.source
    ctx.log(f"validation: {len(validation.val)} videos ({validation.source}), {len(validation.train)} train")
    for split, items in (("train", list(validation.train)), ("val", list(validation.val))):
        if not items:
            ctx.videos[split] = []
            continue
        bar = tqdm(total=len(items), desc=f"decode {split}", disable=not ctx.show_progress, leave=False)
        cached, failed = cache_frames(
            [it.path for it in items],
            ctx.work / "frames",
            size=size,
            snippet_frames=c.snippet_frames,
            max_snippets=c.max_snippets,
            backend=c.backend,
            on_video=ticker(bar),
        )
        bar.close()
        for path, reason in failed:
            ctx.log(f"skipped {path}: {reason}")
        by_path = {it.path: it for it in items}
        ctx.videos[split] = cached
        ctx.targets[split] = (
            torch.stack([ctx.target(by_path[v.path]) for v in cached])
            if cached
            else torch.zeros(0, ctx.model_config.num_classes)
        )
    if not ctx.videos["train"]:
        raise RuntimeError("no training video could be decoded")
