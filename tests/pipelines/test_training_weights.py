"""Pretrained trunks in a training run: loaded and logged when the run is set up, a wrong file refused before the
work folder is touched, a partial load only when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import models as tvm

from pipelines.datasets import Dataset, load_dataset
from pipelines.errors import ModelError
from pipelines.training import TrainConfig, Trainer

from ..helpers import write_test_video


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("data")
    write_test_video(root / "a.mp4", frames=16)
    (root / "annotations.csv").write_text("video,label,split\na.mp4,pour,train\n")
    return load_dataset(root)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    torch.save(tvm.mobilenet_v3_small(weights=None).state_dict(), root / "small.pth")
    torch.save(tvm.mobilenet_v3_large(weights=None).state_dict(), root / "large.pth")
    return {"small": root / "small.pth", "large": root / "large.pth"}


def _trainer(dataset: Dataset, work: Path, lines: list[str], **recipe: object) -> Trainer:
    config = TrainConfig(light="mobilenet_v3_small", heavy="tiny3d", **recipe)  # type: ignore[arg-type]
    return Trainer(dataset, config, work, show_progress=False, log=lines.append)


def test_an_exact_load_is_logged_and_kept_for_the_summary(dataset: Dataset, weights: dict[str, Path],
                                                          tmp_path: Path) -> None:
    lines: list[str] = []
    trainer = _trainer(dataset, tmp_path / "work", lines, light_weights=str(weights["small"]))
    assert trainer.pretrained == {"light": {"file": str(weights["small"]), "backbone": "mobilenet_v3_small",
                                            "layout": "state dict", "loaded": 240, "trunk": 240, "exact": True,
                                            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
    assert any(line.startswith("light pretrained: mobilenet_v3_small: loaded all 240 trunk tensors") for line in lines)
    assert any(line.endswith("input normalised with mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)")
               for line in lines)  # ImageNet's: the publisher's, recorded in the model's config
    assert trainer.model.config.light_mean == (0.485, 0.456, 0.406)
    assert trainer.model.config.heavy_mean == (0.45, 0.45, 0.45)  # tiny3d from scratch: vidgate's own
    expected = torch.load(weights["small"], weights_only=True)
    got = trainer.model.light.trunk.state_dict()
    assert all(torch.equal(got[k], expected[k]) for k in got)


def test_a_file_of_another_architecture_stops_the_run_before_the_work_folder(
        dataset: Dataset, weights: dict[str, Path], tmp_path: Path) -> None:
    work = tmp_path / "work"
    with pytest.raises(ModelError) as info:
        _trainer(dataset, work, [], light_weights=str(weights["large"]))
    assert info.value.code == "bad_weights"
    message = info.value.message
    assert message.startswith("--light-weights: weight file") and "59 of its 240 tensors match" in message
    assert "key(s) of the file fit nothing: features.1.block.1.0.weight (not in the trunk)" in message
    assert message.endswith("(--allow-partial-weights)")
    assert not work.exists()  # the corrected run starts afresh: no recipe left behind to disagree with

    lines: list[str] = []
    trainer = _trainer(dataset, work, lines, light_weights=str(weights["large"]), allow_partial_weights=True)
    assert trainer.pretrained["light"]["loaded"] == 59 and not trainer.pretrained["light"]["exact"]
    assert any("loaded 59 of 240 trunk tensors (25%)" in line and "keep their initial values" in line
               for line in lines)


def test_a_missing_file_is_bad_weights(dataset: Dataset, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"--heavy-weights: weight file .* does not exist") as info:
        _trainer(dataset, tmp_path / "work", [], heavy_weights=str(tmp_path / "absent.pth"))
    assert info.value.code == "bad_weights"


def test_a_vidgate_checkpoints_trunk_keeps_that_checkpoints_normalisation(dataset: Dataset, tmp_path: Path) -> None:
    """A trunk taken from a vidgate checkpoint learned on inputs normalised as that checkpoint's config says."""
    from models import ModelConfig, VidGate, save_checkpoint

    source = ModelConfig(classes=("a", "b"), light="mobilenet_v3_small", heavy_mean=(0.5, 0.4, 0.3),
                         heavy_std=(0.3, 0.2, 0.1), num_kernels=4)
    path = save_checkpoint(VidGate(source), tmp_path / "earlier.safetensors")
    lines: list[str] = []
    trainer = _trainer(dataset, tmp_path / "work", lines, heavy_weights=str(path))
    assert (trainer.model.config.heavy_mean, trainer.model.config.heavy_std) == ((0.5, 0.4, 0.3), (0.3, 0.2, 0.1))
    assert trainer.pretrained["heavy"]["layout"].startswith("vidgate checkpoint")
