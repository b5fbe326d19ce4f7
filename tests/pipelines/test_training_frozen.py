"""The small-data recipe (``freeze_trunks``): both pretrained trunks stay exactly as published, only the concept
kernels, the gate and the head learn; each network's input is normalised as its publisher's was, in training and
in recognition; the run resumes from its work folder; without both weight files it is refused.

The weight files are the publishers' own architectures with random values, saved in their layouts
(torchvision's ``mobilenet_v3_small`` state dict, pytorchvideo's ``X3D_XS.pyth``), at tiny input sizes.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torchvision import models as tvm

from models.checkpoint import load_checkpoint, read_card
from models.published import IMAGENET_MEAN, IMAGENET_STD, PYTORCHVIDEO_MEAN, PYTORCHVIDEO_STD
from pipelines.datasets import Dataset, load_dataset
from pipelines.encoding import write_video
from pipelines.errors import OptionsError
from pipelines.recognizer import Recognizer
from pipelines.training import TrainConfig, Trainer, train

from ..helpers import moving_square_frames

FROZEN = TrainConfig(light="mobilenet_v3_small", heavy="x3d_xs", light_size=32, heavy_size=32, snippet_frames=4,
                     max_snippets=8, num_kernels=4, gate_hidden=16, heavy_epochs=3, gate_epochs=3, gate_runs=2,
                     batch_videos=2, freeze_trunks=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("data")
    rows = ["video,label,split"]
    for i, (label, split) in enumerate([("pour", "train"), ("stir", "train")] * 2 + [("pour", "val"), ("stir", "val")]):
        write_video(root / f"v{i}.mp4", moving_square_frames(32, (48, 48), seed=i), fps=12.0, gop=16)
        rows.append(f"v{i}.mp4,{label},{split}")
    (root / "annotations.csv").write_text("\n".join(rows) + "\n")
    return load_dataset(root)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random values in the publishers' layouts: what `--light-weights` / `--heavy-weights` are given."""
    pytest.importorskip("pytorchvideo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pytorchvideo.models import hub
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    torch.save(tvm.mobilenet_v3_small(weights=None).state_dict(), root / "mobilenet_v3_small-047dcff4.pth")
    torch.save({"epoch": 196, "model_state": hub.x3d_xs(pretrained=False).state_dict()}, root / "X3D_XS.pyth")
    return {"light_weights": root / "mobilenet_v3_small-047dcff4.pth", "heavy_weights": root / "X3D_XS.pyth"}


def _given(weights: dict[str, Path], *roles: str) -> TrainConfig:
    """`FROZEN` with the weight files of ``roles`` (``light_weights``, ``heavy_weights``)."""
    files: dict[str, Any] = {role: str(weights[role]) for role in roles}
    return dataclasses.replace(FROZEN, **files)


def _states(trainer: Trainer) -> dict[str, dict[str, torch.Tensor]]:
    model = trainer.model
    return {role: {k: v.detach().clone() for k, v in getattr(model, role).state_dict().items()}
            for role in ("light", "heavy")}


def test_frozen_trunks_train_only_kernels_gate_and_head_and_resume(dataset: Dataset, weights: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    config = _given(weights, *weights)
    checkpoint, work, lines = tmp_path / "model.safetensors", tmp_path / "work", list[str]()
    trainer = Trainer(dataset, config, work, show_progress=False, log=lines.append)
    published = _states(trainer)  # as loaded from the files (exact loads: tests/models/test_pretrained.py)
    summary = trainer.run(checkpoint)

    after = _states(trainer)
    for role in ("light", "heavy"):  # every parameter and buffer (BatchNorm statistics too), bit for bit
        assert all(torch.equal(after[role][k], v) for k, v in published[role].items()), role
    model, _ = load_checkpoint(checkpoint)
    for role in ("light", "heavy"):
        saved = getattr(model, role).state_dict()
        assert all(torch.equal(saved[k], v) for k, v in published[role].items()), role
    assert (model.config.light_mean, model.config.light_std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert (model.config.heavy_mean, model.config.heavy_std) == (PYTORCHVIDEO_MEAN, PYTORCHVIDEO_STD)
    assert summary["pretrained"]["light"]["mean"] == list(IMAGENET_MEAN)

    # no light stage, no heavy backbone stage: the heavy classifier learned on the cached features
    assert not (work / "light.pt").exists() and not (work / "light_fc.pt").exists()
    assert "heavy" not in torch.load(work / "heavy.pt", weights_only=True)
    cached = [torch.load(p, weights_only=True) for p in (work / "features").glob("*.pt")]
    assert len(cached) == 6 and all(c["heavy_logits"].shape == (c["heavy"].shape[0], 2) for c in cached)
    assert set(summary["seconds"]) == {"frames", "features", "heavy", "gate", "total"}
    # the recipe is recorded: the work folder's, the training notes' and the model card's
    assert json.loads((work / "recipe.json").read_text())["freeze_trunks"] is True
    card = read_card(checkpoint).recipe
    assert summary["config"]["freeze_trunks"] is True and card is not None and card["freeze_trunks"] is True

    result = Recognizer(checkpoint, isolate=False).recognize(dataset.split("val")[0].path)
    assert result.labels and {label.label for label in result.labels} <= {"pour", "stir"}

    again: list[str] = []  # a second run on the finished work folder redoes nothing and writes the same model
    train(dataset, tmp_path / "again.safetensors", config, work=work, show_progress=False, log=again.append)
    assert any("heavy: classifier on the frozen backbone's features done earlier" in line for line in again)
    first, second = model.state_dict(), load_checkpoint(tmp_path / "again.safetensors")[0].state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize("given", [(), ("light_weights",), ("heavy_weights",)])
def test_frozen_trunks_without_both_weight_files_are_refused(dataset: Dataset, weights: dict[str, Path],
                                                             tmp_path: Path, given: tuple[str, ...]) -> None:
    config = _given(weights, *given)
    with pytest.raises(OptionsError, match=r"--freeze-trunks .* needs --light-weights and --heavy-weights") as info:
        Trainer(dataset, config, tmp_path / "work", show_progress=False, log=lambda line: None)
    missing = [f"--{k.replace('_', '-')}" for k in ("light_weights", "heavy_weights") if k not in given]
    assert info.value.message.count("missing: " + " and ".join(missing) + ")") == 1
    assert not (tmp_path / "work").exists()


def test_frozen_trunks_refuse_the_heavy_sequence_loss(dataset: Dataset, weights: dict[str, Path],
                                                     tmp_path: Path) -> None:
    config = dataclasses.replace(_given(weights, *weights), heavy_sequence_weight=1.0)
    with pytest.raises(OptionsError, match="--heavy-sequence-weight trains the heavy backbone"):
        Trainer(dataset, config, tmp_path / "work", show_progress=False, log=lambda line: None)
