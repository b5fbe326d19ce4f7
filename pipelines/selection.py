"""Which snippets the heavy network sees: the gate's choice under the caller's policy, or a baseline's.

In ``gated`` mode the policy (a budget, a maximum count, a threshold; none of them: the gate's learned
threshold) becomes the gate's selection rule (`gate_rule`) and the gate applies it once
(`models.VidGate.select`, which calls `models.gate.select_snippets`): the mask it returns is the one the
heavy pass reads. ``dense`` takes every snippet; ``uniform`` and ``random`` take k snippets evenly spaced
/ at random, k from the budget (`baseline_mask`): the baselines the gate is compared with in every
evaluation.
"""

from __future__ import annotations

import math
import random

import torch

from models import SelectionRule

from .options import Mode, Options

MODES = tuple(m.value for m in Mode)


def gate_rule(options: Options) -> SelectionRule | None:
    """The gate's selection rule for the options' policy; None when none is given: the model's learned
    threshold decides (`VidGate.select`'s default, the one place that default lives)."""
    if options.budget is None and options.max_selected is None and options.threshold is None:
        return None
    return SelectionRule(budget=options.budget, max_selected=options.max_selected, threshold=options.threshold)


def baseline_count(n: int, budget: float | None, max_selected: int | None) -> int:
    """k of the uniform/random baselines: the budget's share of ``n`` snippets, capped, at least one."""
    k = n if budget is None else math.ceil(budget * n)
    return max(1, min(k, max_selected or n))


def baseline_mask(n: int, options: Options) -> torch.Tensor:
    """The selection mask ``(T,) bool`` of a mode that runs no gate: dense, uniform or random."""
    if options.mode is Mode.GATED:
        raise ValueError("gated selection is the gate's own (VidGate.select with gate_rule(options))")
    if options.mode is Mode.DENSE:
        return torch.ones(n, dtype=torch.bool)
    k = baseline_count(n, options.budget, options.max_selected)
    if options.mode is Mode.UNIFORM:
        chosen = {int((i + 0.5) * n / k) for i in range(k)}
    else:
        chosen = set(random.Random(options.seed).sample(range(n), k))
    mask = torch.zeros(n, dtype=torch.bool)
    mask[sorted(chosen)] = True
    return mask
