"""Heavy 3D backbones behind one interface: ``forward_features(snippets) -> (B, F)``.

    snippets (B, 3, T, H, W) ──► 3D trunk ──► adaptive global pool ──► heavy features (B, F)

Each torchvision / pytorchvideo network is kept whole with its classifier removed and its fixed-size
pooling replaced by adaptive pooling, so any snippet length and crop size works and state-dict keys
still match the upstream weight files.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import torch
from torch import nn
from torchvision.models import video as tvv

from ._registry import Registry
from .extras import require

HEAVY_BACKBONES: Registry[HeavyBackbone] = Registry("heavy backbone")


class HeavyBackbone(nn.Module):
    """A 3D CNN that turns a snippet's frames into one feature vector.

    Args:
        net: a module mapping ``(B, 3, T, H, W)`` to features of ``num_features`` values per snippet
            (any trailing singleton dimensions are flattened away).
        num_features: the output width ``F``.
    """

    def __init__(self, net: nn.Module, num_features: int) -> None:
        super().__init__()
        self.net = net
        self.num_features = num_features

    def forward_features(self, snippets: torch.Tensor) -> torch.Tensor:
        return self.net(snippets).flatten(1)  # (B, F)

    def forward(self, snippets: torch.Tensor) -> torch.Tensor:
        return self.forward_features(snippets)


class _Tiny3d(nn.Module):
    """A small GroupNorm 3D CNN for tests and the synthetic benchmark (~0.1 GFLOPs per 8×112² snippet)."""

    def __init__(self, width: int = 16, num_features: int = 128) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: tuple[int, int, int]) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.GroupNorm(8, cout),
                nn.ReLU(inplace=True),
            )

        self.features = nn.Sequential(
            nn.Conv3d(3, width, (1, 5, 5), stride=(1, 2, 2), padding=(0, 2, 2), bias=False),
            nn.GroupNorm(8, width),
            nn.ReLU(inplace=True),
            block(width, width * 2, (1, 2, 2)),
            block(width * 2, width * 4, (2, 2, 2)),
            block(width * 4, num_features, (2, 2, 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, t, h, w)
        # Max next to mean: a small moving object must not vanish in the average over the snippet.
        return torch.cat([x.mean((2, 3, 4)), x.amax((2, 3, 4))], dim=1)  # (B, 2C)


def _torchvision_resnet3d(builder: type[nn.Module] | object) -> HeavyBackbone:
    net = builder(weights=None)  # type: ignore[operator]
    net.fc = nn.Identity()
    return HeavyBackbone(net, 512)


def _adaptive_head(head: nn.Module) -> None:
    """Make a pytorchvideo ResNetBasicHead size-agnostic and classifier-free."""
    pool = head.get_submodule("pool")
    if hasattr(pool, "pool"):  # X3D's ProjectedPool: conv → pool → conv
        pool.pool = nn.AdaptiveAvgPool3d(1)
    else:
        head.pool = nn.AdaptiveAvgPool3d(1)
    head.dropout = nn.Identity()
    head.proj = nn.Identity()


class _PytorchvideoTrunk(nn.Module):
    """pytorchvideo Net whose head ends at pooled features (B, F)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        blocks = net.get_submodule("blocks")
        assert isinstance(blocks, nn.ModuleList)
        _adaptive_head(blocks[-1])
        self.net = net
        self._blocks = list(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self._blocks[:-1]:
            x = block(x)
        return self._blocks[-1].get_submodule("pool")(x)  # (B, F, 1, 1, 1)


def _pytorchvideo(module: str, backbone: str) -> ModuleType:
    """A pytorchvideo model module (the ``pytorchvideo`` extra), imported when such a backbone is built."""
    with warnings.catch_warnings():  # pytorchvideo 0.1.5 calls the deprecated torch.jit.script at import
        warnings.simplefilter("ignore", FutureWarning)
        return require(f"pytorchvideo.models.{module}", extra="pytorchvideo", needed_for=f"heavy backbone {backbone!r}")


def _x3d(clip_length: int, crop_size: int, name: str) -> HeavyBackbone:
    x3d = _pytorchvideo("x3d", name)
    net = x3d.create_x3d(input_clip_length=clip_length, input_crop_size=crop_size, depth_factor=2.2)
    return HeavyBackbone(_PytorchvideoTrunk(net), 2048)


@HEAVY_BACKBONES.register("r3d_18")
def r3d_18() -> HeavyBackbone:
    return _torchvision_resnet3d(tvv.r3d_18)


@HEAVY_BACKBONES.register("mc3_18")
def mc3_18() -> HeavyBackbone:
    return _torchvision_resnet3d(tvv.mc3_18)


@HEAVY_BACKBONES.register("r2plus1d_18")
def r2plus1d_18() -> HeavyBackbone:
    return _torchvision_resnet3d(tvv.r2plus1d_18)


@HEAVY_BACKBONES.register("s3d")
def s3d() -> HeavyBackbone:
    net = tvv.s3d(weights=None)
    net.avgpool = nn.AdaptiveAvgPool3d(1)
    net.classifier = nn.Identity()
    return HeavyBackbone(net, 1024)


@HEAVY_BACKBONES.register("x3d_xs")
def x3d_xs() -> HeavyBackbone:
    return _x3d(4, 160, "x3d_xs")


@HEAVY_BACKBONES.register("x3d_s")
def x3d_s() -> HeavyBackbone:
    return _x3d(13, 160, "x3d_s")


@HEAVY_BACKBONES.register("x3d_m")
def x3d_m() -> HeavyBackbone:
    return _x3d(16, 224, "x3d_m")


@HEAVY_BACKBONES.register("slow_r50")
def slow_r50() -> HeavyBackbone:
    net = _pytorchvideo("resnet", "slow_r50").create_resnet(  # as pytorchvideo's hub builds it for its weights
        input_channel=3,
        model_depth=50,
        stem_conv_kernel_size=(1, 7, 7),
        model_num_class=400,
        dropout_rate=0.5,
        norm=nn.BatchNorm3d,
        activation=nn.ReLU,
        head_pool_kernel_size=(8, 7, 7),
    )
    return HeavyBackbone(_PytorchvideoTrunk(net), 2048)


@HEAVY_BACKBONES.register("tiny3d")
def tiny3d() -> HeavyBackbone:
    return HeavyBackbone(_Tiny3d(), 256)


def build_heavy_backbone(name: str) -> HeavyBackbone:
    """Build a registered heavy backbone with random weights (raises on unknown names)."""
    return HEAVY_BACKBONES.build(name)
