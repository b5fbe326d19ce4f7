"""vidgate models: light encoder, concept kernels, context gate, heavy 3D backbones, heads."""

from .checkpoint import (
    DEMO_CHECKPOINT,
    CheckpointError,
    load_checkpoint,
    load_pretrained,
    read_metadata,
    save_checkpoint,
)
from .concepts import ConceptKernels
from .flops import ComputeProfile, count_gflops
from .gate import (
    Budget,
    ContextGate,
    GateOutput,
    batch_shaping_loss,
    beta_prior,
    select_snippets,
    sparsity_loss,
)
from .head import HEADS, Head, PoolHead, TemporalHead, build_head
from .heavy import HEAVY_BACKBONES, HeavyBackbone, build_heavy_backbone
from .light import LIGHT_ENCODERS, LightEncoder, build_light_encoder
from .vidgate import VERSION, ModelConfig, VidGate

__all__ = [
    "DEMO_CHECKPOINT",
    "HEADS",
    "HEAVY_BACKBONES",
    "LIGHT_ENCODERS",
    "VERSION",
    "Budget",
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
    "TemporalHead",
    "VidGate",
    "batch_shaping_loss",
    "beta_prior",
    "build_head",
    "build_heavy_backbone",
    "build_light_encoder",
    "count_gflops",
    "load_checkpoint",
    "load_pretrained",
    "read_metadata",
    "save_checkpoint",
    "select_snippets",
    "sparsity_loss",
]
