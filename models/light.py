"""Light encoder: a cheap 2D trunk that sees only the centre frame of each snippet.

    frames (N, 3, H, W) ──► trunk ──► global average pool ──► light features (N, D)

The torchvision trunks are kept whole (classifier replaced by identity) so that their state-dict
keys match torchvision's, which lets `models.checkpoint.load_pretrained` read weight files a user
downloaded elsewhere.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision import models as tvm

from ._registry import Registry

LIGHT_ENCODERS: Registry[LightEncoder] = Registry("light encoder")


class LightEncoder(nn.Module):
    """Encodes frames into one feature vector each.

    Args:
        trunk: a module mapping ``(N, 3, H, W)`` to ``(N, num_features)``.
        num_features: the output width ``D``.
    """

    def __init__(self, trunk: nn.Module, num_features: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.num_features = num_features

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.trunk(frames)  # (N, D)


class _Tiny2d(nn.Module):
    """A small GroupNorm CNN: trains from scratch on CPU and is safe with one-video batches."""

    def __init__(self, width: int = 16, num_features: int = 128) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                nn.GroupNorm(8, cout),
                nn.ReLU(inplace=True),
            )

        self.features = nn.Sequential(
            block(3, width), block(width, width * 2), block(width * 2, width * 4), block(width * 4, num_features)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, C, h, w)
        # Max next to mean: a small object must not vanish in the average over a mostly empty frame.
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], dim=1)  # (N, 2C)


def _without_classifier(model: nn.Module, attribute: str) -> nn.Module:
    setattr(model, attribute, nn.Identity())
    return model


@LIGHT_ENCODERS.register("mobilenet_v3_small")
def mobilenet_v3_small() -> LightEncoder:
    return LightEncoder(_without_classifier(tvm.mobilenet_v3_small(weights=None), "classifier"), 576)


@LIGHT_ENCODERS.register("mobilenet_v3_large")
def mobilenet_v3_large() -> LightEncoder:
    return LightEncoder(_without_classifier(tvm.mobilenet_v3_large(weights=None), "classifier"), 960)


@LIGHT_ENCODERS.register("resnet18")
def resnet18() -> LightEncoder:
    return LightEncoder(_without_classifier(tvm.resnet18(weights=None), "fc"), 512)


@LIGHT_ENCODERS.register("tiny2d")
def tiny2d() -> LightEncoder:
    return LightEncoder(_Tiny2d(), 256)


def build_light_encoder(name: str) -> LightEncoder:
    """Build a registered light encoder with random weights (raises on unknown names)."""
    return LIGHT_ENCODERS.build(name)
