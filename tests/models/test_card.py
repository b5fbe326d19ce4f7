"""The model card: written with a checkpoint, replaced in place without touching the weights, derived for
checkpoints without one, and the shipped demo model's card and example videos."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from safetensors.numpy import load_file

from models import ModelConfig, VidGate
from models.card import SYNTHETIC_MEANING, ModelCard, TrainingData, use_and_limits
from models.checkpoint import (
    DEMO_CHECKPOINT,
    CheckpointError,
    read_card,
    read_concept_examples,
    read_config,
    read_metadata,
    save_checkpoint,
    write_card,
)
from pipelines.datasets import load_dataset
from pipelines.synth import SynthConfig, write_synthetic_dataset
from pipelines.training.card import evaluation_figures, training_card, training_data, with_test_figures
from service.examples import EXAMPLES_DIR, load_examples

from ..helpers import tiny_checkpoint

SUMMARY: dict[str, Any] = {"val_dense_accuracy": 0.9, "val_threshold_accuracy": 0.88, "val_threshold_selected": 0.12,
           "validation": {"source": "val split", "videos": 5}, "config": {"lr": 0.002}}


def _card(config: ModelConfig, data: TrainingData) -> ModelCard:
    return training_card(data, config, SUMMARY, SUMMARY["config"])


def test_a_card_round_trips_and_is_replaced_without_touching_the_weights(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    model_config = read_config(path)
    data = TrainingData(path="data/kitchen", splits={"train": 8, "val": 2}, synthetic=False, made_by="user data")
    card = _card(model_config, data)
    before = load_file(str(path))
    write_card(path, card)
    assert read_card(path) == card
    after = load_file(str(path))
    assert before.keys() == after.keys() and all((before[k] == after[k]).all() for k in before)
    assert card.validation == {"source": "val split", "videos": 5, "dense_accuracy": 0.9, "threshold_accuracy": 0.88,
                               "threshold_selected": 0.12}
    assert card.test is None and card.unknown == () and card.recipe == {"lr": 0.002}
    # an evaluation adds the test figures, nothing else
    report = {"split": "test", "videos": 4, "settings": {"dense": {"accuracy": 0.75, "selected_fraction": 1.0,
                                                                    "per_video": []}}}
    write_card(path, with_test_figures(card, report))
    assert read_card(path).test == {"split": "test", "videos": 4, "by": "vidgate evaluate",
                                    "settings": {"dense": {"accuracy": 0.75, "selected_fraction": 1.0}}}
    assert read_card(path).data == data


def test_a_card_of_another_model_is_refused(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    other = ModelCard(name="tiny-test", version="0.1.0", classes=("a", "b"))
    with pytest.raises(CheckpointError, match="classes"):
        write_card(path, other)
    model = VidGate(ModelConfig(classes=("a", "b"), light="tiny2d", heavy="tiny3d", num_kernels=4, gate_hidden=8))
    with pytest.raises(CheckpointError, match="describes"):
        save_checkpoint(model, tmp_path / "x.safetensors", card=dataclasses.replace(other, name="someone-else"))


def test_a_checkpoint_without_a_card_gets_one_that_says_what_is_unknown(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    card = read_card(path)
    assert card.name == "tiny-test" and card.classes == ("pour", "stir", "wait")
    assert card.data.synthetic is None and not card.synthetic
    assert {"data.path", "data.synthetic", "test", "validation", "recipe"} <= set(card.unknown)
    assert card.intended_use.startswith("Unknown") and card.limits


def test_a_synthetic_data_set_is_recorded_as_such(tmp_path: Path) -> None:
    config = SynthConfig(videos=3, classes=2, size=32, min_snippets=15, max_snippets=15, splits=(0.67, 0.33, 0.0),
                         seed=5)
    data = training_data(load_dataset(write_synthetic_dataset(tmp_path / "synth", config)))
    assert data.synthetic is True and data.generator == json.loads(json.dumps(dataclasses.asdict(config)))
    assert data.made_by == "vidgate synth OUT --videos 3 --seed 5 --classes 2 --size 32 --min-snippets 15 " \
                           "--max-snippets 15 (and splits as in generator)"
    assert data.splits == {"train": 2, "val": 1}
    _, limits = use_and_limits(data, ("a", "b"), False)
    assert SYNTHETIC_MEANING in limits and "vidgate train" in limits[-1]
    # a folder that says nothing of its origin is the user's own data
    (tmp_path / "synth" / "dataset.json").unlink()
    assert training_data(load_dataset(tmp_path / "synth")).synthetic is False


def test_the_demo_model_has_a_card_of_its_synthetic_benchmark() -> None:
    card = read_card(DEMO_CHECKPOINT)
    assert card.name == "vidgate-demo" and card.synthetic and card.unknown == ()
    assert card.data.generator is not None and card.data.made_by.startswith("vidgate synth")
    assert sum(card.data.splits.values()) == card.data.generator["videos"]
    assert card.validation and card.validation["videos"] == card.data.splits["val"]
    assert card.test and card.test["videos"] == card.data.splits["test"]
    assert set(card.test["settings"]) >= {"dense", "gated threshold"}
    assert card.calibration["threshold"] == read_metadata(DEMO_CHECKPOINT)["config"]["threshold"]
    assert SYNTHETIC_MEANING in card.limits and card.recipe
    assert read_concept_examples(DEMO_CHECKPOINT, 0)  # rewriting the card kept the concept examples


def test_the_shipped_examples_are_small_test_videos_of_the_demo_classes() -> None:
    examples = load_examples(EXAMPLES_DIR)
    card = read_card(DEMO_CHECKPOINT)
    assert len(examples) >= 3 and len({e.label for e in examples}) == len(examples)
    assert sum(e.size for e in examples) < 4 * 1024**2
    for e in examples:
        assert (EXAMPLES_DIR / e.file).stat().st_size == e.size
        assert e.label in card.classes and e.source["split"] == "test"
        assert e.events and all(0 <= t.start < t.end <= e.duration for t in e.events)
    assert evaluation_figures({"split": "test", "videos": 1, "settings": {}})["settings"] == {}
