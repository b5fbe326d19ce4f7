"""Per-instance training shared by the light and heavy stages: an encoder learns video labels on its instances.

An instance is a centre frame (light stage) or a snippet clip (heavy stage). Every instance learns its
video's label ("naive" multiple-instance learning); see :func:`instance_loss` for why.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..transforms import augment
from .context import Context
from .work import Stage


class MilClassifier(nn.Module):
    """An encoder plus a per-instance linear classifier; instances pooled by log-sum-exp per bag."""

    def __init__(self, encoder: nn.Module, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Linear(num_features, num_classes)

    def instance_logits(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.fc(self.encoder(x))  # (N, C)
        return logits


def instance_loss(
    instance_logits: torch.Tensor, targets: torch.Tensor, bags: list[int], multi_label: bool
) -> torch.Tensor:
    """Every instance (centre frame or snippet) learns its video's label ("naive" multiple-instance learning).

    Pooling instances first (log-sum-exp, mean) spreads the gradient over a video's mostly irrelevant
    snippets, and from random weights it did not learn at all on the synthetic benchmark; per-instance
    labels give each relevant instance the full gradient, and irrelevant ones settle at the class prior.
    """
    per_instance = targets.repeat_interleave(torch.tensor(bags, device=targets.device), dim=0)  # (N, C)
    if multi_label:
        return F.binary_cross_entropy_with_logits(instance_logits, per_instance)
    return F.cross_entropy(instance_logits, per_instance.argmax(1))


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
    instances: Callable[[int, random.Random], torch.Tensor],
    *,
    seed_offset: int,
    min_epochs: int = 0,
    smooth: int = 1,
    score: Callable[[MilClassifier], float | None] | None = None,
    on_epoch: Callable[[MilClassifier, int], None] | None = None,
) -> MilClassifier:
    """Train ``encoder`` and a linear classifier on per-instance video labels, saving every epoch.

    ``instances(video, rng)`` gives one training video's instances (centre frames or snippets),
    already normalised; an interrupted stage resumes after its last saved epoch. With a ``score``
    (validation, higher is better; averaged over the last ``smooth`` epochs, so that one lucky epoch
    on a few dozen videos does not decide) the best epoch from ``min_epochs`` on is kept, and the
    stage stops after ``patience`` epochs without a better one.
    """
    c = ctx.config
    net = MilClassifier(encoder, num_features, ctx.model_config.num_classes).to(ctx.device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=c.backbone_lr, weight_decay=c.weight_decay)
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
            inputs = [instances(i, rng) for i in batch]
            x = augment(torch.cat(inputs), g).to(ctx.device)
            targets = ctx.targets["train"][batch].to(ctx.device)
            bags = [t.shape[0] for t in inputs]
            loss = instance_loss(net.instance_logits(x), targets, bags, ctx.model_config.multi_label)
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
