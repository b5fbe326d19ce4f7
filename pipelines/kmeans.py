"""k-means for concept kernel initialisation (k-means++ seeding, Lloyd iterations, cosine geometry)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kmeans(points: torch.Tensor, k: int, *, iterations: int = 50, seed: int = 0) -> torch.Tensor:
    """Cluster L2-normalised ``points (N, D)`` into ``k`` centres ``(k, D)`` (unit length).

    With fewer distinct points than ``k``, the remaining centres are random points plus small noise.
    """
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(points.float(), dim=1)  # (N, D)
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=g))
    centres = [x[first]]
    distance = (1 - x @ x[first]).clamp_min(0)  # (N,)
    for _ in range(1, k):
        if float(distance.sum()) <= 1e-12:
            idx = int(torch.randint(n, (1,), generator=g))
        else:
            idx = int(torch.multinomial(distance, 1, generator=g))
        centres.append(x[idx])
        distance = torch.minimum(distance, (1 - x @ x[idx]).clamp_min(0))
    c = torch.stack(centres)  # (k, D)
    c = F.normalize(c + 1e-3 * torch.randn(c.shape, generator=g), dim=1)
    for _ in range(iterations):
        assign = (x @ c.T).argmax(1)  # (N,)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        updated = torch.where(counts > 0, sums / counts.clamp_min(1), c)
        updated = F.normalize(updated, dim=1)
        if torch.allclose(updated, c, atol=1e-5):
            break
        c = updated
    return c
