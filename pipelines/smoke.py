"""Small introspection helpers used by the CLI: what is registered, and a smoke run of a model."""

from __future__ import annotations

from typing import Any

import torch

from models import HEAVY_BACKBONES, LIGHT_ENCODERS, ComputeProfile, ModelConfig, SelectionRule, VidGate


def registered_backbones() -> dict[str, list[str]]:
    return {"light": LIGHT_ENCODERS.names(), "heavy": HEAVY_BACKBONES.names()}


@torch.no_grad()
def smoke_run(*, light: str, heavy: str, snippets: int, size: int = 112) -> dict[str, Any]:
    """One gated pass of a random model over random snippets: shapes, selection and GFLOPs."""
    torch.manual_seed(0)
    config = ModelConfig(classes=("a", "b", "c"), light=light, heavy=heavy, light_size=size, heavy_size=size)
    model = VidGate(config).eval()
    frames = torch.randn(snippets, 3, size, size)
    gate = model.select(model.encode_frames(frames).unsqueeze(0), rule=SelectionRule(budget=0.25))
    chosen = gate.mask[0].nonzero().flatten()
    selected = torch.randn(len(chosen), 3, config.snippet_frames, size, size)
    features = torch.zeros(1, snippets, model.heavy.num_features)
    features[0, chosen] = model.encode_snippets(selected)
    scores = model.scores(model.classify(features, gate.mask))
    return {
        "selected": chosen.tolist(),
        "scores": [round(float(s), 4) for s in scores[0]],
        "gflops": ComputeProfile(model).video(snippets, len(chosen)),
    }
