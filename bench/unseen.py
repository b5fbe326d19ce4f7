"""Do the training defaults work on data they were not tuned on? Timed, through the real CLI.

    python -m bench.unseen                     # 240 videos of 30–89 s, 144×144 at 25 fps, 12 classes
    python -m bench.unseen --set order-count   # 300 videos of 60–150 s, 14 classes: order, count and direction
    python -m bench.unseen --set order-count --train "--head-events 8"   # with training options
    python -m bench.unseen --reuse             # write the section again from the last run (no training)
    python -m bench.unseen --stages WORK       # only the gate stage trains, on an earlier run's other stages
    python -m bench.unseen --stages WORK --train "--gate-gradient all"   # ... with another gate-stage option
    python -m bench.unseen --set small --frozen   # the small-data recipe's training time: 100 videos of 1 min

Each set is generated once with ``vidgate synth``'s code and made unlike the demo's, on which the
defaults were chosen:

* ``unseen``: other resolution, frame rate, length, class count, event length (24 frames ≈ 1 s instead
  of 8) and more distractors; classes are bags of events, as the demo's;
* ``order-count``: classes that share their events: order pairs show the same two events 20 s or more
  apart in either order, count pairs show one event once or three times, the others differ in one
  event's motion direction (``--multi-label``: half the videos show a second class).

``small`` is 100 videos of about a minute, the size the small-data recipe is for: ``--frozen`` times
``vidgate train --freeze-trunks`` with mobilenet_v3_small and x3d_xs weight files in their publishers'
layouts, holding random values (no published weights can be fetched here), so it measures the recipe's
training time, not what real weights make it learn, and writes the "small-frozen" section of
docs/own-footage.md.

Otherwise it runs exactly ``vidgate train DATASET --out CK`` (plus ``--train``'s options, stated in the section)
and ``vidgate evaluate CK DATASET``, timed (generating is not), and writes the set's section of
docs/benchmarks.md; the full evaluation lands in WORK/evaluation/. With ``--stages`` (a copy of an
earlier run's work folder) only the gate stage trains, on that run's frames, light and heavy stages and
features: a change that touches only the gate stage is then measured on the same draw of the rest.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pipelines.synth import SynthConfig

from .common import ROOT, fresh_run, gate_runs_note, machine, shown, write_section

SETS = {
    "unseen": SynthConfig(videos=240, seed=11, classes=12, size=144, fps=25.0, snippet_frames=24, min_snippets=31,
                          max_snippets=93, max_distractors=6, noise=1.0, crf=30),
    # 300 videos of 60–150 s (the size of data a training should finish on within the hour on 2 cores):
    # events of 24 frames (1.6 s at 15 fps), longer than the gaps a 128-snippet plan leaves, so every event
    # overlaps a planned snippet; order pairs two events at least 20 s apart.
    "order-count": SynthConfig(videos=300, seed=33, classes=6, order_classes=4, count_classes=4, min_gap_s=20.0,
                               size=128, fps=15.0, snippet_frames=24, min_snippets=37, max_snippets=93),
    "small": SynthConfig(videos=100, seed=21, size=128, min_snippets=84, max_snippets=96),
}
SETTINGS = ("dense", "uniform 25%", "gated 10%", "gated 25%", "gated 50%", "gated threshold")


def _describe(c: SynthConfig) -> str:
    seconds = (c.min_snippets * c.snippet_frames / c.fps, c.max_snippets * c.snippet_frames / c.fps)
    classes = f"{c.total_classes} classes" + (
        f" ({c.classes} direction, {c.order_classes} order, {c.count_classes} count)"
        if c.order_classes or c.count_classes else "")
    return (f"{c.videos} videos, {classes}, {c.size}×{c.size} px at {c.fps:g} fps, "
            f"{seconds[0]:.0f}–{seconds[1]:.0f} s per video, events of {c.snippet_frames} frames")


def _vidgate(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "service.cli", *args], check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="name", choices=sorted(SETS), default="unseen")
    parser.add_argument("--videos", type=int, help="how many videos (default: the set's)")
    parser.add_argument("--multi-label", action="store_true", help="half the videos show a second class")
    parser.add_argument("--train", default="", help="`vidgate train` options beyond the defaults, as one string")
    parser.add_argument("--work", type=Path, help="default: data/SET")
    parser.add_argument("--reuse", action="store_true", help="write the section from the last run's evaluation, "
                                                             "training summary and timings")
    parser.add_argument("--stages", type=Path, default=None,
                        help="an earlier run's work folder (a copy): only the gate stage trains, on its stages")
    parser.add_argument("--frozen", action="store_true", help="time the small-data recipe (--freeze-trunks) on "
                        "publisher-layout weight files of random values; no evaluation")
    args = parser.parse_args()
    config = dataclasses.replace(SETS[args.name], videos=args.videos or SETS[args.name].videos,
                                 multi_label=args.multi_label)
    section = args.name + ("-multi" if args.multi_label else "")
    work = args.work or ROOT / "data" / section
    data, checkpoint, out = work / "data", work / "model.safetensors", work / "evaluation"
    if args.frozen:
        frozen_recipe(args.name, config, work)
        return
    if not args.reuse:
        fresh_run(data, config, checkpoint)  # train from scratch, not from a cache
        seconds: dict[str, Any] = {"command": _command(args, work), "train_options": args.train}
        if args.stages:  # the defaults, gate stage only (train_run copies the stages and records the recipe)
            from pipelines.training import TrainConfig

            from .common import train_run

            seconds["train"] = train_run(data, checkpoint, TrainConfig(**_fields(args.train)), seed_from=args.stages)[1]
            seconds["stages"] = shown(args.stages)
        else:
            seconds["train"] = _vidgate("train", str(data), "--out", str(checkpoint), *shlex.split(args.train))
        seconds["evaluate"] = _vidgate("evaluate", str(checkpoint), str(data), "--out", str(out))
        from models.checkpoint import read_metadata

        summary = read_metadata(checkpoint)["extra"].get("training", {})
        (out / "training.json").write_text(json.dumps(summary, indent=2))
        (out / "seconds.json").write_text(json.dumps(seconds))
    report = json.loads((out / "evaluation.json").read_text())
    summary = json.loads((out / "training.json").read_text())
    seconds = json.loads((out / "seconds.json").read_text())
    text = "\n".join(_section(args.name, config, report, summary, seconds))
    write_section(section, text)
    print(text)


def _publisher_files(folder: Path) -> tuple[Path, Path]:
    """mobilenet_v3_small and x3d_xs as their publishers save them (torchvision's state dict, pytorchvideo's
    ``.pyth``), with random values."""
    import warnings

    import torch
    from torchvision import models as tvm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pytorchvideo.models import hub
    folder.mkdir(parents=True, exist_ok=True)
    light, heavy = folder / "mobilenet_v3_small-047dcff4.pth", folder / "X3D_XS.pyth"
    torch.manual_seed(0)
    torch.save(tvm.mobilenet_v3_small(weights=None).state_dict(), light)
    torch.save({"epoch": 196, "model_state": hub.x3d_xs(pretrained=False).state_dict()}, heavy)
    return light, heavy


def _frozen_options(light: str, heavy: str) -> list[str]:
    """The small-data recipe's `vidgate train` options on the weight files ``light`` and ``heavy``."""
    return ["--freeze-trunks", "--light", "mobilenet_v3_small", "--light-weights", light, "--heavy", "x3d_xs",
            "--heavy-weights", heavy, "--light-size", "112", "--heavy-size", "112"]


