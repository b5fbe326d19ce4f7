"""Staged training, in the spirit of the method (see docs/training.md). One module per stage:

1.  frames   — every snippet of every video is decoded once into the work folder (``frames.py``).
2.  light    — the light encoder learns from video-level labels on centre frames (per-instance
               labels), so it finds where things happen (``light.py``); pretrained ``light_weights``
               replace this stage.
3.  heavy    — the heavy backbone learns from video-level labels on a few snippets per video
               (TSN-style), chosen mostly where the light encoder finds them salient, plus random ones
               (``heavy.py``); pretrained ``heavy_weights`` initialise it, the stage still runs.
4.  features — light features of every centre frame and heavy features + per-snippet class logits
               of every snippet are cached on disk (``features.py``).

With ``freeze_trunks`` (both weight files given) stages 2 and 3 leave the trunks as published: features
are cached right after the frames, and stage 3 trains only the heavy network's per-snippet classifier on
them (``heavy.train_heavy_classifier``); kernels and gate follow as above.
5.  kernels  — k-means over cached light features initialises the concept kernels (``features.py``).
6.  gate     — gate + head train end to end on cached features (``gate.py``).

The recipe is ``config.py`` (no torch: the CLI builds its flags from it); the work folder, its recipe
check and the epoch checkpointing every stage uses live in ``work.py``; the run that strings the stages
together in ``trainer.py``. Names are imported on first use (PEP 562), so ``TrainConfig`` loads without
torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Log, TrainConfig, resolve_device
    from .trainer import Trainer, train
    from .work import dataset_fingerprint

_MODULE_OF = {"Log": "config", "TrainConfig": "config", "resolve_device": "config", "Trainer": "trainer",
              "train": "trainer", "dataset_fingerprint": "work"}

__all__ = ["Log", "TrainConfig", "Trainer", "dataset_fingerprint", "resolve_device", "train"]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'pipelines.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
