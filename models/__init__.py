"""vidgate models: light encoder, concept kernels, context gate, heavy 3D backbones, heads.

Names are imported on first use (PEP 562), so ``import models.checkpoint`` to read a checkpoint's
metadata does not load torch: the API process describes the model without importing it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import (
        DEMO_CHECKPOINT,
        CheckpointError,
        PretrainedLoad,
        WeightsMismatch,
        load_checkpoint,
        load_pretrained,
        read_metadata,
        save_checkpoint,
    )
    from .concepts import ConceptKernels
    from .config import VERSION, ModelConfig
    from .flops import ComputeProfile, count_gflops
    from .gate import (
        ContextGate,
        GateOutput,
        SelectionRule,
        batch_shaping_loss,
        beta_prior,
        select_snippets,
        sparsity_loss,
    )
    from .head import HEADS, POOLINGS, Head, PoolHead, TemporalHead, build_head, centre_times
    from .heavy import HEAVY_BACKBONES, HeavyBackbone, build_heavy_backbone
    from .light import LIGHT_ENCODERS, LightEncoder, build_light_encoder
    from .vidgate import VidGate

_SOURCES: dict[str, tuple[str, ...]] = {
    "checkpoint": ("DEMO_CHECKPOINT", "CheckpointError", "PretrainedLoad", "WeightsMismatch", "load_checkpoint",
                   "load_pretrained", "read_metadata", "save_checkpoint"),
    "concepts": ("ConceptKernels",),
    "flops": ("ComputeProfile", "count_gflops"),
    "gate": ("ContextGate", "GateOutput", "SelectionRule", "batch_shaping_loss", "beta_prior", "select_snippets",
             "sparsity_loss"),
    "head": ("HEADS", "POOLINGS", "Head", "PoolHead", "TemporalHead", "build_head", "centre_times"),
    "heavy": ("HEAVY_BACKBONES", "HeavyBackbone", "build_heavy_backbone"),
    "light": ("LIGHT_ENCODERS", "LightEncoder", "build_light_encoder"),
    "config": ("VERSION", "ModelConfig"),
    "vidgate": ("VidGate",),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [
    "DEMO_CHECKPOINT",
    "HEADS",
    "HEAVY_BACKBONES",
    "LIGHT_ENCODERS",
    "POOLINGS",
    "VERSION",
    "CheckpointError",
    "ComputeProfile",
    "ConceptKernels",
    "ContextGate",
    "GateOutput",
    "Head",
    "HeavyBackbone",
    "LightEncoder",
    "ModelConfig",
    "PoolHead",
    "PretrainedLoad",
    "SelectionRule",
    "TemporalHead",
    "VidGate",
    "WeightsMismatch",
    "batch_shaping_loss",
    "beta_prior",
    "build_head",
    "build_heavy_backbone",
    "build_light_encoder",
    "centre_times",
    "count_gflops",
    "load_checkpoint",
    "load_pretrained",
    "read_metadata",
    "save_checkpoint",
    "select_snippets",
    "sparsity_loss",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
