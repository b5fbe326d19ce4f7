"""Does the learned threshold's promise hold on videos validation did not see? Rule against rule.

    python -m bench.calibration                      # the unseen-data bench's checkpoint and data set
    python -m bench.calibration --work data/unseen --splits 200

The calibration rule (``pipelines.training.gate.choose_threshold``) picks the learned threshold on
validation videos and promises an accuracy and a mean selection. This measures, for one trained
model, how each rule's promise holds on other videos: the gate's selection and the head's accuracy
at every candidate threshold are computed once for the validation and test videos together; then

* the real split: each rule chooses on the validation videos, test shows what held;
* random halves (``--splits`` draws, seeded): each rule chooses on one half of the held-out videos
  and the other half shows what held. How often the selection held within ±5 points, how often the
  accuracy at the threshold stayed within 2 points of dense, and the mean selection.

Nothing trains: the checkpoint's light, heavy, gate and head are used as trained; the test videos
are decoded once into ``WORK/calibration`` (the training never decodes them; validation videos come
from the training's frame cache). Writes the
"calibration" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import torch

from models import VidGate
from models.checkpoint import load_checkpoint, read_metadata
from pipelines.cache import cache_frames
from pipelines.datasets import DatasetItem, load_dataset
from pipelines.training import TrainConfig
from pipelines.training.features import Features, video_features
from pipelines.training.gate import SelectionCurve, choose_threshold, selection_curve
from pipelines.training.validation import validation_split

from .report import machine, shown, write_section

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = TrainConfig()
RULES = {  # name → (band, precision)
    "accuracy at the selection (before 2026-12-04)": (1.0, None),
    "accuracy over a band of selections": (DEFAULT.threshold_band, None),
    "band and precision (the default)": (DEFAULT.threshold_band, DEFAULT.threshold_precision),
}


def _held_out(data: Any, work: Path) -> list[DatasetItem]:
    """The validation videos the training used (its own record of a carve, or the ``val`` split), then test."""
    return list(validation_split(data, DEFAULT.val_fraction, DEFAULT.seed, work).val) + list(data.split("test"))


def _features(model: VidGate, items: list[DatasetItem], work: Path, folder: Path) -> Features:
    """Features of ``items``: validation videos from the training's frame cache, test videos decoded
    once into ``folder`` (training never decodes them)."""
    mc = model.config
    videos = []
    for split_items, cache in (([it for it in items if it.split != "test"], work / "frames"),
                               ([it for it in items if it.split == "test"], folder)):
        cached, failed = cache_frames([it.path for it in split_items], cache, size=max(mc.light_size, mc.heavy_size),
                                      snippet_frames=mc.snippet_frames, max_snippets=mc.max_snippets)
        if failed:
            raise SystemExit(f"could not decode: {failed}")
        videos += cached
    features = []
    for video in videos:
        light, heavy = video_features(model, video, torch.device("cpu"))
        features.append({"light": light, "heavy": heavy, "evidence": torch.zeros(len(light), mc.num_classes)})
    return features


def _held(curve: SelectionCurve, choice: dict[str, Any], videos: list[int]) -> dict[str, float]:
    """What the chosen threshold does on ``videos``."""
    g = int((curve.thresholds == choice["threshold"]).nonzero()[0])
    index = torch.tensor(videos)
    return {"selected": float(curve.selected[g, index].mean()), "accuracy": float(curve.correct[g, index].mean()),
            "dense": float(curve.dense[index].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "unseen",
                        help="a bench.unseen work folder: DATA/ and model.safetensors")
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--name", default="", help="a second model's section: calibration-NAME")
    args = parser.parse_args()
    torch.set_num_threads(2)
    checkpoint = args.work / "model.safetensors"
    model, _ = load_checkpoint(checkpoint)
    model.eval()
    data = load_dataset(args.work / "data", probe=False)
    work = Path(f"{checkpoint}.work")
    items = _held_out(data, work)
    targets = torch.zeros(len(items), model.config.num_classes)
    for i, it in enumerate(items):
        targets[i, data.label_index(it)] = 1.0
    curve = selection_curve(model, _features(model, items, work, args.work / "calibration"), targets)
    val = [i for i, it in enumerate(items) if it.split != "test"]
    test = [i for i, it in enumerate(items) if it.split == "test"]
    tolerance = DEFAULT.threshold_tolerance
    rng = random.Random(0)
    draws = []
    for _ in range(args.splits):
        order = list(range(len(items)))
        rng.shuffle(order)
        draws.append((sorted(order[: len(order) // 2]), sorted(order[len(order) // 2 :])))

    meta = read_metadata(checkpoint)
    lines = [
        "## Calibration: does the learned threshold's promise hold" + (f" ({args.name})" if args.name else ""),
        "",
        f"`python -m bench.calibration --work {shown(args.work)}"
        f" --splits {args.splits}{f' --name {args.name}' if args.name else ''}` on {machine()}: the checkpoint "
        f"in that folder"
        f" (stored threshold {meta['config']['threshold']:.4g}), its {len(val)} validation and {len(test)} test "
        f"videos, {len(curve.thresholds)} candidate thresholds. Tolerance {100 * tolerance:g} point; "
        "band and precision as named (`TrainConfig.threshold_band`, `threshold_precision`).",
        "",
        "Real split: chosen on validation, held on test.",
        "",
        "| rule | threshold | validation selected / accuracy / dense | test selected / accuracy / dense | "
        "selection drift | accuracy − dense on test |",
        "|---|---|---|---|---|---|",
    ]
    for name, (band, precision) in RULES.items():
        choice = choose_threshold(curve, tolerance, band, precision, videos=val)
        held = _held(curve, choice, test)
        lines.append(
            f"| {name} | {choice['threshold']:.4g} | {100 * choice['val_selected']:.1f}% / {choice['val_accuracy']:.3f}"
            f" / {choice['val_dense_accuracy']:.3f} | {100 * held['selected']:.1f}% / {held['accuracy']:.3f} / "
            f"{held['dense']:.3f} | {100 * (held['selected'] - choice['val_selected']):+.1f} pts | "
            f"{100 * (held['accuracy'] - held['dense']):+.1f} pts |")
    lines += [
        "",
        f"Random halves of the {len(items)} held-out videos ({args.splits} draws, seed 0): chosen on one half, "
        "held on the other.",
        "",
        "| rule | selection held within ±5 pts | accuracy within 2 pts of dense | mean selected | "
        "mean accuracy − promised |",
        "|---|---|---|---|---|",
    ]
    for name, (band, precision) in RULES.items():
        within, close, selected, drop = 0, 0, 0.0, 0.0
        for chosen_on, held_on in draws:
            choice = choose_threshold(curve, tolerance, band, precision, videos=chosen_on)
            held = _held(curve, choice, held_on)
            within += abs(held["selected"] - choice["val_selected"]) <= 0.05 + 1e-9
            close += held["accuracy"] - held["dense"] >= -0.02 - 1e-9
            selected += held["selected"] / len(draws)
            drop += (held["accuracy"] - choice["val_accuracy"]) / len(draws)
        lines.append(f"| {name} | {within / len(draws):.0%} | {close / len(draws):.0%} | {100 * selected:.1f}% | "
                     f"{100 * drop:+.1f} pts |")
    write_section("calibration" + (f"-{args.name}" if args.name else ""), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
