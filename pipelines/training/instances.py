"""Per-instance training shared by the light and heavy stages: an encoder learns video labels on its instances.

An instance is a centre frame (light stage) or a snippet clip (heavy stage). Every instance learns its
video's label ("naive" multiple-instance learning); see :func:`instance_loss` for why.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models import Head

from ..transforms import augment
from .context import Context
from .work import Stage

Instances = tuple[torch.Tensor, torch.Tensor]  # one video's inputs (N, ...) and their centre times (N,) in [0, 1]


class MilClassifier(nn.Module):
    """An encoder plus a per-instance linear classifier, and optionally a sequence head over a video's instances.

    ``sequence`` (a `models.head.Head`) reads one video's instance features in time order, with their
    times, and predicts the video's label: it gives the encoder a reason to tell apart what per-instance
    labels cannot, e.g. the two events of an order pair, which carry the same labels one by one.
    """

    def __init__(self, encoder: nn.Module, num_features: int, num_classes: int, sequence: Head | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Linear(num_features, num_classes)
        self.sequence = sequence

    def instance_logits(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.fc(self.encoder(x))  # (N, C)
        return logits

    def sequence_logits(self, features: torch.Tensor, times: torch.Tensor, bags: list[int]) -> torch.Tensor:
        """The sequence head's video logits ``(B, C)`` from instance ``features (N, F)`` grouped in ``bags``."""
        assert self.sequence is not None
        rows, stamps = torch.split(features, bags), torch.split(times, bags)
        longest = max(bags)
        padded = torch.stack([F.pad(r, (0, 0, 0, longest - r.shape[0])) for r in rows])  # (B, K, F)
        when = torch.stack([F.pad(t, (0, longest - t.shape[0])) for t in stamps])  # (B, K)
        mask = torch.stack([torch.arange(longest, device=features.device) < n for n in bags]).float()  # (B, K)
        logits: torch.Tensor = self.sequence(padded, mask, when)
        return logits


def video_loss(logits: torch.Tensor, targets: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """A video-level loss of ``logits (B, C)`` against multi-hot ``targets``."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, targets)
    return F.cross_entropy(logits, targets.argmax(1))


def instance_loss(
    instance_logits: torch.Tensor, targets: torch.Tensor, bags: list[int], multi_label: bool
) -> torch.Tensor:
    """Every instance (centre frame or snippet) learns its video's label ("naive" multiple-instance learning).

    Pooling instances first (log-sum-exp, mean) spreads the gradient over a video's mostly irrelevant
    snippets, and from random weights it did not learn at all on the synthetic benchmark; per-instance
    labels give each relevant instance the full gradient, and irrelevant ones settle at the class prior.
    """
    per_instance = targets.repeat_interleave(torch.tensor(bags, device=targets.device), dim=0)  # (N, C)
    return video_loss(instance_logits, per_instance, multi_label)


def video_scores(instance_logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """A video's class scores from its instances: mean log-probability (C,)."""
    if multi_label:
        return F.logsigmoid(instance_logits).mean(0)
    return F.log_softmax(instance_logits, -1).mean(0)


def validation_score(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Video accuracy of ``scores (N, C)`` (log-probabilities) against multi-hot ``targets``, with the true
    label's mean log-probability (floored at -10) as a tie-breaker worth less than one video in a thousand."""
    right = targets.gather(1, scores.argmax(1, keepdim=True)).mean()
    likelihood = scores.masked_fill(~targets.bool(), -torch.inf).max(1).values.clamp_min(-10).mean()
    return float(right + 1e-4 * likelihood)


def fit_instances(
    ctx: Context,
    stage: Stage,
    encoder: nn.Module,
    num_features: int,
    epochs: int,
    instances: Callable[[int, random.Random], Instances],
    *,
    seed_offset: int,
    sequence: Head | None = None,
    sequence_weight: float = 0.0,
    min_epochs: int = 0,
    smooth: int = 1,
    score: Callable[[MilClassifier], float | None] | None = None,
    on_epoch: Callable[[MilClassifier, int], None] | None = None,
) -> MilClassifier:
    """Train ``encoder`` and a linear classifier on per-instance video labels, saving every epoch.

    ``instances(video, rng)`` gives one training video's instances (centre frames or snippets), already
    normalised, with their centre times; an interrupted stage resumes after its last saved epoch. With a
    ``sequence`` head, ``sequence_weight`` times its video loss on each video's instances (in time
    order) joins the per-instance loss, and its gradient reaches the encoder. With a ``score``
    (validation, higher is better; averaged over the last ``smooth`` epochs, so that one lucky epoch
    on a few dozen videos does not decide) the best epoch from ``min_epochs`` on is kept, and the
    stage stops after ``patience`` epochs without a better one.
    """
    c = ctx.config
    net = MilClassifier(encoder, num_features, ctx.model_config.num_classes, sequence).to(ctx.device)
    groups: list[dict[str, Any]] = [{"params": [*net.encoder.parameters(), *net.fc.parameters()]}]
    if sequence is not None:
        groups.append({"params": list(sequence.parameters()), "lr": c.lr})
    optimiser = torch.optim.AdamW(groups, lr=c.backbone_lr, weight_decay=c.weight_decay)
    start = stage.resume(net, optimiser)
    if start:
        ctx.log(f"{stage.name}: resuming after epoch {start}")
    g = torch.Generator()
    recent: list[float] = []
    for epoch in ctx.bar(range(start, epochs), stage.name, epochs - start):
        net.train()
        g.manual_seed(c.seed + seed_offset + epoch)
        rng = random.Random(c.seed + epoch)
        for batch in ctx.batches("train", True, epoch):
            inputs, times = zip(*(instances(i, rng) for i in batch), strict=True)
            x = augment(torch.cat(inputs), g).to(ctx.device)
            targets = ctx.targets["train"][batch].to(ctx.device)
            bags = [t.shape[0] for t in inputs]
            features = net.encoder(x)
            multi = ctx.model_config.multi_label
            loss = instance_loss(net.fc(features), targets, bags, multi)
            if sequence is not None and sequence_weight:
                logits = net.sequence_logits(features, torch.cat(times).to(ctx.device), bags)
                loss = loss + sequence_weight * video_loss(logits, targets, multi)
            optimiser.zero_grad()
            torch.autograd.backward(loss)
            optimiser.step()
        raw = score(net) if score is not None else None
        value = None
        if raw is not None:
            stage.last = (epoch + 1, raw)
            recent = [*recent[-(smooth - 1):], raw] if smooth > 1 else [raw]
            value = sum(recent) / len(recent) if epoch + 1 >= min_epochs else None
        stage.save_epoch(net, optimiser, epoch + 1, value)
        if raw is not None:
            ctx.log(f"{stage.name} epoch {epoch + 1}: validation {raw:.3f}"
                    + (f", mean of the last {len(recent)} {value:.3f}" if value is not None and smooth > 1 else "")
                    + (f" (best {stage.best_score:.3f}, epoch {stage.best_epoch})" if stage.best_epoch else ""))
        if on_epoch is not None:
            on_epoch(net, epoch)
        if value is not None and epoch + 1 - stage.best_epoch >= c.patience:
            ctx.log(f"{stage.name}: stopped after epoch {epoch + 1}, no better validation for {c.patience} epochs")
            break
    stage.restore_best(net)
    if stage.best_state is not None:
        ctx.log(f"{stage.name}: kept epoch {stage.best_epoch} (validation {stage.best_score:.3f})")
    return net
