"""Heads: read the heavy features of the selected snippets and predict activity labels.

Every head has the same interface (``times`` are the snippets' centre times as a fraction of the
video's duration, in [0, 1]; ``mask`` is 1 for selected snippets and may carry the gate's
straight-through gradient)::

    forward(features (B, T, F), mask (B, T), times (B, T))  -> logits (B, C)
    evidence(features (B, T, F), mask (B, T), times (B, T)) -> per-snippet contribution to every logit (B, T, C)

``evidence`` splits the logits into one term per snippet (0 for unselected snippets) on top of the
logits of an empty selection: ``logits = forward(features, 0 · mask, times) + evidence.sum(1)``.
The pool head's split is exact (a linear decomposition); the temporal head's is integrated gradients
with respect to the selection mask, whose sum matches up to a small quadrature error. docs/models.md
says what each head's terms mean.

    pool:      masked mean + max over selected snippets → LayerNorm → linear (order-blind); with
               ``pooling="attention"`` the mean is weighted by a learned relevance of each snippet
    temporal:  the pool head's logits (the bag of selected snippets) + a sequence path that corrects
               them: features + time encoding → self-attention among selected snippets (heads that
               look back, ahead, and everywhere, with a learned bias in the time gap) → learned
               queries pool the selected snippets → linear; plus (``events`` > 0) an events path:
               each selected snippet is soft-assigned to one of a few learned events or to none →
               how often each event happens, and for every two events which comes first → linear
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

POOLINGS = ("mean", "attention")  # how the pool head (and the temporal head's bag) averages the selection


class Head(nn.Module):
    """The interface every head implements (see the module docstring)."""

    multi_label: bool

    def forward(self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def evidence(self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Scores in [0, 1]: per-class sigmoid for multi-label, softmax otherwise."""
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)


