"""Head: pools heavy features over the selected snippets only and predicts activity labels."""

from __future__ import annotations

import torch
from torch import nn


class PoolHead(nn.Module):
    """Masked mean and max over selected snippets → linear → logits.

    The mean carries the gate's straight-through gradient (it is weighted by the mask); the max is
    taken over selected snippets only.

    Args:
        num_features: heavy feature width ``F``.
        num_classes: number of activity classes ``C``.
        multi_label: sigmoid per class (True) or softmax over classes (False).
        dropout: dropout before the classifier.
    """

    def __init__(self, num_features: int, num_classes: int, *, multi_label: bool = False, dropout: float = 0.2):
        super().__init__()
        self.multi_label = multi_label
        self.norm = nn.LayerNorm(2 * num_features)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * num_features, num_classes)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.to(features.dtype).unsqueeze(-1)  # (B, T, 1)
        mean = (features * m).sum(1) / m.sum(1).clamp_min(1.0)  # (B, F)
        masked = features.masked_fill(m <= 0.5, torch.finfo(features.dtype).min)
        top = masked.max(1).values  # (B, F)
        top = torch.where(m.sum(1) > 0.5, top, torch.zeros_like(top))
        return self.fc(self.dropout(self.norm(torch.cat([mean, top], dim=-1))))  # (B, C)

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Scores in [0, 1]: per-class sigmoid for multi-label, softmax otherwise."""
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
