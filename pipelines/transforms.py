"""Frames (uint8 HWC arrays or tensors) to normalised model inputs, and training augmentation.

The same functions serve training and inference, on whatever device the frames are: the recognizer's
device loop hands them ``uint8`` tensors already on the model's device, so the float conversion, resize
and normalisation run there (a quarter of the bytes cross the bus); training hands them host arrays and
computes on the CPU, as it always has (the same operations in the same order: the same numbers).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from models import ModelConfig


def to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(..., H, W, 3) uint8`` → ``(..., 3, H, W) float`` in [0, 1], on the frames' device: a new tensor, its
    memory in the frames' order (channels last), which the networks' convolutions run fastest on."""
    if isinstance(frames, np.ndarray):  # read as it is: the float copy below is the one copy
        contiguous = np.ascontiguousarray(frames)
        frames = torch.from_numpy(contiguous if contiguous.flags.writeable else contiguous.copy())
    return frames.movedim(-1, -3).to(torch.float32, copy=True).div_(255.0)  # a copy even of float frames


@lru_cache(maxsize=16)
def _statistics(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The mean and std as ``(3, 1, 1)`` tensors on ``device``, made once: a fresh host-to-device copy per call
    would wait for the device's queue (pageable memory)."""
    return (torch.tensor(mean, device=device).view(3, 1, 1), torch.tensor(std, device=device).view(3, 1, 1))


def normalise_(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Normalise ``(..., 3, H, W)`` floats in [0, 1] with a network's per-channel ``mean`` and ``std`` (each network
    its own: its weights' publisher's, `ModelConfig.light_mean` / ``heavy_mean``), in place (torch's trailing ``_``):
    ``x`` is the caller's own new tensor (`to_tensor`'s), and no new tensor is made."""
    m, s = _statistics(tuple(mean), tuple(std), x.device)
    return x.sub_(m).div_(s)


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(N, 3, H, W)`` to ``size × size`` (inputs are already centre-cropped squares)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def light_input(frames: np.ndarray | torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Centre frames ``(N, H, W, 3) uint8`` → light encoder input ``(N, 3, S, S)``."""
    return normalise_(resize_square(to_tensor(frames), config.light_size), config.light_mean, config.light_std)


def heavy_input(frames: np.ndarray | torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Snippet frames ``(S, L, H, W, 3) uint8`` → heavy backbone input ``(S, 3, L, S', S')``."""
    x = to_tensor(frames)  # (S, L, 3, H, W)
    s, length = x.shape[:2]
    x = resize_square(x.flatten(0, 1), config.heavy_size)
    x = x.reshape(s, length, *x.shape[1:])  # (S, L, 3, S', S')
    return normalise_(x, config.heavy_mean, config.heavy_std).transpose(1, 2)  # (S, 3, L, H, W)


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
