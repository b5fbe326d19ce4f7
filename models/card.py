"""The model card: what a checkpoint's model knows, what it was trained on, how well it did, what it is for.

`ModelCard` is the one declaration. Every checkpoint carries one (`models.checkpoint.read_card`):
``vidgate train`` writes it from the data set and the training summary
(`pipelines.training.card.training_card`), ``vidgate evaluate --card`` adds the test figures, and a
checkpoint written before cards existed gets one derived from its config and training notes, which
names what it cannot know in ``unknown``.

The name, version, classes and calibration are the model config's (stored once, in the config); the
checkpoint's ``card`` metadata holds the rest. No torch here: the API process reads cards.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SYNTHETIC_MEANING = (
    "The classes are activities of vidgate's synthetic benchmark of moving shapes (vidgate synth): on real "
    "footage the labels mean nothing."
)
SYNTHETIC_SHORT = "synthetic classes of a benchmark of moving shapes: meaningless on real footage"
TRAIN_YOUR_OWN = "Train on your own footage: vidgate train DATA --out model.safetensors (docs/training.md)."


@dataclass(frozen=True)
class TrainingData:
    """The data set a model was trained on.

    Attributes:
        path: the data set folder as training was given it (None: unknown).
        splits: videos per split (``train``, ``val``, ``test``) in the data set; empty when unknown.
        synthetic: whether the videos were generated (None: unknown).
        made_by: how the data set was made, e.g. ``vidgate synth --videos 300 --seed 0`` or ``user data``.
        generator: the generator's parameters for a synthetic data set (`pipelines.synth.SynthConfig`).
    """

    path: str | None = None
    splits: dict[str, int] = field(default_factory=dict)
    synthetic: bool | None = None
    made_by: str = "unknown"
    generator: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelCard:
    """What a user needs to know of a model before trusting its labels.

    Attributes:
        name: the model's name (its config's).
        version: the vidgate version that wrote the model.
        classes: the labels it can give, in output order.
        multi_label: several labels per video (sigmoids) instead of one (softmax).
        data: what it was trained on.
        recipe: the training recipe (`pipelines.training.TrainConfig` as a dict; None: unknown).
        validation: figures on the validation videos, from training's summary (None: unknown).
        test: figures on the test split, from an evaluation (None: nobody evaluated it yet).
        calibration: the gate's learned threshold and the rule that chose it.
        intended_use: what the model is for.
        limits: what it must not be used for, and what its figures do not show.
        unknown: the fields above that could not be known (a checkpoint written before cards).
    """

    name: str
    version: str
    classes: tuple[str, ...]
    multi_label: bool = False
    data: TrainingData = field(default_factory=TrainingData)
    recipe: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    intended_use: str = ""
    limits: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def synthetic(self) -> bool:
        """True when the card says the training data was generated (its classes mean nothing on real footage)."""
        return self.data.synthetic is True

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["classes"], out["limits"], out["unknown"] = list(self.classes), list(self.limits), list(self.unknown)
        return out


# What the config holds; the checkpoint's ``card`` metadata holds every other field.
FROM_CONFIG = ("name", "version", "classes", "multi_label", "calibration")
STORED = tuple(f.name for f in dataclasses.fields(ModelCard) if f.name not in FROM_CONFIG)


def stored_fields(card: ModelCard) -> dict[str, Any]:
    """The part of a card a checkpoint stores beside its config (JSON-able)."""
    full = card.to_dict()
    return {k: full[k] for k in STORED}


def card_from_metadata(meta: dict[str, Any]) -> ModelCard:
    """The card of a checkpoint's metadata (``config``, ``card``, ``extra``); derived where it has none."""
    config = meta["config"]
    common: dict[str, Any] = {
        "name": str(config.get("name", "vidgate")),
        "version": str(config.get("version", "unknown")),
        "classes": tuple(config["classes"]),
        "multi_label": bool(config.get("multi_label", False)),
        "calibration": {"threshold": config.get("threshold", 0.5), "rule": config.get("threshold_rule")},
    }
    stored = meta.get("card")
    if stored is not None:
        values = {k: stored.get(k) for k in STORED if k in stored}
        data = TrainingData(**values.pop("data", None) or {})
        values["limits"] = tuple(values.get("limits") or ())
        values["unknown"] = tuple(values.get("unknown") or ())
        return ModelCard(**common, data=data, **values)
    return _derived(meta, common)


def _derived(meta: dict[str, Any], common: dict[str, Any]) -> ModelCard:
    """A card for a checkpoint written before cards: what its training notes tell, and what they do not."""
    training = (meta.get("extra") or {}).get("training") or {}
    unknown = ["data.path", "data.synthetic", "data.made_by", "test"]
    splits = {k: int(v) for k, v in (training.get("videos") or {}).items()}
    validation = validation_figures(training) if training else None
    recipe = training.get("config")
    if not splits:
        unknown.append("data.splits")
    if validation is None:
        unknown.append("validation")
    if recipe is None:
        unknown.append("recipe")
    data = TrainingData(splits=splits)
    use, limits = use_and_limits(data, common["classes"], common["multi_label"])
    return ModelCard(**common, data=data, recipe=recipe, validation=validation, intended_use=use, limits=limits,
                     unknown=tuple(unknown))


def validation_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The validation figures of a training summary: accuracy dense, at the learned threshold and at the
    training budget, the share of snippets each selects, and on how many videos."""
    validation = summary.get("validation") or {}
    figures: dict[str, Any] = {"source": validation.get("source"), "videos": validation.get("videos")}
    figures.update({k.removeprefix("val_"): v for k, v in summary.items()
                    if k.startswith("val_") and isinstance(v, int | float)})
    return figures


def use_and_limits(data: TrainingData, classes: tuple[str, ...], multi_label: bool) -> tuple[str, tuple[str, ...]]:
    """The intended use and limits that follow from what a model was trained on."""
    pick = "one or more of its" if multi_label else "one of its"
    always = f"Every video gets {pick} {len(classes)} labels, whatever it shows: there is no 'none of these'."
    trained = sum(data.splits.get(s, 0) for s in ("train", "val"))
    size = f"Trained and validated on {trained} videos." if trained else ""
    if data.synthetic:
        return (
            "Trying vidgate out: it recognises the activities of vidgate's synthetic benchmark of moving shapes, "
            "and shows how the gate finds the few snippets that decide a long video.",
            tuple(x for x in (SYNTHETIC_MEANING, always, size, TRAIN_YOUR_OWN) if x),
        )
    if data.synthetic is None:
        return ("Unknown: the checkpoint does not record what its training data was.",
                tuple(x for x in (always, size) if x))
    where = f" ({data.path})" if data.path else ""
    return (
        f"Recognising the {len(classes)} classes of its training data{where} in footage like that data.",
        tuple(x for x in (
            always, size,
            "Its figures hold for footage like its training data; other cameras, scenes or lengths may score lower.",
        ) if x),
    )
