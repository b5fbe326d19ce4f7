"""Stage 1, frames: every snippet of every video is decoded once into the work folder's frame cache."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..cache import cache_frames
from .context import Context, ticker

SPLITS = ("train", "val", "test")


def prepare(ctx: Context) -> None:
    """Decode and cache every snippet of every video (skips videos already cached); fills ``ctx.videos``."""
    c = ctx.config
    size = max(c.light_size, c.heavy_size)
    for split in SPLITS:
        items = ctx.dataset.split(split)
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