def frozen_recipe(name: str, config: SynthConfig, work: Path) -> None:
    """Time ``vidgate train --freeze-trunks`` from scratch on the set; write its section of docs/own-footage.md."""
    data, checkpoint = work / "data", work / "model-frozen.safetensors"
    fresh_run(data, config, checkpoint)
    light, heavy = _publisher_files(work / "weights")
    seconds = _vidgate("train", str(data), "--out", str(checkpoint), *_frozen_options(str(light), str(heavy)))
    from models.checkpoint import read_metadata

    summary = read_metadata(checkpoint)["extra"]["training"]
    shown_options = " ".join(_frozen_options(light.name, heavy.name))
    lines = [
        f"#### The small-data recipe's training time: {config.videos} videos of about a minute",
        "",
        f"`python -m bench.unseen --set {name} --frozen` on {machine()}. Data: `vidgate synth` with "
        f"{_describe(config)}, seed {config.seed}. Training: `vidgate train DATA --out CK {shown_options}`, from "
        f"scratch: **{seconds / 60:.1f} min**{_stages(summary)}, {seconds / config.videos:.1f} s per video (target "
        "≤ 15 min for 100 videos of a minute). The weight files hold the publishers' architectures with random "
        "values, saved in their layouts: no published weights can be fetched here, so this times the recipe; "
        "what it learns depends on the real weights and is not measured.",
    ]
    write_section(f"{name}-frozen", "\n".join(lines), path=ROOT / "docs" / "own-footage.md")
    print("\n".join(lines))


def _fields(options: str) -> dict[str, Any]:
    """``--train``'s `vidgate train` options as ``TrainConfig`` fields (``--gate-gradient all`` → gate_gradient)."""
    from pipelines.training import TrainConfig

    defaults, words, fields = dataclasses.asdict(TrainConfig()), shlex.split(options), {}
    for flag, value in zip(words[::2], words[1::2], strict=True):
        name = flag.removeprefix("--").replace("-", "_")
        if name not in defaults:
            raise SystemExit(f"--train: {flag} is not a training option")
        fields[name] = value if defaults[name] is None else type(defaults[name])(value)
    return fields


def _command(args: argparse.Namespace, work: Path) -> str:
    parts = ["python -m bench.unseen", *([f"--set {args.name}"] if args.name != "unseen" else []),
             *([f"--videos {args.videos}"] if args.videos else []), *(["--multi-label"] if args.multi_label else []),
             *([f"--train {shlex.quote(args.train)}"] if args.train else []),
             *([f"--work {shown(work)}"] if args.work else []),
             *([f"--stages {shown(args.stages)}"] if args.stages else [])]
    return " ".join(parts)


