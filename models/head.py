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

    def _parts(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Each snippet's share of the pooled vector ``[mean, max]``: ``(B, T, 2F)``, summing to it over T."""
        m = mask.to(features.dtype).unsqueeze(-1)  # (B, T, 1)
        mean = features * m / m.sum(1, keepdim=True).clamp_min(1.0)  # (B, T, F)
        masked = features.masked_fill(m <= 0.5, torch.finfo(features.dtype).min)
        holder = torch.zeros_like(features).scatter_(1, masked.argmax(1, keepdim=True), 1.0)  # (B, T, F)
        holder = holder * (m.sum(1, keepdim=True) > 0.5)  # an empty selection has no max
        return torch.cat([mean, features * holder], dim=-1)  # (B, T, 2F)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = self._parts(features, mask).sum(1)  # (B, 2F)
        return self.fc(self.dropout(self.norm(pooled)))  # (B, C)

    def evidence(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Each snippet's contribution to every logit ``(B, T, C)``, 0 for unselected snippets.

        Exact: with the video's own LayerNorm scale (one number per video) the head is linear in the
        pooled vector, and the pooled vector is the sum of the snippets' shares (``_parts``), so
        ``forward(f, mask) == forward(f, 0 · mask) + evidence(f, mask).sum(1)`` (in eval mode).
        """
        parts = self._parts(features, mask)  # (B, T, 2F)
        pooled = parts.sum(1)  # (B, 2F)
        scale = (pooled.var(-1, unbiased=False) + self.norm.eps).rsqrt()  # (B,)
        centred = parts - parts.mean(-1, keepdim=True)  # LayerNorm's centring is linear: apply it per share
        normed = centred * scale[:, None, None] * self.norm.weight  # (B, T, 2F)
        return normed @ self.fc.weight.T  # (B, T, C)

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Scores in [0, 1]: per-class sigmoid for multi-label, softmax otherwise."""
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
