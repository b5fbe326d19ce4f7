from pathlib import Path

import pytest
import torch

from models import CheckpointError, ModelConfig, VidGate, load_checkpoint, load_pretrained, save_checkpoint


def _model(**overrides: object) -> VidGate:
    torch.manual_seed(0)
    config = ModelConfig(classes=("pour", "stir"), light="tiny2d", heavy="tiny3d", num_kernels=4, **overrides)  # type: ignore[arg-type]
    return VidGate(config).eval()


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model = _model(threshold=0.4, snippet_frames=4)
    path = save_checkpoint(model, tmp_path / "m.safetensors", extra={"note": "test"})
    loaded, extra = load_checkpoint(path)
    assert loaded.config == model.config and extra == {"note": "test"}
    frames = torch.randn(5, 3, 32, 32)
    clips = torch.randn(5, 3, 4, 32, 32)
    for a, b in zip(_outputs(model, frames, clips), _outputs(loaded, frames, clips), strict=True):
        assert torch.equal(a, b)


@torch.no_grad()
def _outputs(model: VidGate, frames: torch.Tensor, clips: torch.Tensor) -> tuple[torch.Tensor, ...]:
    features = model.encode_frames(frames).unsqueeze(0)  # (1, T, D)
    gate = model.select(features)
    logits = model.classify(model.encode_snippets(clips).unsqueeze(0), gate.mask)
    return features, gate.gate_scores, logits


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = save_checkpoint(_model(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_garbage_and_missing_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(junk)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_mismatched_weights_name_the_problem(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(_model(), tmp_path / "m.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    tensors["head.fc.weight"] = torch.zeros(7, 3)
    del tensors["gate.score.2.bias"]
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match=r"missing.*gate\.score\.2\.bias.*wrong shape.*head\.fc\.weight"):
        load_checkpoint(path)


def test_pretrained_weights_from_local_file(tmp_path: Path) -> None:
    source = _model()
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in source.heavy.net.state_dict().items()}}, tmp_path / "heavy.pth"
    )
    target = VidGate(ModelConfig(classes=("x",), light="tiny2d", heavy="tiny3d", num_kernels=4))
    report = load_pretrained(target.heavy.net, tmp_path / "heavy.pth")
    assert report["loaded"] and not report["missing"]
    for k, v in source.heavy.net.state_dict().items():
        assert torch.equal(target.heavy.net.state_dict()[k], v)
    torch.save({"unrelated.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="no tensor"):
        load_pretrained(target.heavy.net, tmp_path / "other.pth")
