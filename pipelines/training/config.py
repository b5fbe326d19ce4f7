"""The training recipe: one frozen dataclass, declared once; ``vidgate train``'s flags derive from it.

Each field carries its help text (``metadata["help"]``) and the help panel its flag goes in
(``metadata["panel"]``: None for the first page, `STRUCTURE` for the recipe of classes defined by order
or count, `ADVANCED` for what only the bench ablations vary). The CLI builds one flag per field from
these, so a new field needs no edit there. This module imports no torch: the CLI reads it to build its
flags without loading the networks.

The defaults train from scratch on 2 CPU cores within about an hour for a few hundred videos
(docs/training.md says what each stage does and why each default is what it is).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from models.config import MODEL_DEFAULTS as _MODEL

if TYPE_CHECKING:
    import torch

Log = Callable[[str], None]  # one line per event worth telling the user
GATE_GRADIENTS = ("all", "selected")  # TrainConfig.gate_gradient
SEGMENT_TARGETS = ("segments", "both", "heavy")  # TrainConfig.segment_targets

STRUCTURE = "Classes defined by order or count (docs/training.md)"  # a data set's recipe: a user's choice
ADVANCED = "Advanced (research)"  # what the bench ablations vary; the defaults are the tuned recipe

_T = TypeVar("_T")


def _field(default: _T, help: str, *, panel: str | None = None) -> _T:
    """A recipe field with its help text and the help panel of its flag."""
    return dataclasses.field(default=default, metadata={"help": help, "panel": panel})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training recipe (the field help says what each does; docs/training.md says why).

    Validation: the data set's ``val`` split, or (without one) ``val_fraction`` of ``train`` carved out
    stratified by label with ``seed`` (``pipelines.training.validation``). It picks every stage's best
    epoch, stops a stage after ``patience`` epochs without improvement, chooses among ``gate_runs`` gate
    stages and calibrates the gate's threshold (``pipelines.training.calibration.choose_threshold``). ``test`` is
    never decoded.
    """

    # the model: recorded in the checkpoint's ModelConfig, whose defaults these are
    light: str = _field(_MODEL["light"], "Light encoder (`vidgate backbones` lists them).")
    heavy: str = _field(_MODEL["heavy"], "Heavy backbone (`vidgate backbones` lists them).")
    light_size: int = _field(_MODEL["light_size"], "Square input size of the light encoder's centre frames.")
    heavy_size: int = _field(_MODEL["heavy_size"], "Square input size of the heavy network's snippet frames.")
    snippet_frames: int = _field(_MODEL["snippet_frames"], "Frames per snippet.", panel=ADVANCED)
    max_snippets: int = _field(_MODEL["max_snippets"], "Snippets planned per video (recorded in the model: "
                               "inference plans the same).")
    num_kernels: int = _field(_MODEL["num_kernels"], "Concept kernels.", panel=ADVANCED)
    gate_hidden: int = _field(_MODEL["gate_hidden"], "Width of the gate.", panel=ADVANCED)
    head: str = _field(_MODEL["head"], "Head: temporal (the pool head plus a path that reads the selection as a "
                       "timed sequence: order, counts) or pool (order-blind mean + max).")
    head_width: int = _field(_MODEL["head_width"], "Internal width of the temporal head.", panel=ADVANCED)
    head_events: int = _field(_MODEL["head_events"], "Learned events of the temporal head's events path (which "
                              "event comes first, how often; 0: none).", panel=STRUCTURE)
    head_pooling: str = _field(_MODEL["head_pooling"], "How the head averages the selected snippets: attention "
                               "(weighted by a learned relevance) or mean.", panel=ADVANCED)
    light_weights: str | None = _field(None, "Pretrained light trunk weights (local file); replaces the light stage.")
    heavy_weights: str | None = _field(None, "Pretrained heavy backbone weights (local file); the heavy stage still "
                                       "trains it on the data set (unless --freeze-trunks).")
    freeze_trunks: bool = _field(False, "The small-data recipe: keep both pretrained trunks (--light-weights and "
                                 "--heavy-weights, both required) as published; no light or heavy stage trains them, "
                                 "only the concept kernels, the gate and the head learn, on their cached features "
                                 "(docs/own-footage.md says when to use it).")
    allow_partial_weights: bool = _field(False, "Load --light-weights / --heavy-weights even when under 95% of the "
                                         "trunk's tensors match (the rest keep their initial values; the log names "
                                         "them). Without it such a file is refused.", panel=ADVANCED)
    # the stages
    light_epochs: int = _field(20, "Most light-stage epochs (validation keeps the best).")
    light_frames_per_video: int = _field(32, "Centre frames of each video the light stage trains on per epoch "
                                         "(spread over the video, a new draw each epoch; 0: every snippet's).",
                                         panel=ADVANCED)
    heavy_epochs: int = _field(25, "Heavy-stage epochs (validation keeps the best of the last 4).")
    heavy_warmup: int = _field(8, "Heavy epochs after which the heavy network's own salience picks its training "
                               "snippets (0: the light stage's picks throughout).", panel=STRUCTURE)
    heavy_sequence_weight: float = _field(0.0, "Weight of the heavy stage's sequence loss: a temporal head reads each "
                                          "video's training snippets in time order, so the heavy network learns "
                                          "what order needs (0: off).", panel=STRUCTURE)
    heavy_snippets_per_video: int = _field(8, "Snippets per video per heavy epoch (three quarters the most salient, "
                                           "the rest at random).", panel=ADVANCED)
    gate_epochs: int = _field(40, "Gate-stage epochs (validation keeps the best).")
    gate_gradient: str = _field("selected", "How the task loss reaches the gate through the head's straight-through "
                                "mask: selected (the selected snippets' gradient only) or all (every snippet's).",
                                panel=ADVANCED)
    gate_runs: int = _field(2, "Train the gate stage this many times, from seeds seed, seed + 1, ..., and keep one by "
                            "validation (one run without validation videos).")
    gate_run_tolerance: float = _field(0.03, "Of the gate runs within this of the best on validation (by score and by "
                                       "dense accuracy), keep the one whose threshold selects least (0: the best "
                                       "score alone).", panel=ADVANCED)
    patience: int = _field(12, "Stop a stage after this many epochs without a better validation score.",
                           panel=ADVANCED)
    # validation and calibration
    val_fraction: float = _field(0.15, "Share of train carved out for validation when the data set has no val split.")
    threshold_tolerance: float = _field(0.02, "Calibration: the confidence in the true labels the learned threshold "
                                        "loses against dense, one-sided 95% bound over the validation videos, is at "
                                        "most this.", panel=ADVANCED)
    threshold_band: float = _field(2.0, "Calibration: the tolerance holds at every selection from the chosen "
                                   "selection s to s · band.", panel=ADVANCED)
    threshold_precision: float | None = _field(0.035, "Calibration: the chosen selection's mean over the validation "
                                               "videos is known to ± this (95%; None, from Python: no such "
                                               "condition).", panel=ADVANCED)
    # optimisation and the gate's losses
    batch_videos: int = _field(8, "Videos per batch.")
    lr: float = _field(2e-3, "Learning rate of the new layers.", panel=ADVANCED)
    backbone_lr: float = _field(5e-4, "Learning rate of the light and heavy backbones.", panel=ADVANCED)
    weight_decay: float = _field(1e-3, "AdamW weight decay.", panel=ADVANCED)
    clip_grad: float = _field(1.0, "Gradient norm clip.", panel=ADVANCED)
    target_budget: float = _field(0.2, "Budget the gate is trained towards (fraction of snippets): the sparsity and "
                                  "batch-shaping terms pull its selection there, and validation scores every gate "
                                  "epoch gated at it. Recognition's default is the learned threshold.")
    sparsity_weight: float = _field(4.0, "Weight of the term that pulls the mean gate score to the target budget.",
                                    panel=ADVANCED)
    shaping_weight: float = _field(1.0, "Weight of the batch-shaping term (gate scores toward a U-shaped Beta prior "
                                   "with the target budget as mean).", panel=ADVANCED)
    distill_weight: float = _field(0.5, "Weight of distilling the dense head into the gated one.", panel=ADVANCED)
    salience_weight: float = _field(1.0, "Weight of the term that pulls the gate toward the snippets most salient to "
                                    "the heavy network (its per-snippet logits for the video's labels).",
                                    panel=ADVANCED)
    segment_targets: str = _field("both", "With segments.csv, what the gate's salience term pulls toward: the "
                                  "snippets segments cover (segments), those or the heavy network's most salient "
                                  "(both), or the heavy network's alone (heavy).", panel=ADVANCED)
    temperature_start: float = _field(2.0, "Gumbel-sigmoid temperature of the first gate epoch.", panel=ADVANCED)
    temperature_end: float = _field(0.3, "Gumbel-sigmoid temperature of the last gate epoch.", panel=ADVANCED)
    # the run
    seed: int = _field(0, "Random seed (validation carve-out, initialisation, sampling).")
    device: str = _field("auto", "Device: auto (cuda when there is one), cpu, cuda, cuda:1, ...")
    backend: str = _field("pyav", "Decoding backend of the frame cache.", panel=ADVANCED)


def resolve_device(name: str) -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
