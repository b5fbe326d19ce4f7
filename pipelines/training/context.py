"""What every stage shares: the data set, the recipe, the work folder, the model and the decoded videos."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from models import ModelConfig, VidGate

from ..cache import CachedVideo
from ..datasets import Dataset, DatasetItem
from .config import Log, TrainConfig


@dataclass
class Context:
    """One training run's shared state; stages read it and fill in ``videos`` / ``targets``.

    Attributes:
        dataset: the data set being trained on.
        config: the recipe.
        work: the work folder.
        device: where networks train.
        model: the model being trained (stages fill in its parts).
        show_progress: progress bars on stderr.
        log: one line per event worth telling the user.
        videos: decoded videos per split (``train``, ``val``; ``test`` is never decoded in training).
        targets: multi-hot labels per split, ``(N, C)`` in the order of ``videos``.
        validation_source: where ``val`` came from (``"val split"`` or ``"carved from train"``).
        figures: validation figures per stage (``light``, ``heavy``, ``gate``), for the summary.
        coverage: per split, each video's share of every snippet covered by an annotated segment
            (`pipelines.training.segments`; filled on first use).
    """

    dataset: Dataset
    config: TrainConfig
    work: Path
    device: torch.device
    model: VidGate
    show_progress: bool
    log: Log
    videos: dict[str, list[CachedVideo]] = field(default_factory=dict)
    targets: dict[str, torch.Tensor] = field(default_factory=dict)
    validation_source: str = ""
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    coverage: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    @property
    def model_config(self) -> ModelConfig:
        return self.model.config

    def bar(self, iterable: Any, desc: str, total: int | None = None) -> Any:
        return tqdm(iterable, desc=desc, total=total, disable=not self.show_progress, leave=False, dynamic_ncols=True)

    def target(self, item: DatasetItem) -> torch.Tensor:
        t = torch.zeros(self.model_config.num_classes)
        t[self.dataset.label_index(item)] = 1.0
        return t

    def batches(self, split: str, shuffle: bool, epoch: int) -> Iterator[list[int]]:
        order = list(range(len(self.videos[split])))
        if shuffle:
            random.Random(self.config.seed * 1000 + epoch).shuffle(order)
        for i in range(0, len(order), self.config.batch_videos):
            yield order[i : i + self.config.batch_videos]


def ticker(bar: Any) -> Callable[[int, int], None]:
    def tick(done: int, total: int) -> None:
        bar.update(1)

    return tick