class PoolHead(Head):
    """Masked mean and max over selected snippets → LayerNorm → linear → logits.

    The mean carries the gate's straight-through gradient (it is weighted by the mask); the max is
    taken over selected snippets only. It cannot tell "A then B" from "B then A".

    ``pooling`` ``"mean"`` weighs every selected snippet alike. ``"attention"`` weighs each by a
    learned relevance of its own feature (a softmax over the selected snippets plus a "nothing" slot,
    so a selection of only irrelevant snippets pools to little). With a plain mean, the few snippets
    that show the activity are averaged with every other one selected, so a large selection reads
    worse than a small one; the relevance weights keep what the head reads about the same whatever
    the selection's size (docs/models.md).

    Args:
        num_features: heavy feature width ``F``.
        num_classes: number of activity classes ``C``.
        multi_label: sigmoid per class (True) or softmax over classes (False).
        dropout: dropout before the classifier.
        pooling: ``"mean"`` or ``"attention"`` (see above).
    """

    def __init__(
        self, num_features: int, num_classes: int, *, multi_label: bool = False, dropout: float = 0.2,
        pooling: str = "mean",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; known: {', '.join(POOLINGS)}")
        self.multi_label = multi_label
        self.pooling = pooling
        self.norm = nn.LayerNorm(2 * num_features)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * num_features, num_classes)
        if pooling == "attention":
            self.relevance = nn.Sequential(nn.LayerNorm(num_features), nn.Linear(num_features, 1))
            self.sink = nn.Parameter(torch.zeros(1))

    def _weights(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Each snippet's weight in the mean ``(B, T, 1)``: 0 unless selected."""
        m = mask.to(features.dtype)  # (B, T)
        if self.pooling == "attention":
            return _attention_weights(self.relevance(features).squeeze(-1), m, self.sink).unsqueeze(-1)
        return (m / m.sum(1, keepdim=True).clamp_min(1.0)).unsqueeze(-1)

    def _parts(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Each snippet's share of the pooled vector ``[mean, max]``: ``(B, T, 2F)``, summing to it over T."""
        m = mask.to(features.dtype).unsqueeze(-1)  # (B, T, 1)
        mean = features * self._weights(features, mask)  # (B, T, F)
        masked = features.masked_fill(m <= 0.5, torch.finfo(features.dtype).min)
        holder = torch.zeros_like(features).scatter_(1, masked.argmax(1, keepdim=True), 1.0)  # (B, T, F)
        holder = holder * (m.sum(1, keepdim=True) > 0.5)  # an empty selection has no max
        return torch.cat([mean, features * holder], dim=-1)  # (B, T, 2F)

    def forward(self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        pooled = self._parts(features, mask).sum(1)  # (B, 2F)
        return self.fc(self.dropout(self.norm(pooled)))  # (B, C)

    def evidence(self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """Exact: with the video's own LayerNorm scale (one number per video) the head is linear in the
        pooled vector, and the pooled vector is the sum of the snippets' shares (``_parts``; with
        attention pooling a share is the snippet's relevance weight times its feature)."""
        parts = self._parts(features, mask)  # (B, T, 2F)
        pooled = parts.sum(1)  # (B, 2F)
        scale = (pooled.var(-1, unbiased=False) + self.norm.eps).rsqrt()  # (B,)
        centred = parts - parts.mean(-1, keepdim=True)  # LayerNorm's centring is linear: apply it per share
        normed = centred * scale[:, None, None] * self.norm.weight  # (B, T, 2F)
        return normed @ self.fc.weight.T  # (B, T, C)


def _attention_weights(scores: torch.Tensor, allowed: torch.Tensor, sink: torch.Tensor) -> torch.Tensor:
    """Softmax over the allowed keys plus a "nothing" slot whose value is zero.

    ``allowed`` (0/1, or the straight-through mask) multiplies each key's weight, so the gradient reaches
    the gate; the sink lets a query find nothing (one selected snippet, or none) and keeps a repeated
    event from being averaged away: three occurrences weigh more against the sink than one.
    """
    # Shift by the largest allowed score or the sink (not by every key's: a key left out may score far
    # above the rest, and then every allowed term and the sink underflow to 0 and the weights are 0/0),
    # so one term of the denominator is exp(0). A key left out may score above the shift: its exponent is
    # capped at 0 (no overflow). Its term is 0 either way, but its gradient with respect to ``allowed``
    # (what selecting it would do, the straight-through signal to the gate) stays, capped there.
    keep = allowed > 0
    top = torch.maximum(scores.masked_fill(~keep, -math.inf).amax(-1, keepdim=True), sink).detach()
    shifted = scores - top  # ≤ 0 where allowed; the cap only on keys left out (the top key keeps its gradient)
    e = torch.exp(torch.where(keep, shifted, shifted.clamp_max(0.0))) * allowed
    return e / (torch.exp(sink - top) + e.sum(-1, keepdim=True))


class TemporalHead(Head):
    """Reads the selected snippets as a timed sequence, on top of what the bag of them says.

    Its logits are the sum of two paths over the same selection: ``bag``, a `PoolHead` (what the
    selected snippets show, in any order), and the sequence path, which adds what order, timing and
    repetition say. Where the classes are bags of events the sequence path need add nothing (on the
    demo set the sequence path alone, trained from scratch in the gate stage, fell 4.5 points short of
    the pool head on validation: docs/models.md).

    In the sequence path each snippet's heavy feature is projected and given its time (Fourier
    features of the centre time); one block of self-attention among the selected snippets lets each
    one see what happens before it (``heads // 4`` heads), after it (as many) and anywhere (the rest),
    with a learned per-head bias proportional to the time gap; ``queries`` learned queries then pool
    the selected snippets, and a linear layer maps the pooled vectors to logits. Cost: a few MFLOPs
    for 64 snippets.

    With ``events`` > 0 the sequence path also has an events path, which states order and repetition
    directly instead of leaving attention to find them from a few dozen videos per class: each
    selected snippet is soft-assigned (softmax) to one of ``events`` learned events or to "none";
    the path reads how often each event happens (the sum of its assignments, not a mean: three
    occurrences are not one) and, for every two events ``a < b``, how much of ``a`` comes before
    ``b`` minus the reverse, scaled by their counts; a linear layer maps these to logits
    (docs/models.md). Checkpoints without the setting have no events path.

    Args:
        num_features: heavy feature width ``F``.
        num_classes: number of activity classes ``C``.
        multi_label: sigmoid per class (True) or softmax over classes (False).
        width: internal width.
        heads: attention heads (a multiple of 4).
        queries: learned pooling queries.
        frequencies: Fourier frequencies of the time encoding.
        dropout: dropout on the token stream.
        events: learned events of the events path (0: no events path).
        pooling: the bag path's mean (`PoolHead`'s ``pooling``).
    """

    frequencies: torch.Tensor
    assign: nn.Sequential
    event_fc: nn.Linear

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        *,
        multi_label: bool = False,
        width: int = 64,
        heads: int = 4,
        queries: int = 4,
        frequencies: int = 8,
        dropout: float = 0.1,
        events: int = 0,
        pooling: str = "mean",
    ) -> None:
        super().__init__()
        if heads % 4 or width % heads:
            raise ValueError(f"heads must be a multiple of 4 dividing width, got heads={heads}, width={width}")
        self.multi_label = multi_label
        self.heads = heads
        self.register_buffer("frequencies", math.pi * torch.arange(1, frequencies + 1).float(), persistent=False)
        self.embed = nn.Sequential(nn.LayerNorm(num_features), nn.Linear(num_features, width))
        self.time = nn.Linear(2 * frequencies, width)
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.gap_bias = nn.Parameter(torch.zeros(heads))
        self.sink = nn.Parameter(torch.zeros(heads))
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.norm3 = nn.LayerNorm(width)
        self.queries = nn.Parameter(torch.randn(queries, width) / math.sqrt(width))
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.pool_sink = nn.Parameter(torch.zeros(queries))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(queries * width, num_classes)
        self.bag = PoolHead(num_features, num_classes, multi_label=multi_label, pooling=pooling)
        self.events = events
        if events:
            assign = nn.Linear(num_features, events + 1)
            with torch.no_grad():  # most snippets show none of the events: start there
                assign.bias.zero_()
                assign.bias[-1] = 3.0
            self.assign = nn.Sequential(nn.LayerNorm(num_features), assign)
            self.event_fc = nn.Linear(events + events * (events - 1) // 2, num_classes)

    def _tokens(self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Every snippet's token after self-attention among the selected snippets ``(B, T, W)``."""
        b, t, _ = features.shape
        m = mask.to(features.dtype)  # (B, T)
        angles = times.to(features.dtype).unsqueeze(-1) * self.frequencies  # (B, T, K)
        x = self.embed(features) + self.time(torch.cat([angles.sin(), angles.cos()], dim=-1))  # (B, T, W)
        x = self.dropout(x)
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)  # (B, H, T, W/H) each
        gap = (times.unsqueeze(1) - times.unsqueeze(2)).to(features.dtype)  # (B, Tq, Tk): key time − query time
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
        scores = scores + self.gap_bias.view(1, -1, 1, 1) * gap.abs().unsqueeze(1)
        quarter = self.heads // 4
        direction = torch.ones(b, self.heads, t, t, dtype=features.dtype, device=features.device)
        direction[:, :quarter] = (gap < 0).unsqueeze(1).to(features.dtype)  # look back
        direction[:, quarter : 2 * quarter] = (gap > 0).unsqueeze(1).to(features.dtype)  # look ahead
        allowed = direction * m[:, None, None, :]  # (B, H, Tq, Tk)
        weights = _attention_weights(scores, allowed, self.sink.view(1, -1, 1, 1))
        context = (weights @ v).transpose(1, 2).reshape(b, t, -1)  # (B, T, W)
        x = x + self.dropout(self.out(context))
        return x + self.dropout(self.mlp(self.norm2(x)))  # (B, T, W)

    def _pool(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooling weights of every query over the selected snippets ``(B, Q, T)`` and the values ``(B, T, W)``."""
        h = self.norm3(tokens)
        keys, values = self.key(h), self.value(h)  # (B, T, W)
        scores = self.queries @ keys.transpose(1, 2) / math.sqrt(keys.shape[-1])  # (B, Q, T)
        allowed = mask.to(tokens.dtype).unsqueeze(1)  # (B, 1, T)
        return _attention_weights(scores, allowed, self.pool_sink.view(1, -1, 1)), values

    def _events(self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """The events path's logits ``(B, C)``: how often each learned event happens, and which comes first."""
        k = self.events
        share = torch.softmax(self.assign(features), -1)[..., :k]  # (B, T, K): the last column is "none"
        share = share * mask.to(features.dtype).unsqueeze(-1)  # unselected snippets show nothing
        counts = share.sum(1)  # (B, K)
        before = (times.unsqueeze(2) < times.unsqueeze(1)).to(features.dtype)  # (B, T, T): snippet i before j
        pairs = torch.einsum("bik,bij,bjl->bkl", share, before, share)  # (B, K, K): event k before event l
        a, b = torch.triu_indices(k, k, 1, device=features.device)
        order = (pairs[:, a, b] - pairs[:, b, a]) / (counts[:, a] * counts[:, b] + 1).sqrt()  # (B, K(K-1)/2)
        return self.event_fc(self.dropout(torch.cat([torch.log1p(counts), order], -1)))  # (B, C)

    def _sequence(self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """The sequence path's logits ``(B, C)`` (attention, plus the events path when it has one)."""
        weights, values = self._pool(self._tokens(features, mask, times), mask)
        pooled = weights @ values  # (B, Q, W)
        logits: torch.Tensor = self.fc(self.dropout(pooled.flatten(1)))  # (B, C)
        return logits + self._events(features, mask, times) if self.events else logits

    def forward(self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        return self.bag(features, mask) + self._sequence(features, mask, times)

    def evidence(
        self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor, *, steps: int = 16
    ) -> torch.Tensor:
        """The bag path's exact terms (`PoolHead.evidence`) plus the sequence path's integrated gradients
        of every logit with respect to the selection mask, from no snippet selected to the actual
        selection (Sundararajan et al., 2017), by ``steps``-point Gauss–Legendre quadrature.

        A snippet's sequence term is how much the logit owes to that snippet being selected, wherever
        its information went (self-attention carries it into other snippets' tokens, so splitting the
        last, linear stage by token would credit the wrong snippets). Completeness holds up to the
        quadrature error: the terms sum to ``logits - logits(empty selection)`` (tested within 0.1%).
        """
        b, t, _ = features.shape
        classes = self.fc.out_features
        nodes, weights = np.polynomial.legendre.leggauss(steps)  # on [-1, 1]
        alphas = torch.tensor((nodes + 1) / 2, device=features.device, dtype=features.dtype)  # (S,) in (0, 1)
        path = (alphas.view(-1, 1, 1) * mask.detach().to(features.dtype).unsqueeze(0)).reshape(steps * b, t)
        grads = torch.zeros(steps * b, t, classes, device=features.device, dtype=features.dtype)
        chunk = 16  # classes per backward pass: each rides along the batch dimension
        with torch.enable_grad():
            for first in range(0, classes, chunk):
                n = min(chunk, classes - first)
                m = path.repeat(n, 1).requires_grad_(True)  # (n·S·B, T)
                logits = self._sequence(features.detach().repeat(n * steps, 1, 1), m, times.repeat(n * steps, 1))
                picked = logits.view(n, steps * b, classes)[torch.arange(n), :, first + torch.arange(n)]  # (n, S·B)
                (grad,) = torch.autograd.grad(picked.sum(), m)
                grads[:, :, first : first + n] = grad.view(n, steps * b, t).permute(1, 2, 0)
        w = torch.tensor(weights / 2, device=features.device, dtype=features.dtype).view(-1, 1, 1, 1)
        integral = (grads.view(steps, b, t, classes) * w).sum(0)  # (B, T, C)
        sequence = mask.detach().to(features.dtype).unsqueeze(-1) * integral  # (B, T, C)
        return self.bag.evidence(features, mask) + sequence


HeadBuilder = Callable[[int, int, bool, int, int, str], Head]

# A plain dict from the ``head`` setting to its builder (num_features, num_classes, multi_label, width, events,
# pooling).
HEADS: dict[str, HeadBuilder] = {
    "pool": lambda features, classes, multi, width, events, pooling: PoolHead(
        features, classes, multi_label=multi, pooling=pooling
    ),
    "temporal": lambda features, classes, multi, width, events, pooling: TemporalHead(
        features, classes, multi_label=multi, width=width, events=events, pooling=pooling
    ),
}


def build_head(
    name: str, num_features: int, num_classes: int, *, multi_label: bool, width: int = 64, events: int = 0,
    pooling: str = "mean",
) -> Head:
    """Build the head named ``name`` (``pool`` or ``temporal``); unknown names raise ``KeyError``.
    ``width`` and ``events`` are the temporal head's (the pool head has neither); ``pooling`` is how
    the bag of selected snippets is averaged (``POOLINGS``; unknown raises ``ValueError``)."""
    if name not in HEADS:
        raise KeyError(f"unknown head {name!r}; known: {', '.join(sorted(HEADS))}")
    return HEADS[name](num_features, num_classes, multi_label, width, events, pooling)


def centre_times(valid: torch.Tensor) -> torch.Tensor:
    """Centre times ``(i + 0.5) / n`` of ``n`` snippets spread evenly over each video, for ``valid (B, T)``
    with each row's ``n`` valid snippets first (padding after): the default plan's times."""
    n = valid.sum(1, keepdim=True).clamp_min(1).to(torch.float32)  # (B, 1)
    return (torch.arange(valid.shape[1], device=valid.device, dtype=torch.float32) + 0.5) / n  # (B, T)
