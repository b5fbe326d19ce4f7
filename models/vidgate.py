"""The composed model: light encoder → concept kernels → context gate; heavy backbone → head.

The pieces run at different times on different inputs (the gate decides what the heavy network
sees), so the model exposes its stages rather than one ``forward``:

    encode_frames(centre frames (N, 3, H, W))   -> light features (N, D)
    select(light features (B, T, D), valid)      -> GateOutput(gate_scores, mask, concept activations)
    encode_snippets(snippets (S, 3, L, H, W))      -> heavy features (S, F)
    classify(heavy features (B, T, F), mask, times)  -> logits (B, C)
    evidence(heavy features (B, T, F), mask, times)  -> each snippet's contribution to each logit (B, T, C)

``times`` are the snippets' centre times as a fraction of the video's duration ``(B, T)`` in [0, 1];
without them all T snippets are taken as spread evenly over the video (the default plan; a padded
batch must pass its times).
"""

from __future__ import annotations

import torch
from torch import nn

from .concepts import ConceptKernels
from .config import VERSION, ModelConfig
from .gate import ContextGate, GateOutput, SelectionRule, gumbel_sigmoid, select_snippets
from .head import build_head, centre_times
from .heavy import build_heavy_backbone
from .light import build_light_encoder

__all__ = ["VERSION", "ModelConfig", "VidGate"]  # ModelConfig lives in .config (no torch)


class VidGate(nn.Module):
    """Light encoder, concept kernels, context gate, heavy backbone and head, built from a config."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.num_classes < 1:
            raise ValueError("a model needs at least one class")
        self.config = config
        self.light = build_light_encoder(config.light)
        self.concepts = ConceptKernels(config.num_kernels, self.light.num_features, trainable=config.kernels_trainable)
        self.gate = ContextGate(
            self.light.num_features, config.num_kernels, hidden=config.gate_hidden, heads=config.gate_heads
        )
        self.heavy = build_heavy_backbone(config.heavy)
        self.head = build_head(
            config.head, self.heavy.num_features, config.num_classes, multi_label=config.multi_label,
            width=config.head_width, events=config.head_events, pooling=config.head_pooling,
        )

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        return self.light(frames)  # (N, D)

    def encode_snippets(self, snippets: torch.Tensor) -> torch.Tensor:
        return self.heavy.forward_features(snippets)  # (S, F)

    def select(
        self,
        light_features: torch.Tensor,
        valid: torch.Tensor | None = None,
        rule: SelectionRule | None = None,
        *,
        temperature: float = 1.0,
        sample: bool | None = None,
    ) -> GateOutput:
        """Gate scores and the selection mask for a batch of videos.

        Args:
            light_features: ``(B, T, D)``; padded snippets are ignored via ``valid``.
            valid: ``(B, T)`` bool, False for padding; default all valid.
            rule: deterministic selection rule; default the learned threshold. Ignored when sampling.
            temperature: Gumbel-sigmoid temperature when sampling.
            sample: draw hard decisions with Gumbel noise and a straight-through gradient
                (default: in training mode).
        """
        if valid is None:
            valid = torch.ones(light_features.shape[:2], dtype=torch.bool, device=light_features.device)
        activations = self.concepts(light_features)  # (B, T, K)
        logits = self.gate(light_features, activations, valid)  # (B, T)
        gate_scores = torch.sigmoid(logits) * valid
        sample = self.training if sample is None else sample
        if sample and not (rule is not None and rule.dense):
            mask = gumbel_sigmoid(logits, temperature) * valid  # (B, T)
            never_empty = (
                (mask.detach().sum(1, keepdim=True) == 0)
                & (logits == logits.masked_fill(~valid, -1e9).max(1, keepdim=True).values)
                & valid
            )
            mask = mask + never_empty.to(mask.dtype) * (1 - mask)
        else:
            rule = rule or SelectionRule(threshold=self.config.threshold)
            mask = select_snippets(gate_scores, valid, rule).to(light_features.dtype)
        return GateOutput(gate_scores=gate_scores, mask=mask, concept_activations=activations, logits=logits)

    def classify(
        self, heavy_features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``(B, C)`` from the heavy features of the selected snippets (``mask`` 1) and their times."""
        times = centre_times(torch.ones_like(mask, dtype=torch.bool)) if times is None else times
        return self.head(heavy_features, mask, times)  # (B, C)

    def evidence(
        self, heavy_features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Each snippet's contribution to each class logit ``(B, T, C)``, 0 for unselected snippets.

        ``classify(f, mask, times) == classify(f, 0 · mask, times) + evidence(f, mask, times).sum(1)``: the
        logits of an empty selection plus one term per snippet; exact for the pool head, up to a small
        quadrature error for the temporal head (integrated gradients). docs/models.md says how each
        head splits its logits.
        """
        times = centre_times(torch.ones_like(mask, dtype=torch.bool)) if times is None else times
        return self.head.evidence(heavy_features, mask, times)  # (B, T, C)

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Class scores in [0, 1] (softmax, or sigmoid for multi-label)."""
        return self.head.activation(logits)
