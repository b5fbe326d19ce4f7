"""Concept kernels: K prototype vectors summarising the data set's core concepts.

A snippet's concept activations are the similarities of its light feature to every kernel. The
kernels are initialised from k-means centres over cached light features (computed by the training
pipeline) or randomly, and may stay trainable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConceptKernels(nn.Module):
    """Similarity of light features to ``K`` concept kernels.

    Similarity is the dot product of L2-normalised vectors (cosine), times a learned scale, so its
    range does not depend on the light encoder's feature magnitude.

    Args:
        num_kernels: ``K``.
        dim: light feature width ``D``.
        centres: optional ``(K, D)`` initial kernels (e.g. k-means centres).
        trainable: whether the kernels keep learning after initialisation.
    """

    def __init__(
        self, num_kernels: int, dim: int, *, centres: torch.Tensor | None = None, trainable: bool = True
    ) -> None:
        super().__init__()
        if centres is None:
            centres = torch.randn(num_kernels, dim) / dim**0.5
        if centres.shape != (num_kernels, dim):
            raise ValueError(f"centres must have shape {(num_kernels, dim)}, got {tuple(centres.shape)}")
        self.kernels = nn.Parameter(centres.clone().float(), requires_grad=trainable)  # (K, D)
        self.scale = nn.Parameter(torch.tensor(5.0))

    @property
    def num_kernels(self) -> int:
        return self.kernels.shape[0]

    @torch.no_grad()
    def initialise(self, centres: torch.Tensor) -> None:
        """Replace the kernels with given centres ``(K, D)``."""
        if centres.shape != self.kernels.shape:
            raise ValueError(f"centres must have shape {tuple(self.kernels.shape)}, got {tuple(centres.shape)}")
        self.kernels.copy_(centres)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        f = F.normalize(features, dim=-1)  # (..., D)
        k = F.normalize(self.kernels, dim=-1)  # (K, D)
        return self.scale * f @ k.T  # (..., K)