def _stages(summary: dict[str, Any]) -> str:
    """The training summary's seconds per stage, as the section's reader needs them (empty when not recorded)."""
    stages = {k: v for k, v in summary.get("seconds", {}).items() if k != "total"}
    return (" (" + ", ".join(f"{name} {value / 60:.1f}" for name, value in stages.items()) + " min)") if stages else ""


def _section(name: str, config: SynthConfig, report: dict[str, Any], summary: dict[str, Any],
             seconds: dict[str, Any]) -> list[str]:
    s = report["settings"]
    metric = "mAP" if "mAP" in s["dense"] else "accuracy"
    stages, train_options = seconds.get("stages"), seconds.get("train_options", "")
    chance = 1 / config.total_classes
    lines = [
        f"## Training on data the defaults were not tuned on: {name}{' (multi-label)' if config.multi_label else ''}",
        "",
        f"`{seconds['command']}` on {machine()}. Data: `vidgate synth` with {_describe(config)}, up to "
        f"{config.max_distractors} distractors, seed {config.seed} (the demo's: {_describe(SynthConfig())}). "
        f"Training: `vidgate train DATA --out CK{' ' + train_options if train_options else ''}`"
        + (f", the gate stage only, on the other stages of {stages}" if stages else "")
        + f", {seconds['train'] / 60:.1f} min" + _stages(summary)
        + (f"; evaluation {seconds['evaluate'] / 60:.1f} min. " if "evaluate" in seconds else ". ")
        + f"Test split: {report['videos']} videos" + (f"; chance is {chance:.3f}." if metric == "accuracy" else "."),
        "",
        f"| setting | {metric} | snippets selected | heavy GFLOPs | relevant recall | − dense (95% interval) |",
        "|---|---|---|---|---|---|",
    ]
    for setting in (name for name in SETTINGS if name in s):  # `vidgate evaluate`'s, less the other baselines
        row, paired = s[setting], report.get("paired_with_dense", {}).get(setting)
        vs_dense = "—" if not paired else (f"{100 * paired['difference']:+.1f} pts [{100 * paired['interval'][0]:+.1f},"
                                           f" {100 * paired['interval'][1]:+.1f}]")
        lines.append(f"| {setting} | {row[metric]:.3f} | {100 * row['selected_fraction']:.1f}% ± "
                     f"{100 * row['selected_fraction_std']:.1f} | {row['heavy_gflops']:.2f} | "
                     f"{row.get('relevant_recall', float('nan')):.3f} | {vs_dense} |")
    groups = sorted(g for g in (s["dense"].get("groups") or {}) if g != "other" or len(s["dense"]["groups"]) > 1)
    if groups:
        pair = metric == "accuracy"
        lines += ["", f"Per class group: {metric}" + (" (pair right: the prediction is the class or its partner; a "
                  "head that ignores order gets an order pair right and is at chance inside it)" if pair else "")
                  + ":", "", "| setting | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
        for setting in ("dense", "gated 25%", "gated threshold"):
            figures = s[setting]["groups"]
            lines.append(f"| {setting} | " + " | ".join(
                f"{figures[g][metric]:.3f}" + (f" ({figures[g]['pair_accuracy']:.3f})" if pair else "")
                for g in groups) + " |")
    calibration = summary.get("calibration", {})
    learned = s["gated threshold"]
    lines += ["", f"Validation: {summary.get('validation', {}).get('videos', '?')} videos "
              f"({summary.get('validation', {}).get('source', '?')}). Learned threshold "
              f"{calibration.get('threshold', float('nan')):.4g}, chosen as the {calibration.get('rule', '?')}. "
              f"{gate_runs_note(summary)}".rstrip()]
    if calibration:
        drift = 100 * (learned["selected_fraction"] - calibration["val_selected"])
        # Both means come from a few dozen videos whose selections spread widely: the drift's 95% interval
        # (normal approximation, independent splits) says how far it moves by which videos fell where.
        noise = 100 * 1.96 * math.sqrt(calibration["val_selected_std"] ** 2 / max(1, calibration["val_videos"])
                                       + learned["selected_fraction_std"] ** 2 / max(1, report["videos"]))
        lines += [
            "", "| at the learned threshold | validation (promised) | test (held) |", "|---|---|---|",
            f"| dense {metric} | {calibration['val_dense_accuracy']:.3f} | {s['dense'][metric]:.3f} |",
            f"| {metric} | {calibration['val_accuracy']:.3f} | {learned[metric]:.3f} |",
            f"| snippets selected (± across videos) | {100 * calibration['val_selected']:.1f}% ± "
            f"{100 * calibration['val_selected_std']:.1f} | {100 * learned['selected_fraction']:.1f}% ± "
            f"{100 * learned['selected_fraction_std']:.1f} |",
            "", f"Selection drift {drift:+.1f} pts (95% interval ±{noise:.1f} from the spread across videos)."
            + (" The learned threshold selects nearly every snippet: on validation no smaller selection met the "
               "rule, so it saves nothing; budgets (`--budget 0.25`) still do." if learned["selected_fraction"] >= 0.99
               else ""),
        ]
    return lines


if __name__ == "__main__":
    main()
