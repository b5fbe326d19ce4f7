"""Stages 4 and 5: cache every snippet's light and heavy features, then initialise the concept kernels.

With frozen trunks the features are cached before the heavy classifier trains (it learns on them), and
:func:`add_heavy_logits` adds its per-snippet logits afterwards. The stages after read them through a
:class:`FeatureStore`, one video's file when a batch needs it, so their memory does not grow with the data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import overload

import torch
import torch.nn.functional as F
from torch import nn

from models import VidGate

from ..cache import CachedVideo, centre_frames, load_snippets
from ..kmeans import kmeans
from ..transforms import heavy_input, light_input
from .context import Context

Features = Sequence[dict[str, torch.Tensor]]
"""Per video: ``light`` (T, D), ``heavy`` (T, F), ``heavy_logits`` (T, C); a :class:`FeatureStore` or a list."""


@torch.no_grad()
def cache_features(ctx: Context) -> None:
    """Light features, heavy features and heavy per-snippet class logits of every snippet (the logits once the
    heavy classifier has trained: before it with frozen trunks)."""
    model = ctx.model
    fc = heavy_classifier(ctx)
    model.to(ctx.device).eval()
    folder = ctx.work / "features"
    folder.mkdir(exist_ok=True)
    for split, videos in ctx.videos.items():
        for video in ctx.bar(videos, f"features {split}"):
            target = folder / f"{video.frames_file.stem}.pt"
            if target.exists():
                continue
            light, heavy = video_features(model, video, ctx.device)
            cached = {"light": light.cpu(), "heavy": heavy.cpu()}
            if fc is not None:
                cached["heavy_logits"] = fc(heavy).cpu()
            _save(cached, target)


def heavy_classifier(ctx: Context) -> nn.Linear | None:
    """The heavy stage's per-snippet classifier (``heavy_fc.pt``) on the training device; None before it trained."""
    path = ctx.work / "heavy_fc.pt"
    if not path.exists():
        return None
    fc = nn.Linear(ctx.model.heavy.num_features, ctx.model_config.num_classes)
    fc.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return fc.to(ctx.device)


@torch.no_grad()
def add_heavy_logits(ctx: Context) -> None:
    """Add the heavy classifier's per-snippet logits to every cached video that lacks them (resumable)."""
    fc = heavy_classifier(ctx)
    assert fc is not None, "the heavy classifier trains before its logits are added"
    folder = ctx.work / "features"
    for videos in ctx.videos.values():
        for video in videos:
            target = folder / f"{video.frames_file.stem}.pt"
            cached = torch.load(target, weights_only=True)
            if "heavy_logits" not in cached:
                _save({**cached, "heavy_logits": fc(cached["heavy"].to(ctx.device)).cpu()}, target)


def _save(cached: dict[str, torch.Tensor], target: Path) -> None:
    tmp = target.with_suffix(".tmp")
    torch.save(cached, tmp)
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


class FeatureStore(Sequence[dict[str, torch.Tensor]]):
    """The cached features of some videos, read-only: each access loads that video's file (memory-mapped)
    and keeps nothing, so only what the caller holds on to, a batch, is in memory."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> dict[str, torch.Tensor]: ...
    @overload
    def __getitem__(self, index: slice) -> FeatureStore: ...
    def __getitem__(self, index: int | slice) -> dict[str, torch.Tensor] | FeatureStore:
        if isinstance(index, slice):
            return FeatureStore(self.paths[index])
        return dict(torch.load(self.paths[index], mmap=True, weights_only=True))


def load_features(ctx: Context, split: str) -> FeatureStore:
    """The cached features of ``split``'s videos, in the order of ``ctx.videos[split]``, read on access."""
    folder = ctx.work / "features"
    return FeatureStore([folder / f"{v.frames_file.stem}.pt" for v in ctx.videos[split]])


KMEANS_POINTS = 65_536
"""At most this many light features enter the kernels' k-means (a few hundred videos give them all)."""


def kmeans_points(features: Features, seed: int, limit: int = KMEANS_POINTS) -> torch.Tensor:
    """The training light features k-means clusters, ``(N, D)`` with ``N`` ≤ ``limit``: every snippet while
    they fit, else ``limit`` snippets drawn uniformly with ``seed``; one video's features are read at a time."""
    counts = [video["light"].shape[0] for video in features]  # memory-mapped: reads no values
    total = sum(counts)
    if total <= limit:
        return torch.cat([video["light"] for video in features])
    chosen = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:limit].sort().values
    rows, offset = [], 0
    for video, count in zip(features, counts, strict=True):
        picked = chosen[(chosen >= offset) & (chosen < offset + count)] - offset
        if len(picked):
            rows.append(video["light"][picked])
        offset += count
    return torch.cat(rows)


def init_kernels(ctx: Context) -> None:
    """k-means over the training split's light features (at most :data:`KMEANS_POINTS`) initialises the
    concept kernels."""
    points = kmeans_points(load_features(ctx, "train"), ctx.config.seed)
    centres = kmeans(points, ctx.config.num_kernels, seed=ctx.config.seed)
    ctx.model.concepts.initialise(centres)


def pad_batch(features: Features, indices: list[int]) -> tuple[torch.Tensor, ...]:
    """Stack videos of different lengths: light (B, T, D), heavy (B, T, F), heavy logits (B, T, C), valid (B, T)."""
    videos = [features[i] for i in indices]  # each read once
    longest = max(v["light"].shape[0] for v in videos)

    def pad(name: str) -> torch.Tensor:
        return torch.stack([F.pad(v[name], (0, 0, 0, longest - v[name].shape[0])) for v in videos])

    valid = torch.stack([torch.arange(longest) < v["light"].shape[0] for v in videos])
    return pad("light"), pad("heavy"), pad("heavy_logits"), valid


def pad_rows(rows: list[torch.Tensor]) -> torch.Tensor:
    """Per-snippet values of videos of different lengths ``(T_i,)`` stacked with zeros after each ``(B, T)``."""
    longest = max(r.shape[0] for r in rows)
    return torch.stack([F.pad(r, (0, longest - r.shape[0])) for r in rows])


def correct(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Whether each video's top label is one of its labels ``(B,)`` (1/0, the targets' dtype)."""
    return targets.gather(1, logits.argmax(1, keepdim=True)).squeeze(1)
