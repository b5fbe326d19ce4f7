"""The learned threshold: chosen on validation videos by a rule sized to the evidence they hold.

A threshold on the gate's scores selects a different number of snippets in every video. The rule looks
at every threshold where the selection changes and asks two things of it, on the validation videos:

* **the head's answer holds** (a paired non-inferiority bound): per video, how much of the confidence
  dense recognition puts on the true labels the gated selection loses, ``D = p_dense − p_gated``. The
  threshold holds when the one-sided 95% upper bound of the mean loss, ``mean(D) + t · sd(D) / √n``, is at
  most ``tolerance``, at that selection and at every larger one up to ``band`` times it. The loss is
  measured in confidence, not in right-or-wrong: on 40 videos one wrong answer is 2.5 points of
  accuracy, so an accuracy rule can certify nothing short of every snippet, while each video's
  confidence says how close it came. The bound widens with fewer videos and with videos that disagree,
  so the saving it allows is what the evidence supports;
* **its selection is known** (``precision``): the mean selection over the videos has a 95% half-width
  ``1.96 · sd / √n`` of at most ``precision``, so that other videos select about as much.

The smallest such selection wins; selecting every snippet always qualifies (it loses nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from models import SelectionRule, VidGate, centre_times, select_snippets

from .features import Features, correct, pad_batch

# One-sided 95% Student t quantiles by degrees of freedom (n − 1); beyond the table, the normal's.
_T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860, 9: 1.833, 10: 1.812,
        12: 1.782, 15: 1.753, 20: 1.725, 25: 1.708, 30: 1.697, 40: 1.684, 60: 1.671, 120: 1.658}


def t95(df: int) -> float:
    """The one-sided 95% quantile of Student's t with ``df`` degrees of freedom (a table; conservative between
    its rows: the next smaller row's value)."""
    if df < 1:
        return math.inf
    rows = [k for k in _T95 if k <= df]
    return _T95[max(rows)] if df <= 120 else 1.645


@dataclass(frozen=True)
class SelectionCurve:
    """What every candidate threshold does on a set of videos.

    Attributes:
        thresholds: candidate thresholds, high → low (the selection only grows). ``(G,)``
        selected: fraction of each video's snippets selected at each threshold. ``(G, N)``
        correct: whether each video's top label is one of its labels at each threshold. ``(G, N)``
        confidence: the head's confidence in each video's true labels at each threshold. ``(G, N)``
        dense: ``correct`` with every snippet. ``(N,)``
        dense_confidence: ``confidence`` with every snippet. ``(N,)``
    """

    thresholds: torch.Tensor
    selected: torch.Tensor
    correct: torch.Tensor
    confidence: torch.Tensor
    dense: torch.Tensor
    dense_confidence: torch.Tensor


