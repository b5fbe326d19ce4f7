"""Context-conditional gate: decides which snippets the heavy network looks at.

Per snippet the gate sees its own light feature, its concept activations and a summary of every
other snippet of the same video (masked self-attention plus the deviation from the video's mean),
so it can pick "the most relevant few" instead of judging each snippet alone.

    light features (B, T, D) ┐
    concept activations (B, T, K) ┴► embed (B, T, H) ─► attention over valid snippets (B, T, H)
                                        └──────────────► [x, context, x − mean] ─► MLP ─► logits (B, T)

Training draws hard 0/1 decisions with Gumbel (logistic) noise + sigmoid + threshold 0.5 and a
straight-through gradient; inference thresholds the gate scores or keeps the top-scoring snippets
within a budget. At least one valid snippet is always selected and padding is never selected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn


@dataclass(frozen=True)
class SelectionRule:
    """Which snippets the gate selects, by the same names as the recognition options.

    Attributes:
        budget: the fraction of snippets the heavy network may see: at most ``ceil(budget × snippets)``.
        max_selected: at most this many snippets.
        threshold: select snippets whose gate score ≥ threshold. Without a threshold, a budget or
            count selects exactly the top-scoring snippets it allows; with one, at most that many.
        dense: select every snippet (the comparison baseline).

    Values are validated where they enter vidgate (`pipelines.options.Options`), not again here.
    """

    budget: float | None = None
    max_selected: int | None = None
    threshold: float | None = None
    dense: bool = False


@dataclass
class GateOutput:
    """What the gate decided for a batch of videos.

    Attributes:
        gate_scores: gate score per snippet, 0 for padding. ``(B, T)``
        mask: 1 for selected snippets (hard; carries a straight-through gradient in training). ``(B, T)``
        concept_activations: similarity of each snippet to every concept kernel. ``(B, T, K)``
        logits: raw gate logits. ``(B, T)``
    """

    gate_scores: torch.Tensor
    mask: torch.Tensor
    concept_activations: torch.Tensor
    logits: torch.Tensor


class ContextGate(nn.Module):
    """Scores every snippet given its features, concept activations and the video's context.

    Args:
        feature_dim: light feature width ``D``.
        num_kernels: concept kernel count ``K``.
        hidden: internal width ``H``.
        heads: attention heads.
        dropout: dropout inside the gate.
    """

    def __init__(
        self, feature_dim: int, num_kernels: int, *, hidden: int = 128, heads: int = 4, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.embed = nn.Sequential(
            nn.LayerNorm(feature_dim + num_kernels),
            nn.Linear(feature_dim + num_kernels, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.score = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor, activations: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = self.embed(torch.cat([features, activations], dim=-1))  # (B, T, H)
        context, _ = self.attention(x, x, x, key_padding_mask=~valid, need_weights=False)  # (B, T, H)
        context = self.norm(context)
        w = valid.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        mean = (x * w).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp_min(1.0)  # (B, 1, H)
        logits = self.score(torch.cat([x, context, x - mean], dim=-1)).squeeze(-1)  # (B, T)
        return logits.masked_fill(~valid, -1e4)


def gumbel_sigmoid(logits: torch.Tensor, temperature: float, *, noise: bool = True) -> torch.Tensor:
    """Hard 0/1 samples with a straight-through gradient of the (noisy, tempered) sigmoid."""
    if noise:
        u = torch.rand_like(logits).clamp_(1e-6, 1 - 1e-6)
        logits = logits + torch.log(u) - torch.log1p(-u)  # logistic noise = difference of two Gumbels
    soft = torch.sigmoid(logits / temperature)
    hard = (soft > 0.5).to(soft.dtype)
    return hard - soft.detach() + soft


def select_snippets(gate_scores: torch.Tensor, valid: torch.Tensor, rule: SelectionRule) -> torch.Tensor:
    """Deterministic selection by ``rule``; returns a bool mask ``(B, T)``.

    A larger budget or count never selects fewer snippets; at least one valid snippet is always
    selected; padding never is.
    """
    if rule.dense:
        return valid.clone()
    scores = gate_scores.masked_fill(~valid, -1.0)  # (B, T)
    counts = valid.sum(1)  # (B,)
    cap = counts.clone()
    if rule.budget is not None:
        cap = torch.minimum(cap, torch.ceil(counts.to(torch.float64) * rule.budget).long())
    if rule.max_selected is not None:
        cap = cap.clamp_max(rule.max_selected)
    cap = cap.clamp_min(1)
    order = scores.argsort(dim=1, descending=True, stable=True)  # (B, T)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    mask = (rank < cap.unsqueeze(1)) & valid
    if rule.threshold is not None:
        mask &= gate_scores >= rule.threshold
    mask |= (rank == 0) & valid  # never select nothing
    return mask


def sparsity_loss(gate_scores: torch.Tensor, valid: torch.Tensor, target: float) -> torch.Tensor:
    """Squared distance between the batch's mean gate score and the target selection ratio."""
    ratio = gate_scores[valid].mean()
    return (ratio - target) ** 2


@lru_cache(maxsize=16)
def _beta_cdf_table(alpha: float, beta: float, points: int = 4097) -> tuple[torch.Tensor, torch.Tensor]:
    """Tabulated Beta(α, β) CDF on a grid clustered at both ends (where U-shaped densities peak)."""
    u = torch.linspace(0, 1, points, dtype=torch.float64)
    x = torch.sin(u * math.pi / 2) ** 2  # (G,)
    mid = (x[1:] + x[:-1]) / 2
    cells = mid ** (alpha - 1) * (1 - mid) ** (beta - 1) * (x[1:] - x[:-1])  # midpoint rule
    # The end cells hold the integrable singularities: integrate t^(α-1) and (1-t)^(β-1) exactly there.
    cells[0] = x[1] ** alpha / alpha
    cells[-1] = (1 - x[-2]) ** beta / beta
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64), cells.cumsum(0)])
    return x.float(), (cdf / cdf[-1]).float()


def beta_cdf(x: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Beta CDF by interpolating a table; differentiable in ``x`` (its gradient is the density)."""
    grid, cdf = (t.to(x.device) for t in _beta_cdf_table(alpha, beta))
    x = x.clamp(0.0, 1.0)
    i = torch.searchsorted(grid, x.detach()).clamp(1, grid.numel() - 1)
    x0, x1 = grid[i - 1], grid[i]
    c0, c1 = cdf[i - 1], cdf[i]
    return c0 + (c1 - c0) * (x - x0) / (x1 - x0)


def beta_prior(target: float, concentration: float = 0.8) -> tuple[float, float]:
    """A U-shaped Beta prior (both parameters < 1) whose mean is the target selection ratio."""
    return target * concentration, (1 - target) * concentration


def batch_shaping_loss(
    gate_scores: torch.Tensor, valid: torch.Tensor, alpha: float = 0.2, beta: float = 0.6
) -> torch.Tensor:
    """Cramér–von Mises distance between the batch's gate scores and a Beta(α, β) prior.

    Sort the valid gate scores, compare the prior's CDF at each with the empirical CDF, and
    average the squared differences; the gradient flows back through the sort. With a U-shaped
    prior this keeps gates conditional: neither always on, always off, nor stuck at 0.5.
    """
    p = gate_scores[valid].sort().values  # (N,)
    n = p.numel()
    empirical = torch.arange(1, n + 1, device=p.device, dtype=p.dtype) / (n + 1)
    return ((beta_cdf(p, alpha, beta) - empirical) ** 2).mean()
