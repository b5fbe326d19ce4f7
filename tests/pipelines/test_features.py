"""The cached features: read from disk a video at a time, the gate stage's evaluation in batches, the k-means sample."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from models import ModelConfig, SelectionRule, VidGate
from pipelines.training import TrainConfig
from pipelines.training.features import FeatureStore, kmeans_points, pad_batch
from pipelines.training.gate import GateTrainer, set_threshold

LENGTHS = (6, 9, 12, 7, 10, 8, 11)


def _features(d: int, f: int, c: int) -> list[dict[str, torch.Tensor]]:
    return [{"light": torch.randn(n, d), "heavy": torch.randn(n, f), "heavy_logits": torch.randn(n, c)}
            for n in LENGTHS]


def _store(features: list[dict[str, torch.Tensor]], folder: Path) -> FeatureStore:
    paths = [folder / f"{i}.pt" for i in range(len(features))]
    for video, path in zip(features, paths, strict=True):
        torch.save(video, path)
    return FeatureStore(paths)


def test_the_feature_store_loads_a_video_on_every_access_and_keeps_nothing(tmp_path: Path) -> None:
    torch.manual_seed(0)
    features = _features(4, 5, 3)
    store = _store(features, tmp_path)
    assert len(store) == len(features)
    first, again = store[2], store[2]
    for name, value in features[2].items():
        assert torch.equal(first[name], value) and torch.equal(again[name], value)
        assert first[name].data_ptr() != again[name].data_ptr()  # loaded twice, not a cached tensor
    changed = {name: value + 1 for name, value in features[2].items()}
    torch.save(changed, store.paths[2])
    assert all(torch.equal(store[2][name], value) for name, value in changed.items())  # read from disk now
    assert all(not isinstance(value, torch.Tensor) for value in vars(store).values())  # holds paths only
    assert isinstance(store[1:3], FeatureStore) and store[1:3].paths == store.paths[1:3]

    features[2] = changed
    index = [4, 0, 2]
    for from_disk, in_memory in zip(pad_batch(store, index), pad_batch(features, index), strict=True):
        assert torch.equal(from_disk, in_memory)


@pytest.mark.parametrize("head", ["temporal", "pool"])
def test_gate_evaluation_in_batches_equals_one_batch(tmp_path: Path, head: str) -> None:
    torch.manual_seed(0)
    model = VidGate(ModelConfig(classes=("a", "b", "c"), light="tiny2d", heavy="tiny3d", num_kernels=4,
                                gate_hidden=16, head=head, head_width=16)).eval()
    features = _features(model.light.num_features, model.heavy.num_features, 3)
    light, _, _, valid = pad_batch(features, list(range(len(features))))
    with torch.no_grad():
        scores = model.select(light, valid, SelectionRule(budget=1.0)).gate_scores[valid]
    set_threshold(model, float(scores.median()), "median")  # a threshold that selects some snippets of each video
    targets = torch.eye(3)[torch.randint(0, 3, (len(features),))]
    context = SimpleNamespace(model=model, config=TrainConfig(target_budget=0.3), device=torch.device("cpu"))
    trainer = GateTrainer(context)  # type: ignore[arg-type]

    whole = trainer.evaluate(_store(features, tmp_path), targets, batch=len(features))
    assert set(whole) == {"threshold_accuracy", "threshold_selected", "budget_accuracy", "budget_selected",
                          "dense_accuracy"}
    assert 0 < whole["threshold_selected"] < 1
    for batch in (1, 2, 3):
        assert trainer.evaluate(features, targets, batch=batch) == pytest.approx(whole, abs=1e-6)


def test_kmeans_points_take_every_snippet_while_they_fit_else_a_seeded_uniform_draw(tmp_path: Path) -> None:
    torch.manual_seed(0)
    features = _features(4, 5, 3)
    store = _store(features, tmp_path)
    every = torch.cat([video["light"] for video in features])
    assert torch.equal(kmeans_points(store, seed=0, limit=len(every)), every)

    limit = len(every) // 3
    drawn = kmeans_points(store, seed=0, limit=limit)
    assert drawn.shape == (limit, every.shape[1])
    assert torch.equal(drawn, kmeans_points(store, seed=0, limit=limit))  # the seed decides
    assert not torch.equal(drawn, kmeans_points(store, seed=1, limit=limit))
    rows = {tuple(row.tolist()) for row in every}
    assert all(tuple(row.tolist()) in rows for row in drawn)  # training features, none twice
    assert len({tuple(row.tolist()) for row in drawn}) == limit
