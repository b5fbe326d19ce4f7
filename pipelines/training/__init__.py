"""Staged training, in the spirit of the method (see docs/training.md). One module per stage:

1.  frames   — every snippet of every video is decoded once into the work folder (``frames.py``).
2.  light    — the light encoder learns from video-level labels on centre frames (per-instance
               labels), so it finds where things happen (``light.py``); pretrained ``light_weights``
               replace this stage.
3.  heavy    — the heavy backbone learns from video-level labels on a few snippets per video
               (TSN-style), chosen mostly where the light encoder sees evidence, plus random ones
               (``heavy.py``); pretrained ``heavy_weights`` initialise it, the stage still runs.
4.  features — light features of every centre frame and heavy features + per-snippet class evidence
               of every snippet are cached on disk (``features.py``).
5.  kernels  — k-means over cached light features initialises the concept kernels (``features.py``).
6.  gate     — gate + head train end to end on cached features (``gate.py``).

The work folder, its recipe check and the epoch checkpointing every stage uses live in ``work.py``;
the run that strings the stages together in ``trainer.py``.
"""

from .config import Log, TrainConfig, resolve_device
from .trainer import Trainer, train
from .work import dataset_fingerprint

__all__ = ["Log", "TrainConfig", "Trainer", "dataset_fingerprint", "resolve_device", "train"]
