"""Honest validation: the carve from train, its record, and the calibrated threshold's rule."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from models import ModelConfig, SelectionRule, VidGate, centre_times, select_snippets
from pipelines.datasets import Dataset, DatasetItem
from pipelines.training.calibration import (
    SelectionCurve,
    calibrate_threshold,
    choose_threshold,
    t95,
    truth_confidence,
)
from pipelines.training.features import correct, pad_batch
from pipelines.training.gate import keep_run, task_mask
from pipelines.training.validation import RECORD, carve, validation_split


def _dataset(root: Path, counts: dict[str, int], with_val: bool = False) -> Dataset:
    items, row = [], 2
    for label, n in counts.items():
        for i in range(n):
            items.append(DatasetItem(row, root / f"{label}_{i:03d}.mp4", (label,), "train"))
            row += 1
    if with_val:
        items.append(DatasetItem(row, root / "v.mp4", ("a",), "val"))
    items.append(DatasetItem(row + 1, root / "t.mp4", ("a",), "test"))
    return Dataset(root, tuple(counts), False, tuple(items))


def test_carve_is_stratified_seeded_and_leaves_every_label_training_videos(tmp_path: Path) -> None:
    data = _dataset(tmp_path, {"a": 40, "b": 20, "c": 2, "d": 1})
    train, val = carve(data.split("train"), 0.15, seed=0)
    per_label = Counter(it.labels[0] for it in val)
    assert per_label == {"a": 6, "b": 3, "c": 1}  # round(n × 0.15), at least one, never a class's last video
    assert {it.labels[0] for it in train} == {"a", "b", "c", "d"}
    assert not {it.path for it in train} & {it.path for it in val}
    assert len(train) + len(val) == 63
    again, _ = carve(data.split("train"), 0.15, seed=0)
    other, _ = carve(data.split("train"), 0.15, seed=1)
    assert again == train and other != train


def test_the_carve_is_recorded_and_a_resumed_run_reads_it_back(tmp_path: Path) -> None:
    data = _dataset(tmp_path, {"a": 10, "b": 10})
    work = tmp_path / "work"
    work.mkdir()
    first = validation_split(data, 0.2, seed=0, work=work)
    record = json.loads((work / RECORD).read_text())
    assert first.source == "carved from train" and record["seed"] == 0 and record["stratified_by"] == "label"
    assert sorted(record["val"]) == sorted(it.path.name for it in first.val)
    assert all(it.split == "train" for it in first.train + first.val)  # test never enters training
    resumed = validation_split(data, 0.2, seed=5, work=work)  # the record wins over a new draw
    assert resumed == first
    own = validation_split(_dataset(tmp_path, {"a": 10}, with_val=True), 0.2, seed=0, work=tmp_path / "other")
    assert own.source == "val split" and [it.path.name for it in own.val] == ["v.mp4"]


@pytest.mark.parametrize(("tolerance", "band", "precision"), [(0.0, 1.0, None), (0.1, 1.0, None), (0.1, 2.0, None),
                                                             (0.1, 2.0, 0.05), (0.0, 1.0, 0.0)])
def test_calibrated_threshold_is_the_smallest_selection_that_meets_the_rule(
    tolerance: float, band: float, precision: float | None
) -> None:
    torch.manual_seed(0)
    model = VidGate(ModelConfig(classes=("a", "b", "c"), light="tiny2d", heavy="tiny3d", num_kernels=4,
                                gate_hidden=16, head="temporal", head_width=16)).eval()
    d, f = model.light.num_features, model.heavy.num_features
    features = [{"light": torch.randn(n, d), "heavy": torch.randn(n, f), "heavy_logits": torch.zeros(n, 3)}
                for n in (6, 9, 12, 7, 10, 8, 11, 9, 6, 12, 10, 8)]
    targets = torch.eye(3)[torch.randint(0, 3, (len(features),))]
    result = calibrate_threshold(model, features, targets, tolerance, band, precision)

    light, heavy, _, valid = pad_batch(features, list(range(len(features))))
    times, n = centre_times(valid), len(features)
    rows = []  # (threshold, selected, accuracy, half-width, loss bound) of every distinct selection, brute force
    with torch.no_grad():
        scores = model.select(light, valid, SelectionRule(budget=1.0)).gate_scores
        logits = model.classify(heavy, valid.float(), times)
        dense = float(correct(logits, targets).mean())
        dense_truth = torch.softmax(logits, -1).mul(targets).sum(1)
        for threshold in torch.unique(scores[valid]).tolist():
            mask = select_snippets(scores, valid, SelectionRule(threshold=threshold)).float()
            per_video = (mask.sum(1) / valid.sum(1)).tolist()
            logits = model.classify(heavy, mask, times)
            loss = (dense_truth - torch.softmax(logits, -1).mul(targets).sum(1)).tolist()
            bound = statistics.fmean(loss) + t95(n - 1) * statistics.stdev(loss) / n ** 0.5
            rows.append((threshold, statistics.fmean(per_video), float(correct(logits, targets).mean()),
                         1.96 * statistics.pstdev(per_video) / n ** 0.5, bound))

    def meets(selected: float, halfwidth: float) -> bool:
        inside = [b for _, s, _, _, b in rows if selected - 1e-9 <= s <= selected * band + 1e-9]
        precise = precision is None or halfwidth <= precision + 1e-9
        return precise and all(b <= tolerance + 1e-6 for b in inside)

    (chosen,) = [r for r in rows if r[0] == result["threshold"]]
    assert chosen[1:] == pytest.approx((result["val_selected"], result["val_accuracy"],
                                        result["val_selected_halfwidth"], result["val_confidence_loss_bound"]),
                                       abs=1e-5)
    assert chosen[1] == 1.0 or meets(chosen[1], chosen[3])  # every snippet always qualifies
    assert not any(meets(s, h) for _, s, _, h, _ in rows if s < chosen[1] - 1e-9)  # nothing smaller does
    assert result["val_dense_accuracy"] == pytest.approx(dense)
    assert "12 validation videos" in result["rule"] and result["val_videos"] == 12
    assert ("known to" in result["rule"]) == (precision is not None)
    assert (f"up to {band:g}×" in result["rule"]) == (band != 1.0)
    if precision == 0.0:  # only a selection the same share of every video meets it: here, every snippet
        assert result["val_selected"] == 1.0 and result["val_accuracy"] == pytest.approx(dense)


def _curve(selected: list[float], loss: list[list[float]]) -> SelectionCurve:
    """A curve whose every video selects ``selected[g]`` at threshold ``g`` and loses ``loss[g][i]`` of its
    dense confidence (dense confidence 1, every answer right)."""
    g, n = len(selected), len(loss[0])
    confidence = 1.0 - torch.tensor(loss)
    return SelectionCurve(torch.linspace(0.9, 0.0, g), torch.tensor(selected)[:, None].repeat(1, n),
                          torch.ones(g, n), confidence, torch.ones(n), torch.ones(n))


def test_a_wider_band_keeps_the_threshold_off_the_edge_of_a_cliff() -> None:
    """The confidence lost is small at 10% and 30% of the snippets but not at 20%: band 1 takes 10%, band 2
    (every selection up to twice it holds) 30%."""
    selected = [0.05, 0.10, 0.20, 0.30, 0.60, 1.0]
    loss = [[0.5] * 8, [0.0] * 8, [0.3] * 8, [0.0] * 8, [0.0] * 8, [0.0] * 8]
    assert choose_threshold(_curve(selected, loss), 0.02)["val_selected"] == pytest.approx(0.10)
    assert choose_threshold(_curve(selected, loss), 0.02, band=2.0)["val_selected"] == pytest.approx(0.30)
    assert choose_threshold(_curve(selected, loss), 0.02, band=2.0, videos=[0, 1])["val_videos"] == 2


def test_the_bound_asks_more_of_fewer_videos_and_of_videos_that_disagree() -> None:
    """The same mean loss of confidence (1 point at 25%) passes a 2-point tolerance on 40 videos that agree,
    and fails it on 4 videos or on 40 that disagree (one loses 40 points, the others nothing)."""
    selected = [0.25, 1.0]
    agree = [[0.01] * 40, [0.0] * 40]
    assert choose_threshold(_curve(selected, agree), 0.02)["val_selected"] == pytest.approx(0.25)
    few = [[0.0, 0.0, 0.0, 0.04], [0.0] * 4]  # mean 1 point, sd 2 points, t(3) 2.35: bound 3.35 points
    assert choose_threshold(_curve(selected, few), 0.02)["val_selected"] == 1.0
    split = [[0.0] * 39 + [0.4], [0.0] * 40]  # mean 1 point, sd 6.3, t(39) 1.697: bound 2.7 points
    assert choose_threshold(_curve(selected, split), 0.02)["val_selected"] == 1.0
    assert t95(39) == pytest.approx(1.697) and t95(3) == pytest.approx(2.353) and t95(500) == pytest.approx(1.645)


def test_truth_confidence_is_the_belief_in_the_right_answer() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    single = truth_confidence(logits, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]), multi_label=False)
    assert single.tolist() == pytest.approx([torch.softmax(logits[0], 0)[0].item(), 1 / 3])
    multi = truth_confidence(torch.tensor([[0.0, 10.0]]), torch.tensor([[1.0, 1.0]]), multi_label=True)
    assert multi.item() == pytest.approx((0.5 + torch.sigmoid(torch.tensor(10.0)).item()) / 2)


def test_gate_runs_tied_on_validation_keep_the_one_whose_threshold_selects_least() -> None:
    def run(number: int, dense: float, gated: float, selected: float) -> dict[str, Any]:
        return {"run": number, "val_dense_accuracy": dense, "val_budget_accuracy": gated,
                "score": gated + 0.5 * dense, "val_selected": selected}

    # Four gate runs of one training on 36 validation videos (one video is 0.028).
    first = [run(1, 0.861, 0.917, 0.917),  # the best score; its threshold saves little
            run(2, 0.861, 0.889, 0.091),  # one video behind gated, as accurate dense
            run(3, 0.833, 0.889, 0.069),  # one behind on each: further behind in score
            run(4, 0.861, 0.861, 1.0)]
    assert keep_run(first, 0.03)["run"] == 2
    assert keep_run(first, 0.05)["run"] == 3
    assert keep_run(first, 0.0)["run"] == 1  # the best score alone
    # Another training's runs: run 4 is within 0.03 in score, but two videos behind dense: not a tie.
    second = [run(1, 0.861, 0.861, 0.915), run(2, 0.917, 0.889, 1.0), run(3, 0.861, 0.861, 0.936),
             run(4, 0.861, 0.889, 0.907)]
    assert keep_run(second, 0.03)["run"] == 2
    tied = [run(1, 0.9, 0.9, 0.2), run(2, 0.9, 0.9, 0.2)]
    assert keep_run(tied, 0.03)["run"] == 1  # equal in all: the lower run


def test_with_gate_gradient_selected_the_task_loss_reaches_the_gate_through_selected_snippets_only() -> None:
    torch.manual_seed(0)
    config = ModelConfig(classes=("a", "b", "c"), light="tiny2d", heavy="tiny3d", num_kernels=4, gate_hidden=16,
                         head="temporal", head_width=16)
    model = VidGate(config)
    light, heavy = torch.randn(2, 10, model.light.num_features), torch.randn(2, 10, model.heavy.num_features)
    valid = torch.ones(2, 10, dtype=torch.bool)
    grads: dict[str, torch.Tensor] = {}
    for gradient in ("all", "selected"):
        model.zero_grad()
        torch.manual_seed(1)  # the same Gumbel draw both times
        out = model.select(light, valid, temperature=1.0, sample=True)
        out.logits.retain_grad()
        mask = task_mask(out.mask, gradient)
        assert torch.equal(mask, out.mask)  # the same selection either way
        model.classify(heavy, mask, centre_times(valid)).logsumexp(-1).sum().backward()
        assert out.logits.grad is not None
        grads[gradient] = out.logits.grad
        chosen = out.mask.detach() > 0.5
    assert 0 < int(chosen.sum()) < chosen.numel()
    assert grads["all"][~chosen].abs().sum() > 0  # straight-through: what selecting them would do
    assert grads["selected"][~chosen].abs().sum() == 0
    assert torch.allclose(grads["selected"][chosen], grads["all"][chosen])
