"""Stages 4 and 5: cache every snippet's light and heavy features, then initialise the concept kernels."""

from __future__ import annotations

import torch
from torch import nn

from models import VidGate

from ..cache import CachedVideo, centre_frames, load_snippets
from ..kmeans import kmeans
from ..transforms import heavy_input, light_input
from .context import Context

Features = list[dict[str, torch.Tensor]]


@torch.no_grad()
def cache_features(ctx: Context) -> None:
    """Light features, heavy features and heavy per-snippet class logits of every snippet."""
    model, mc = ctx.model, ctx.model_config
    fc = nn.Linear(model.heavy.num_features, mc.num_classes)
    fc.load_state_dict(torch.load(ctx.work / "heavy_fc.pt", weights_only=True))
    model.to(ctx.device).eval()
    fc.to(ctx.device)
    folder = ctx.work / "features"
    folder.mkdir(exist_ok=True)
    for split, videos in ctx.videos.items():
        for video in ctx.bar(videos, f"features {split}"):
            target = folder / f"{video.frames_file.stem}.pt"
            if target.exists():
                continue
            light, heavy = video_features(model, video, ctx.device)
            tmp = target.with_suffix(".tmp")
            torch.save({"light": light.cpu(), "heavy": heavy.cpu(), "heavy_logits": fc(heavy).cpu()}, tmp)
            tmp.replace(target)


@torch.no_grad()
def video_features(model: VidGate, video: CachedVideo, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Light features of every centre frame ``(T, D)`` and heavy features of every snippet ``(T, F)``."""
    mc = model.config
    light = model.encode_frames(light_input(centre_frames(video), mc).to(device))
    snippets = load_snippets(video)
    heavy = torch.cat([model.encode_snippets(heavy_input(snippets[i : i + 16], mc).to(device))
                       for i in range(0, snippets.shape[0], 16)])
    return light, heavy


def load_features(ctx: Context, split: str) -> Features:
    folder = ctx.work / "features"
    return [torch.load(folder / f"{v.frames_file.stem}.pt", weights_only=True) for v in ctx.videos[split]]


def init_kernels(ctx: Context) -> None:
    """k-means over the training split's light features initialises the concept kernels."""
    light = torch.cat([f["light"] for f in load_features(ctx, "train")])
    centres = kmeans(light, ctx.config.num_kernels, seed=ctx.config.seed)
    ctx.model.concepts.initialise(centres)
