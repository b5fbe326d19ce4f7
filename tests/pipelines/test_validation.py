"""Honest validation: the carve from train, its record, and the calibrated threshold's rule."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

import pytest
import torch

from models import Budget, ModelConfig, VidGate, centre_times, select_snippets
from pipelines.datasets import Dataset, DatasetItem
from pipelines.training.gate import _correct, calibrate_threshold, pad_batch
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


@pytest.mark.parametrize("tolerance", [0.0, 0.1])
def test_calibrated_threshold_is_the_smallest_selection_within_tolerance_of_dense(tolerance: float) -> None:
    torch.manual_seed(0)
    model = VidGate(ModelConfig(classes=("a", "b", "c"), light="tiny2d", heavy="tiny3d", num_kernels=4,
                                gate_hidden=16, head="temporal", head_width=16)).eval()
    d, f = model.light.num_features, model.heavy.num_features
    features = [{"light": torch.randn(n, d), "heavy": torch.randn(n, f), "evidence": torch.zeros(n, 3)}
                for n in (6, 9, 12, 7, 10, 8, 11, 9, 6, 12, 10, 8)]
    targets = torch.eye(3)[torch.randint(0, 3, (len(features),))]
    result = calibrate_threshold(model, features, targets, tolerance)

    light, heavy, _, valid = pad_batch(features, list(range(len(features))))
    times = centre_times(valid)
    with torch.no_grad():
        scores = model.select(light, valid, Budget(fraction=1.0)).gate_scores
        dense = float(_correct(model.classify(heavy, valid.float(), times), targets).mean())
        for threshold in torch.unique(scores[valid]).tolist():  # every distinct selection, brute force
            mask = select_snippets(scores, valid, Budget(threshold=threshold)).float()
            accuracy = float(_correct(model.classify(heavy, mask, times), targets).mean())
            selected = float((mask.sum(1) / valid.sum(1)).mean())
            if threshold == result["threshold"]:
                assert (accuracy, selected) == pytest.approx((result["val_accuracy"], result["val_selected"]))
                spread = statistics.pstdev((mask.sum(1) / valid.sum(1)).tolist())
                assert result["val_selected_std"] == pytest.approx(spread, abs=1e-6)
            if selected < result["val_selected"] - 1e-9:
                assert accuracy < dense - tolerance  # any smaller selection breaks the rule
    assert result["val_accuracy"] >= result["val_dense_accuracy"] - tolerance
    assert result["val_dense_accuracy"] == pytest.approx(dense)
    assert "within" in result["rule"] and "12 validation videos" in result["rule"] and result["val_videos"] == 12
