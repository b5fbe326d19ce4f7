"""Pretrained trunks load exactly or not at all: every registered backbone from the file its publisher ships.

The files are state dicts of the publishers' own architectures (torchvision's builders with ``weights=None``,
pytorchvideo's hub builders with ``pretrained=False``), random values but exactly the publishers' keys and
nesting, saved as they save them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import video as tvv

from models import (
    HEAVY_BACKBONES,
    LIGHT_ENCODERS,
    CheckpointError,
    ModelConfig,
    VidGate,
    WeightsMismatch,
    build_heavy_backbone,
    build_light_encoder,
    load_pretrained,
    save_checkpoint,
)
from models.checkpoint import PARTIAL_MINIMUM
from models.published import PUBLISHED, published_table

ROOT = Path(__file__).resolve().parents[2]
Layout = Callable[[dict[str, torch.Tensor], Path], Path]


def _trunk(name: str) -> nn.Module:
    return build_light_encoder(name).trunk if name in LIGHT_ENCODERS else build_heavy_backbone(name).net


def _publishers_network(name: str) -> nn.Module:
    """The network as its publisher builds it, random weights, nothing downloaded."""
    torch.manual_seed(1)
    publisher = PUBLISHED[name].publisher
    if publisher == "torchvision":
        return getattr(tvm if name in LIGHT_ENCODERS else tvv, name)(weights=None)
    if publisher == "pytorchvideo":
        pytest.importorskip("pytorchvideo")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            from pytorchvideo.models import hub
        return getattr(hub, name)(pretrained=False)
    config = ModelConfig(classes=("a", "b"), light=name if name in LIGHT_ENCODERS else "tiny2d",
                         heavy=name if name in HEAVY_BACKBONES else "tiny3d", num_kernels=4)
    return VidGate(config)


def _plain(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(state, path.with_suffix(".pth"))
    return path.with_suffix(".pth")


def _data_parallel(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save({f"module.{k}": v for k, v in state.items()}, path.with_suffix(".pth"))
    return path.with_suffix(".pth")


def _pyth(state: dict[str, torch.Tensor], path: Path) -> Path:
    """pytorchvideo's model zoo file: the state dict under ``model_state`` beside the training's bookkeeping."""
    torch.save({"epoch": 196, "model_state": state, "cfg": "MODEL:\n  ARCH: x3d\n"}, path.with_suffix(".pyth"))
    return path.with_suffix(".pyth")


def _wrapped(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path.with_suffix(".pt"))
    return path.with_suffix(".pt")


# Each publisher's own layout first, then the ones users make of it (DataParallel's prefix, a training loop's dict).
LAYOUTS: dict[str, tuple[Layout, ...]] = {"torchvision": (_plain, _data_parallel, _wrapped),
                                          "pytorchvideo": (_pyth, _plain, _data_parallel)}
BACKBONES = [*LIGHT_ENCODERS.names(), *HEAVY_BACKBONES.names()]


def test_every_registered_backbone_says_what_its_publisher_ships() -> None:
    assert sorted(PUBLISHED) == sorted(BACKBONES)
    assert published_table() in (ROOT / "docs" / "models.md").read_text(), "python -m models.published, into models.md"


def _assert_exact(name: str, path: Path, state: dict[str, torch.Tensor], head: list[str]) -> None:
    """``path`` loads into a fresh trunk of ``name`` exactly: every trunk tensor the file's, only ``head`` dropped."""
    prefix = PUBLISHED[name].prefix
    trunk = _trunk(name)
    report = load_pretrained(trunk, path, backbone=name)
    assert report.exact and report.loaded == report.trunk == len(trunk.state_dict()), report.summary()
    assert f"loaded all {report.trunk} trunk tensors" in report.summary()
    got = trunk.state_dict()
    for key, value in state.items():
        if key not in head:
            assert torch.equal(got[prefix + key if prefix + key in got else key], value), key
    if PUBLISHED[name].publisher != "vidgate":
        assert sorted(report.dropped) == head


@pytest.mark.parametrize("name", BACKBONES)
def test_a_published_file_loads_exactly_into_its_backbone(name: str, tmp_path: Path) -> None:
    source = _publishers_network(name)
    published = PUBLISHED[name]
    if published.publisher == "vidgate":
        assert isinstance(source, VidGate)
        role = "light.trunk." if name in LIGHT_ENCODERS else "heavy.net."
        state = {k.removeprefix(role): v for k, v in source.state_dict().items() if k.startswith(role)}
        _assert_exact(name, save_checkpoint(source, tmp_path / "model.safetensors"), state, [])
        return
    state = source.state_dict()
    head = sorted(k for k in state if k.startswith(published.head))
    assert head, f"{name}: the publisher's classifier keys {published.head} are not in its network"
    _assert_exact(name, LAYOUTS[published.publisher][0](state, tmp_path / name), state, head)


