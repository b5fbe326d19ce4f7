"""Honest validation: which videos train and which choose (epochs, early stopping, the gate's threshold).

A data set with a ``val`` split uses it. Without one, ``val_fraction`` of ``train`` is carved out,
stratified by label and seeded, so every class keeps training videos and most classes get some
validation videos. The carve is recorded in the work folder (``validation.json``) and a resumed run
uses the recorded one. ``test`` is never read here: training neither decodes nor looks at it.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..datasets import Dataset, DatasetItem
from .work import write_json

RECORD = "validation.json"


@dataclass(frozen=True)
class Validation:
    """The training and validation videos of one run.

    Attributes:
        train: videos that train.
        val: videos that choose epochs and the threshold.
        source: ``"val split"`` (the data set's own) or ``"carved from train"``.
    """

    train: tuple[DatasetItem, ...]
    val: tuple[DatasetItem, ...]
    source: str


def carve(items: list[DatasetItem], fraction: float, seed: int) -> tuple[list[DatasetItem], list[DatasetItem]]:
    """Split ``items`` into (train, val): per label set, ``round(n × fraction)`` videos go to val
    (at least one where the label set has two or more videos, never all of them), chosen with ``seed``."""
    by_label: dict[tuple[str, ...], list[DatasetItem]] = defaultdict(list)
    for item in items:
        by_label[item.labels].append(item)
    rng = random.Random(seed)
    val: set[Path] = set()
    for labels in sorted(by_label):
        group = by_label[labels]
        if len(group) < 2:
            continue
        k = min(len(group) - 1, max(1, round(len(group) * fraction)))
        val.update(it.path for it in rng.sample(group, k))
    return [it for it in items if it.path not in val], [it for it in items if it.path in val]


def validation_split(dataset: Dataset, fraction: float, seed: int, work: Path) -> Validation:
    """The run's train/val videos: the data set's ``val`` split, else a seeded stratified carve from
    ``train`` recorded in ``work/validation.json`` (a resumed run reads the record back)."""
    train, val = dataset.split("train"), dataset.split("val")
    if val:
        return Validation(tuple(train), tuple(val), "val split")
    record = work / RECORD
    if record.exists():
        chosen = set(json.loads(record.read_text())["val"])
        val = [it for it in train if _relative(dataset, it) in chosen]
        train = [it for it in train if _relative(dataset, it) not in chosen]
    else:
        train, val = carve(train, fraction, seed)
        write_json(record, {
            "source": "carved from train",
            "fraction": fraction,
            "seed": seed,
            "stratified_by": "label",
            "train": len(train),
            "val": sorted(_relative(dataset, it) for it in val),
        })
    return Validation(tuple(train), tuple(val), "carved from train")


def _relative(dataset: Dataset, item: DatasetItem) -> str:
    try:
        return item.path.relative_to(dataset.root).as_posix()
    except ValueError:
        return str(item.path)
