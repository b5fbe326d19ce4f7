"""Compute accounting with ``torch.utils.flop_counter`` (counted, not hand formulas), cached per shape."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .vidgate import VidGate


def count_gflops(module: nn.Module, *inputs: torch.Tensor) -> float:
    """GFLOPs of one forward call of ``module`` on ``inputs`` (multiply-add counted as 2 FLOPs)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return counter.get_total_flops() / 1e9


class _SelectStage(nn.Module):
    def __init__(self, model: VidGate) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.select(features, sample=False).gate_scores


class _HeadStage(nn.Module):
    def __init__(self, model: VidGate) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, mask: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        return self.model.classify(features, mask, times)


class ComputeProfile:
    """GFLOPs of each stage of a model at its configured input sizes, counted once per shape.

    Stages: light encoder per frame, gate (concept kernels included) per video of T snippets,
    heavy backbone per snippet, head per video of T snippets.
    """

    def __init__(self, model: VidGate) -> None:
        self.model = model
        self._cache: dict[tuple[str, int], float] = {}

    def _counted(self, stage: str, size: int, build: Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...]]]) -> float:
        key = (stage, size)
        if key not in self._cache:
            module, inputs = build()
            was_training = self.model.training  # the model's mode, not the wrapper's (a new module is in training)
            self.model.eval()
            try:
                self._cache[key] = count_gflops(module, *inputs)
            finally:
                self.model.train(was_training)
        return self._cache[key]

    def _zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(shape, device=next(self.model.parameters()).device)

    def light_per_frame(self) -> float:
        s = self.model.config.light_size
        return self._counted("light", s, lambda: (self.model.light, (self._zeros(1, 3, s, s),)))

    def heavy_per_snippet(self) -> float:
        c = self.model.config
        snippet = (1, 3, c.snippet_frames, c.heavy_size, c.heavy_size)
        return self._counted("heavy", c.heavy_size, lambda: (self.model.heavy, (self._zeros(*snippet),)))

    def gate(self, snippets: int) -> float:
        features = (1, snippets, self.model.light.num_features)
        return self._counted("gate", snippets, lambda: (_SelectStage(self.model), (self._zeros(*features),)))

    def head(self, snippets: int) -> float:
        """The head over ``snippets`` snippets, all selected (the most it costs; the dense figure)."""
        features = (1, snippets, self.model.heavy.num_features)

        def build() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
            times = (torch.arange(snippets, device=self._zeros(1).device) + 0.5).unsqueeze(0) / snippets
            return _HeadStage(self.model), (self._zeros(*features), self._zeros(1, snippets) + 1, times)

        return self._counted("head", snippets, build)

    def video(self, snippets: int, selected: int, *, gated: bool = True) -> dict[str, float]:
        """GFLOPs for one video: per stage, total, and what the dense model would spend."""
        light = self.light_per_frame() * snippets if gated else 0.0
        gate = self.gate(snippets) if gated else 0.0
        heavy = self.heavy_per_snippet() * selected
        head = self.head(snippets)
        dense = self.heavy_per_snippet() * snippets + head
        total = light + gate + heavy + head
        return {"light": light, "gate": gate, "heavy": heavy, "head": head, "total": total, "dense": dense}
