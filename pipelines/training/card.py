"""The model card a training run writes into its checkpoint, and the test figures an evaluation adds.

Everything on it is derived: the data set's folder, split counts and origin (``dataset.json``), the
recipe, training's validation figures, and the intended use and limits that follow from the data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from models import ModelConfig
from models.card import ModelCard, TrainingData, use_and_limits, validation_figures

from ..datasets import SPLITS, Dataset

# The evaluation settings a card lists (when the evaluation ran them), and the figures of each.
CARD_SETTINGS = ("dense", "gated threshold", "gated 25%", "uniform 25%")
CARD_FIGURES = ("accuracy", "mAP", "selected_fraction", "heavy_gflops", "total_gflops", "relevant_recall")


def training_data(dataset: Dataset) -> TrainingData:
    """What a card records of a data set: its folder, videos per split and how it was made."""
    origin = dataset.origin
    synthetic = origin.get("synthetic")
    return TrainingData(
        path=str(dataset.root),
        splits={s: len(dataset.split(s)) for s in SPLITS if dataset.split(s)},
        synthetic=synthetic if isinstance(synthetic, bool) else False,
        made_by=origin.get("made_by") or ("generated" if synthetic else "user data"),
        generator=origin.get("generator"),
    )


def training_card(data: TrainingData, config: ModelConfig, summary: dict[str, Any],
                  recipe: dict[str, Any]) -> ModelCard:
    """The card of a model trained on ``data`` with ``recipe``, from training's ``summary``."""
    use, limits = use_and_limits(data, config.classes, config.multi_label)
    return ModelCard(
        name=config.name,
        version=config.version,
        classes=config.classes,
        multi_label=config.multi_label,
        data=data,
        recipe=recipe,
        validation=validation_figures(summary),
        calibration={"threshold": config.threshold, "rule": config.threshold_rule},
        intended_use=use,
        limits=limits,
    )


def evaluation_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The figures a card keeps of an evaluation report (`pipelines.evaluation.evaluate`)."""
    settings = report.get("settings", {})
    return {
        "split": report.get("split"),
        "videos": report.get("videos"),
        "by": "vidgate evaluate",
        "settings": {name: {k: settings[name][k] for k in CARD_FIGURES if k in settings[name]}
                     for name in CARD_SETTINGS if name in settings},
    }


def with_test_figures(card: ModelCard, report: dict[str, Any]) -> ModelCard:
    """``card`` with the test figures of ``report``; ``test`` leaves the unknowns."""
    unknown = tuple(u for u in card.unknown if u != "test")
    return dataclasses.replace(card, test=evaluation_figures(report), unknown=unknown)
