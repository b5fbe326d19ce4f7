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
from pipelines.training.gate import (
    SelectionCurve,
    _correct,
    calibrate_threshold,
    choose_threshold,
    keep_run,
    pad_batch,
    task_mask,
)
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
    times = centre_times(valid)
    rows = []  # (threshold, selected, accuracy, half-width) of every distinct selection, brute force
    with torch.no_grad():
        scores = model.select(light, valid, SelectionRule(budget=1.0)).gate_scores
        dense = float(_correct(model.classify(heavy, valid.float(), times), targets).mean())
        for threshold in torch.unique(scores[valid]).tolist():
            mask = select_snippets(scores, valid, SelectionRule(threshold=threshold)).float()
            per_video = (mask.sum(1) / valid.sum(1)).tolist()
            accuracy = float(_correct(model.classify(heavy, mask, times), targets).mean())
            rows.append((threshold, statistics.fmean(per_video), accuracy,
                         1.96 * statistics.pstdev(per_video) / len(features) ** 0.5))

    def meets(selected: float, halfwidth: float) -> bool:
        inside = [a for _, s, a, _ in rows if selected / band - 1e-9 <= s <= selected * band + 1e-9]
        precise = precision is None or halfwidth <= precision + 1e-9
        return precise and all(a >= dense - tolerance - 1e-9 for a in inside)

    (chosen,) = [r for r in rows if r[0] == result["threshold"]]
    assert (chosen[1], chosen[2], chosen[3]) == pytest.approx(
        (result["val_selected"], result["val_accuracy"], result["val_selected_halfwidth"]), abs=1e-6)
    assert meets(chosen[1], chosen[3])
    assert not any(meets(s, h) for _, s, _, h in rows if s < chosen[1] - 1e-9)  # nothing smaller does
    assert result["val_dense_accuracy"] == pytest.approx(dense)
    assert "within" in result["rule"] and "12 validation videos" in result["rule"] and result["val_videos"] == 12
    assert ("known to" in result["rule"]) == (precision is not None)
    assert ("every selection from" in result["rule"]) == (band != 1.0)
    if precision == 0.0:  # only a selection the same share of every video meets it: here, every snippet
        assert result["val_selected"] == 1.0 and result["val_accuracy"] == pytest.approx(dense)


def test_a_wider_band_keeps_the_threshold_off_the_edge_of_a_cliff() -> None:
    """Accuracy drops below dense at the smallest selections and once more just above them: band 1
    takes the edge, band 2 a selection whose neighbours hold too."""
    selected = torch.tensor([0.05, 0.10, 0.15, 0.20, 0.40, 0.80, 1.0])[:, None].repeat(1, 4)
    accuracy = [0.25, 1.0, 0.75, 1.0, 1.0, 1.0, 1.0]  # dense 1.0, tolerance 0: 0.10 holds, 0.15 does not
    correct = torch.tensor([[1.0] * round(4 * a) + [0.0] * (4 - round(4 * a)) for a in accuracy])
    curve = SelectionCurve(torch.linspace(0.9, 0.0, 7), selected, correct, torch.ones(4))
    assert choose_threshold(curve, 0.0)["val_selected"] == pytest.approx(0.10)
    assert choose_threshold(curve, 0.0, band=2.0)["val_selected"] == pytest.approx(0.40)  # 0.20–0.80 all hold
    assert choose_threshold(curve, 0.0, band=2.0, videos=[0, 1])["val_videos"] == 2


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
