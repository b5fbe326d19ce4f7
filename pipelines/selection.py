"""Which snippets the heavy network sees: the gate's choice, or a baseline's.

``gated`` thresholds the gate scores under a budget; ``dense`` takes every snippet; ``uniform`` and
``random`` take k snippets evenly spaced / at random, k from the budget: the baselines the gate is
compared with in every evaluation.
"""

from __future__ import annotations

import math
import random

import torch

from models import Budget, select_snippets

MODES = ("gated", "dense", "uniform", "random")


def baseline_count(n: int, budget: float | None, max_selected: int | None) -> int:
    """k of the uniform/random baselines: the budget's share of ``n`` snippets, capped, at least one."""
    k = n if budget is None else math.ceil(budget * n)
    return max(1, min(k, max_selected or n))


def select(
    gate_scores: torch.Tensor,
    *,
    mode: str,
    budget: float | None = None,
    max_selected: int | None = None,
    threshold: float | None = None,
    learned_threshold: float = 0.5,
    seed: int = 0,
) -> torch.Tensor:
    """The selection mask ``(T,) bool`` for ``mode``.

    Args:
        gate_scores: the gate's score per snippet ``(T,)`` (ignored by the baselines).
        mode: one of :data:`MODES`.
        budget: fraction of snippets.
        max_selected: most snippets.
        threshold: gate score threshold; with none of budget, max_selected, threshold, the model's
            ``learned_threshold`` decides.
        learned_threshold: the threshold the gate was trained with.
        seed: the ``random`` baseline's seed.
    """
    n = gate_scores.shape[0]
    if mode == "dense":
        return torch.ones(n, dtype=torch.bool)
    if mode == "gated":
        if threshold is None and budget is None and max_selected is None:
            threshold = learned_threshold
        limits = Budget(fraction=budget, max_selected=max_selected, threshold=threshold)
        valid = torch.ones(1, n, dtype=torch.bool)
        return select_snippets(gate_scores.unsqueeze(0), valid, limits)[0]
    k = baseline_count(n, budget, max_selected)
    if mode == "uniform":
        chosen = {int((i + 0.5) * n / k) for i in range(k)}
    else:
        chosen = set(random.Random(seed).sample(range(n), k))
    mask = torch.zeros(n, dtype=torch.bool)
    mask[sorted(chosen)] = True
    return mask
