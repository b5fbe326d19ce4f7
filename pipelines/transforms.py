"""Frames (uint8 HWC arrays from the decoders) to normalised model inputs, and training augmentation."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models import ModelConfig


def to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(..., H, W, 3) uint8`` → ``(..., 3, H, W) float`` in [0, 1]."""
    t = torch.as_tensor(np.array(frames, copy=True)) if isinstance(frames, np.ndarray) else frames
    return t.movedim(-1, -3).float().div_(255.0)


def normalise(x: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Normalise ``(..., 3, H, W)`` floats in [0, 1] with the model's mean and std."""
    mean = torch.tensor(config.mean, device=x.device).view(3, 1, 1)
    std = torch.tensor(config.std, device=x.device).view(3, 1, 1)
    return (x - mean) / std


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(N, 3, H, W)`` to ``size × size`` (inputs are already centre-cropped squares)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def light_input(frames: np.ndarray | torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Centre frames ``(N, H, W, 3) uint8`` → light encoder input ``(N, 3, S, S)``."""
    return normalise(resize_square(to_tensor(frames), config.light_size), config)


def heavy_input(frames: np.ndarray | torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Snippet frames ``(S, L, H, W, 3) uint8`` → heavy backbone input ``(S, 3, L, S', S')``."""
    x = to_tensor(frames)  # (S, L, 3, H, W)
    s, length = x.shape[:2]
    x = resize_square(x.flatten(0, 1), config.heavy_size)
    x = x.reshape(s, length, *x.shape[1:])  # (S, L, 3, S', S')
    return normalise(x, config).transpose(1, 2)  # (S, 3, L, H, W)


def augment(x: torch.Tensor, generator: torch.Generator, *, max_shift: float = 0.1) -> torch.Tensor:
    """Per-sample random translation crop and brightness/contrast jitter; no flips.

    Horizontal flips are left out on purpose: motion direction can define a class.
    Works on ``(N, 3, H, W)`` or ``(N, 3, L, H, W)`` (the same jitter for every frame of a snippet).
    """
    n = x.shape[0]
    h, w = x.shape[-2:]
    pad_h, pad_w = int(h * max_shift), int(w * max_shift)
    padded = F.pad(x.flatten(1, -3), (pad_w, pad_w, pad_h, pad_h), mode="replicate").view(
        *x.shape[:-2], h + 2 * pad_h, w + 2 * pad_w
    )
    out = torch.empty_like(x)
    dy = torch.randint(0, 2 * pad_h + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad_w + 1, (n,), generator=generator)
    for i in range(n):
        out[i] = padded[i, ..., dy[i] : dy[i] + h, dx[i] : dx[i] + w]
    shape = (n,) + (1,) * (x.dim() - 1)
    contrast = 1 + (torch.rand(shape, generator=generator) - 0.5) * 0.4
    brightness = (torch.rand(shape, generator=generator) - 0.5) * 0.4
    return out * contrast + brightness
