"""`ModelConfig`, what rebuilds a model exactly, and the migration of configs older checkpoints hold.

The defaults are the training recipe's (``pipelines.training.TrainConfig`` takes its model fields'
defaults from here), so a model built from defaults is the model ``vidgate train`` builds. They are
never used to fill a field a checkpoint lacks: a checkpoint records its config version, and a field an
older version did not have gets the value that version meant, from `CONFIG_MIGRATIONS`: a value, or
`Was` an older field's, which that field's newer names replace. This module imports no torch (the CLI and
the API process read it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

VERSION = "0.1.0"
PIXEL_MEAN = (0.45, 0.45, 0.45)  # a trunk vidgate trains from scratch learns on inputs normalised with these
PIXEL_STD = (0.225, 0.225, 0.225)


@dataclasses.dataclass(frozen=True)
class Was:
    """A migrated field whose value is what the older config held under ``field`` (renamed or split)."""

    field: str


# The version of ModelConfig's fields this vidgate writes (checkpoint metadata ``config_version``).
CONFIG_VERSION = 3
# What a config of version N meant by each field it lacks (N → {field: value or `Was`}); applied at load
# from a checkpoint's version up to `CONFIG_VERSION`. Version 1 (metadata without ``config_version``) came
# before these fields; a field such a checkpoint does hold is kept. An older field a `Was` names is gone
# from the newer versions.
CONFIG_MIGRATIONS: dict[int, dict[str, Any]] = {
    1: {
        "max_snippets": 64,  # training planned 64 snippets per video
        "head": "pool",  # the order-blind head was the only one
        "head_width": 64,  # unused by the pool head
        "head_events": 0,  # no events path
        "head_pooling": "mean",  # the bag of selected snippets was averaged alike
        "threshold_rule": None,  # the threshold was fixed at 0.5, not calibrated
    },
    2: {  # one normalisation (``mean``, ``std``) served both networks
        "light_mean": Was("mean"),
        "light_std": Was("std"),
        "heavy_mean": Was("mean"),
        "heavy_std": Was("std"),
    },
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model exactly (stored in every checkpoint).

    Attributes:
        classes: class names, in logit order.
        multi_label: sigmoid per class instead of softmax.
        light: light encoder name (``models.light.LIGHT_ENCODERS``).
        heavy: heavy backbone name (``models.heavy.HEAVY_BACKBONES``).
        light_size: square input size of centre frames.
        heavy_size: square input size of snippet frames (heavy network).
        snippet_frames: frames per snippet.
        max_snippets: snippets training planned per video (spread uniformly over it); inference plans
            the same unless told otherwise.
        light_mean: per-channel normalisation mean of the light encoder's input (RGB in [0, 1]): its weights'
            publisher's (`models.published`) when it started from published weights, else `PIXEL_MEAN`.
        light_std: per-channel normalisation std of the light encoder's input.
        heavy_mean: per-channel normalisation mean of the heavy network's input.
        heavy_std: per-channel normalisation std of the heavy network's input.
        num_kernels: concept kernel count.
        kernels_trainable: concept kernels keep learning after initialisation.
        gate_hidden: gate width.
        gate_heads: gate attention heads.
        head: head name (``models.head.HEADS``): ``temporal`` (reads the selected snippets as a timed
            sequence) or ``pool`` (order-blind mean + max).
        head_width: internal width of the temporal head.
        head_events: learned events of the temporal head's events path (``models.head.TemporalHead``;
            0: none).
        head_pooling: how the head averages the bag of selected snippets (``models.head.POOLINGS``):
            ``attention`` (weighted by a learned relevance of each snippet) or ``mean``.
        threshold: learned gate threshold used when no budget is given (0.5 until calibrated).
        threshold_rule: how ``threshold`` was chosen (None: not calibrated).
        name: model name shown to users.
        version: vidgate version that wrote the model.
    """

    classes: tuple[str, ...]
    multi_label: bool = False
    light: str = "tiny2d"
    heavy: str = "tiny3d"
    light_size: int = 112
    heavy_size: int = 112
    snippet_frames: int = 8
    max_snippets: int = 128
    light_mean: tuple[float, float, float] = PIXEL_MEAN
    light_std: tuple[float, float, float] = PIXEL_STD
    heavy_mean: tuple[float, float, float] = PIXEL_MEAN
    heavy_std: tuple[float, float, float] = PIXEL_STD
    num_kernels: int = 64
    kernels_trainable: bool = True
    gate_hidden: int = 128
    gate_heads: int = 4
    head: str = "temporal"
    head_width: int = 64
    head_events: int = 0
    head_pooling: str = "attention"
    threshold: float = 0.5
    threshold_rule: str | None = None
    name: str = "vidgate"
    version: str = VERSION

    @property
    def num_classes(self) -> int:
        return len(self.classes)


MODEL_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(ModelConfig) if f.default is not dataclasses.MISSING
}


def config_from_dict(raw: dict[str, Any], version: int) -> ModelConfig:
    """The `ModelConfig` a checkpoint of config ``version`` stores as ``raw``, migrated to this version.

    Raises:
        ValueError: a version or field this vidgate does not know (written by a newer one), or a field
            the config's version must hold but does not.
    """
    if not 1 <= version <= CONFIG_VERSION:
        raise ValueError(f"config version {version} is not one this vidgate reads (1 to {CONFIG_VERSION}; "
                         "written by a newer vidgate?)")
    names = [f.name for f in dataclasses.fields(ModelConfig)]
    steps = [CONFIG_MIGRATIONS[older] for older in range(version, CONFIG_VERSION)]
    renamed = {meant.field for step in steps for meant in step.values() if isinstance(meant, Was)}
    unknown = set(raw) - set(names) - renamed
    if unknown:
        raise ValueError(f"config has unknown fields {sorted(unknown)} (written by a newer vidgate?)")
    values = dict(raw)
    for step in steps:
        for name, meant in step.items():
            if not isinstance(meant, Was):
                values.setdefault(name, meant)
            elif meant.field in values:
                values.setdefault(name, values[meant.field])
        for gone in {meant.field for meant in step.values() if isinstance(meant, Was)}:
            values.pop(gone, None)
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"config of version {version} lacks {', '.join(missing)}")
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return ModelConfig(**fields)