def truth_confidence(logits: torch.Tensor, targets: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """How much the head believes the truth, per video ``(B,)``: the softmax probability of the label; for
    multi-label, the mean over classes of the probability it gives the right side (present or absent)."""
    if multi_label:
        p = torch.sigmoid(logits)
        return (targets * p + (1 - targets) * (1 - p)).mean(1)
    return (torch.softmax(logits, -1) * targets).sum(1)


@torch.no_grad()
def selection_curve(model: VidGate, features: Features, targets: torch.Tensor, candidates: int = 400,
                    batch: int = 64) -> SelectionCurve:
    """Selection, correctness and confidence per video at every threshold where the selection changes
    (every distinct gate score; a ``candidates``-point quantile grid above that), ``batch`` videos at a time."""
    model.eval()
    device = next(model.parameters()).device
    multi = model.config.multi_label
    batches = [list(range(start, min(len(features), start + batch))) for start in range(0, len(features), batch)]

    def read(index: list[int]) -> tuple[torch.Tensor, ...]:
        light, heavy, _, valid = (t.to(device) for t in pad_batch(features, index))
        return light, heavy, valid, model.select(light, valid, SelectionRule(budget=1.0)).gate_scores

    scores_of = []  # first pass: the gate scores alone (one batch of features in memory at a time)
    for index in batches:
        _, _, valid, scores = read(index)
        scores_of.append(scores[valid].float())
    values = torch.cat(scores_of)
    grid = values.sort(descending=True).values
    if grid.numel() > candidates:
        grid = torch.quantile(values, torch.linspace(1, 0, candidates, device=values.device))
    thresholds = list(dict.fromkeys(grid.tolist()))  # distinct, high → low
    selected, right, confidence, dense, dense_confidence = [], [], [], [], []
    for index in batches:  # second pass: every threshold on each batch, read again
        _, heavy, valid, scores = read(index)
        wanted = targets[index].to(device)
        times = centre_times(valid)
        logits = model.classify(heavy, valid.float(), times)
        dense.append(correct(logits, wanted))
        dense_confidence.append(truth_confidence(logits, wanted, multi))
        rows: list[list[torch.Tensor]] = [[], [], []]
        for threshold in thresholds:
            mask = select_snippets(scores, valid, SelectionRule(threshold=threshold)).to(heavy.dtype)
            logits = model.classify(heavy, mask, times)
            rows[0].append(mask.sum(1) / valid.sum(1))
            rows[1].append(correct(logits, wanted))
            rows[2].append(truth_confidence(logits, wanted, multi))
        selected.append(torch.stack(rows[0]))
        right.append(torch.stack(rows[1]))
        confidence.append(torch.stack(rows[2]))
    return SelectionCurve(torch.tensor(thresholds), torch.cat(selected, 1).cpu(), torch.cat(right, 1).cpu(),
                          torch.cat(confidence, 1).cpu(), torch.cat(dense).cpu(), torch.cat(dense_confidence).cpu())


def choose_threshold(curve: SelectionCurve, tolerance: float, band: float = 1.0, precision: float | None = None,
                     videos: list[int] | None = None) -> dict[str, Any]:
    """The learned threshold by the rule of this module on the curve's ``videos`` (default all): the smallest
    mean selection ``s`` whose confidence loss against dense is bounded by ``tolerance`` (one-sided 95%) at
    every selection from ``s`` to ``s · band`` and, with ``precision`` set, whose mean is known to
    ``± precision``. Returns the threshold, the rule in words and what it promises on these videos."""
    index = torch.tensor(videos) if videos is not None else torch.arange(curve.dense.numel())
    n = index.numel()
    selected = curve.selected[:, index]
    mean, spread = selected.mean(1), selected.std(1, correction=0)
    loss = curve.dense_confidence[index].unsqueeze(0) - curve.confidence[:, index]  # (G, N)
    bound = loss.mean(1) + t95(n - 1) * loss.std(1, correction=1 if n > 1 else 0) / math.sqrt(max(1, n))
    holds = bound <= tolerance + 1e-9
    halfwidth = 1.96 * spread / math.sqrt(max(1, n))
    chosen = len(mean) - 1  # every snippet: loses nothing
    for g in range(len(mean)):  # the selection only grows
        if precision is not None and float(halfwidth[g]) > precision + 1e-9:
            continue
        s = float(mean[g])
        inside = (mean >= s - 1e-9) & (mean <= s * band + 1e-9)
        if bool(holds[inside].all()):
            chosen = g
            break
    rule = (f"smallest validation selection whose loss of confidence in the true labels against dense is at most "
            f"{100 * tolerance:g} points (one-sided 95% bound)")
    if band != 1.0:
        rule += f" up to {band:g}× it"
    if precision is not None:
        rule += f", its mean known to ±{100 * precision:g} points (95%)"
    rule += f" ({n} validation videos)"
    accuracy = curve.correct[chosen, index].float().mean()
    return {"threshold": float(curve.thresholds[chosen]), "rule": rule,
            "val_dense_accuracy": float(curve.dense[index].float().mean()), "val_accuracy": float(accuracy),
            "val_selected": float(mean[chosen]), "val_selected_std": float(spread[chosen]),
            "val_selected_halfwidth": float(halfwidth[chosen]), "val_confidence_loss_bound": float(bound[chosen]),
            "val_videos": n, "tolerance": tolerance, "band": band, "precision": precision}


def calibrate_threshold(model: VidGate, features: Features, targets: torch.Tensor, tolerance: float,
                        band: float = 1.0, precision: float | None = None) -> dict[str, Any]:
    """The learned threshold on validation videos by :func:`choose_threshold`'s rule: the threshold, the rule
    in words, and what it promises on them (dense accuracy, accuracy, mean selection and its spread and 95%
    half-width, the bound on the confidence lost)."""
    return choose_threshold(selection_curve(model, features, targets), tolerance, band, precision)