@pytest.mark.parametrize(("name", "layout"), [(name, layout) for name in ("mobilenet_v3_small", "x3d_xs")
                                              for layout in LAYOUTS[PUBLISHED[name].publisher][1:]],
                         ids=lambda v: getattr(v, "__name__", v))
def test_the_layouts_users_make_of_a_published_file_load_exactly(name: str, layout: Layout, tmp_path: Path) -> None:
    state = _publishers_network(name).state_dict()
    _assert_exact(name, layout(state, tmp_path / name), state,
                  sorted(k for k in state if k.startswith(PUBLISHED[name].head)))


def test_a_file_without_batchnorm_counters_loads_exactly(tmp_path: Path) -> None:
    """Older torchvision files lack ``num_batches_tracked``; torch starts those counters at 0, and so does vidgate."""
    state = {k: v for k, v in tvm.resnet18(weights=None).state_dict().items() if not k.endswith("num_batches_tracked")}
    trunk = _trunk("resnet18")
    report = load_pretrained(trunk, _plain(state, tmp_path / "old"), backbone="resnet18")
    assert report.exact and report.loaded == report.trunk
    assert int(trunk.state_dict()["bn1.num_batches_tracked"]) == 0


@pytest.mark.parametrize(("source", "target"), [("mobilenet_v3_large", "mobilenet_v3_small"),
                                                ("r3d_18", "r2plus1d_18")])
def test_weights_of_another_architecture_are_refused_naming_the_unmatched_keys(
        source: str, target: str, tmp_path: Path) -> None:
    loaded = _publishers_network(source).state_dict()
    path = _plain(loaded, tmp_path / source)
    trunk = _trunk(target)
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    with pytest.raises(WeightsMismatch) as info:
        load_pretrained(trunk, path, backbone=target)
    report = info.value.load
    assert 0 < report.loaded < PARTIAL_MINIMUM * report.trunk and report.trunk == len(before)
    message = str(info.value)
    assert f"{report.loaded} of its {report.trunk} tensors match" in message
    assert f"{len(report.unmatched)} key(s) of the file fit nothing: {report.unmatched[0]}" in message
    assert f"{len(report.missing)} trunk tensor(s) are not in the file: {report.missing[0]}" in message
    assert "allow_partial" in message and PUBLISHED[target].files[0] in message
    assert all(torch.equal(before[k], v) for k, v in trunk.state_dict().items()), "a refused load changes nothing"

    partial = load_pretrained(trunk, path, backbone=target, allow_partial=True)
    assert partial.loaded == report.loaded and not partial.exact
    assert f"loaded {partial.loaded} of {partial.trunk} trunk tensors" in partial.summary()
    assert f"{len(partial.missing)} trunk tensor(s) not in the file keep their initial values" in partial.summary()
    got = trunk.state_dict()
    assert sum(not torch.equal(got[k], before[k]) for k in got if not k.endswith("num_batches_tracked")) > 0
    for key in partial.missing:
        assert torch.equal(got[key], before[key])
    assert all(torch.equal(got[k], loaded[k]) for k in got if k not in partial.missing)


def test_a_file_that_fits_nothing_is_refused_even_when_partial_loads_are_allowed(tmp_path: Path) -> None:
    path = _plain({"unrelated.weight": torch.zeros(3)}, tmp_path / "other")
    with pytest.raises(WeightsMismatch, match=r"0 of its \d+ tensors match.*unrelated\.weight \(not in the trunk\)"):
        load_pretrained(_trunk("tiny3d"), path, backbone="tiny3d", allow_partial=True)


def test_files_that_are_not_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pretrained(_trunk("tiny2d"), tmp_path / "absent.pth", backbone="tiny2d")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file" * 20)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_pretrained(_trunk("tiny2d"), tmp_path / "junk.pth", backbone="tiny2d")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "numbers.pth")
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_pretrained(_trunk("tiny2d"), tmp_path / "numbers.pth", backbone="tiny2d")


def test_a_vidgate_checkpoint_gives_the_trunk_of_the_role_asked_for(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = VidGate(ModelConfig(classes=("a", "b"), light="tiny2d", heavy="tiny3d", num_kernels=4))
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    heavy = _trunk("tiny3d")
    report = load_pretrained(heavy, path, backbone="tiny3d")
    assert report.exact and report.layout == "vidgate checkpoint, its heavy.net"
    assert report.dropped and all(not k.startswith("heavy.net.") for k in report.dropped)
    assert all(torch.equal(v, model.heavy.net.state_dict()[k]) for k, v in heavy.state_dict().items())
