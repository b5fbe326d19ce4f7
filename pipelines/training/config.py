"""The training recipe: one frozen dataclass, the defaults of ``vidgate train``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Log = Callable[[str], None]  # one line per event worth telling the user
GATE_GRADIENTS = ("all", "selected")  # TrainConfig.gate_gradient


@dataclass(frozen=True)
class TrainConfig:
    """Training recipe. The defaults train from scratch on 2 CPU cores within about an hour for a
    few hundred videos. ``light_weights`` replaces the light stage by a user's pretrained trunk;
    ``heavy_weights`` only initialises the heavy backbone, which is still trained on the data set.

    Validation: the data set's ``val`` split, or (without one) ``val_fraction`` of ``train`` carved
    out stratified by label with ``seed`` (``pipelines.training.validation``). It picks every stage's
    best epoch, stops a stage after ``patience`` epochs without improvement, and calibrates the gate's
    threshold: the smallest validation selection ``s`` whose accuracy is within ``threshold_tolerance``
    of dense at every selection from ``s / threshold_band`` to ``s · threshold_band`` and whose mean
    over the validation videos is known to ``± threshold_precision`` (95%; None: no such condition;
    ``pipelines.training.gate.choose_threshold``). ``test`` is never decoded. With ``heavy_warmup``
    set (default 8; None: off), after that many epochs the heavy stage trains on the snippets where
    the heavy network itself sees most evidence for the label instead of the light stage's (on the
    unseen-data bench, where the light stage stays near chance, test dense 0.750 against 0.611 from
    the same light stage; docs/training.md).
    ``heavy_sequence_weight`` weighs the heavy stage's sequence loss (a temporal head over each
    video's training snippets in time order; 0, the default: per-snippet labels only; it helps classes
    defined by order and hurt bags of events, see docs/training.md). ``head_events`` gives the
    temporal head an events path with that many learned events (0: none). ``head_pooling`` is how the
    head averages the selected snippets: ``attention`` (default) weighs each by a learned relevance,
    ``mean`` alike (``python -m bench.pooling`` compares them on one run's stages; docs/models.md).
    ``gate_gradient`` is how the task loss reaches the gate through the head's straight-through mask:
    ``selected`` (default), the selected snippets' only (the gate learns from the task which of its
    picks to drop, and which to pick from the heavy network's evidence); ``all``, every snippet's (what
    selecting a left-out one would do). On the unseen-data bench's stages ``all`` left every gate run's
    calibrated threshold at 91–100% of the snippets, ``selected`` two of four at 7–9% (docs/training.md).
    ``gate_runs`` trains the gate stage (concept kernels, gate and head, on the cached features) that
    many times, from seeds ``seed``, ``seed + 1``, …; of the runs within ``gate_run_tolerance`` of the
    best-scoring run on validation, by score (the stage's own epoch criterion) and by dense accuracy,
    it keeps the one whose calibrated threshold selects least on validation (0: the best score alone);
    without validation videos it trains once.
    """

    light: str = "tiny2d"
    heavy: str = "tiny3d"
    light_size: int = 112
    heavy_size: int = 112
    snippet_frames: int = 8
    max_snippets: int = 128
    num_kernels: int = 64
    gate_hidden: int = 128
    head: str = "temporal"
    head_width: int = 64
    head_events: int = 0
    head_pooling: str = "attention"
    light_epochs: int = 20
    heavy_epochs: int = 25
    heavy_warmup: int | None = 8
    heavy_sequence_weight: float = 0.0
    gate_epochs: int = 60
    gate_gradient: str = "selected"
    gate_runs: int = 4
    gate_run_tolerance: float = 0.03
    patience: int = 12
    heavy_snippets_per_video: int = 8
    val_fraction: float = 0.15
    threshold_tolerance: float = 0.01
    threshold_band: float = 2.0
    threshold_precision: float | None = 0.035
    batch_videos: int = 8
    lr: float = 2e-3
    clip_grad: float = 1.0
    backbone_lr: float = 5e-4
    weight_decay: float = 1e-3
    target_ratio: float = 0.2
    sparsity_weight: float = 4.0
    shaping_weight: float = 1.0
    distill_weight: float = 0.5
    evidence_weight: float = 1.0
    temperature_start: float = 2.0
    temperature_end: float = 0.3
    seed: int = 0
    device: str = "auto"
    backend: str = "pyav"
    light_weights: str | None = None
    heavy_weights: str | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
