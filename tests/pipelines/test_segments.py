"""Timed annotations in training: which snippets show an annotated event, and what the stages make of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipelines.datasets import load_dataset
from pipelines.synth import SynthConfig, write_synthetic_dataset
from pipelines.training import TrainConfig, Trainer
from pipelines.training.frames import prepare
from pipelines.training.gate import salience_targets
from pipelines.training.heavy import ranked
from pipelines.training.segments import snippet_coverage


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("timed") / "data",
                                   SynthConfig(videos=6, classes=2, size=32, min_snippets=15, max_snippets=20, seed=5))


def test_the_snippets_segments_cover_are_the_events_the_generator_placed(timed: Path, tmp_path: Path) -> None:
    dataset = load_dataset(timed)
    ctx = Trainer(dataset, TrainConfig(light_size=32, heavy_size=32), tmp_path / "work", show_progress=False,
                  log=lambda line: None).ctx
    prepare(ctx)
    relevance = json.loads((timed / "relevance.json").read_text())["videos"]
    for split in ("train", "val"):
        coverage = snippet_coverage(ctx, split)
        assert coverage is not None
        for video, covered in zip(ctx.videos[split], coverage, strict=True):
            relevant = relevance[video.path.relative_to(dataset.root).as_posix()]["relevant"]
            assert covered.nonzero().flatten().tolist() == relevant  # spills into neighbours do not count
    (timed / "segments.csv").rename(timed / "segments.off")
    try:
        plain = Trainer(load_dataset(timed), TrainConfig(light_size=32, heavy_size=32), tmp_path / "plain",
                        show_progress=False, log=lambda line: None).ctx
        prepare(plain)
        assert snippet_coverage(plain, "train") is None
    finally:
        (timed / "segments.off").rename(timed / "segments.csv")


def test_covered_snippets_come_first_then_by_salience() -> None:
    salience = torch.tensor([0.9, 0.1, 0.5, 0.7, 0.3])
    assert ranked(salience, None, 0).tolist() == [0, 3, 2, 4, 1]
    assert ranked(salience, [torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0])], 0).tolist() == [4, 1, 0, 3, 2]


def test_the_gate_learns_toward_the_annotated_snippets_alone_or_with_the_heavy_networks() -> None:
    logits = torch.tensor([[[5.0, 0], [1, 0], [0, 0], [3, 0]], [[0.0, 4], [0, 1], [0, 2], [0, 3]]])  # (B, T, C)
    targets, valid = torch.tensor([[1.0, 0], [0, 1]]), torch.ones(2, 4, dtype=torch.bool)
    heavy = salience_targets(logits, targets, valid, 0.25)
    assert heavy.tolist() == [[1, 0, 0, 0], [1, 0, 0, 0]]
    annotated = torch.tensor([[0.0, 1, 0, 0], [0, 0, 0, 0]])  # the second video has no segments
    for mode, first in (("segments", [0, 1, 0, 0]), ("both", [1, 1, 0, 0]), ("heavy", [1, 0, 0, 0])):
        assert salience_targets(logits, targets, valid, 0.25, annotated, mode).tolist() == [first, [1, 0, 0, 0]]


def test_the_light_stage_draws_one_frame_from_each_stretch_of_a_long_video() -> None:
    import random

    from pipelines.training.light import spread

    rng = random.Random(0)
    assert spread(20, 32, rng) == list(range(20)) and spread(50, 0, rng) == list(range(50))
    chosen = spread(128, 32, rng)
    assert len(chosen) == 32 and all(4 * k <= c < 4 * (k + 1) for k, c in enumerate(chosen))
    assert spread(128, 32, random.Random(1)) != chosen  # a new draw each epoch
