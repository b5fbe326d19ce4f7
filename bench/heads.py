"""Which head: the pool head and the temporal head on the same light and heavy stages.

    python -m bench.heads        # the demo set, after `python -m bench.demo` (its work folder)
    python -m bench.heads --data DATA --work CK.work --name NAME   # any finished training run

A head changes only the gate stage (gate and head train together, on cached features), so each head
trains that stage on a copy of a finished run's work folder (decoded frames shared, not copied) with
the run's own recipe, and both are evaluated with `vidgate evaluate`'s code on the same test videos.
The difference between the two is then the head's alone, not a different heavy network's. Writes the
"heads-NAME" section of docs/results.md and the reports to docs/results/heads-NAME/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

from pipelines.datasets import load_dataset
from pipelines.evaluation import evaluate
from pipelines.evaluation_report import write_report
from pipelines.recognizer import Recognizer
from pipelines.training import TrainConfig, train
from pipelines.training.work import NOT_RECIPE, write_json

from .report import machine, shown, write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results.md"
HEADS = ("pool", "temporal")


def train_run(data: Path, checkpoint: Path, config: TrainConfig, seed_from: Path | None = None
              ) -> tuple[dict[str, Any], float]:
    """Train ``config`` into ``checkpoint``; with ``seed_from`` (a finished run's work folder) only the
    gate stage trains: the frames, light, heavy and feature stages are the seed's (``config`` may
    differ from its recipe only in what the gate stage reads, e.g. head or seed)."""
    work = checkpoint.with_name(checkpoint.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    if seed_from is not None:
        shutil.copytree(seed_from, work, ignore=shutil.ignore_patterns("gate.*", "summary.json", "frames"))
        (work / "frames").symlink_to((seed_from / "frames").resolve())  # several GB: shared, not copied
        recipe = json.loads((work / "recipe.json").read_text())
        options = dataclasses.asdict(config)  # the seed's recipe with this run's changes (head, seed)
        write_json(work / "recipe.json", {**recipe, **{k: v for k, v in options.items() if k not in NOT_RECIPE}})
    start = time.perf_counter()
    summary = train(load_dataset(data), checkpoint, config)
    return summary, time.perf_counter() - start


def recipe_of(work: Path, **changes: Any) -> TrainConfig:
    """The `TrainConfig` a finished run used (its work folder's recipe.json), with ``changes``."""
    recipe = json.loads((work / "recipe.json").read_text())
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return dataclasses.replace(TrainConfig(**{k: v for k, v in recipe.items() if k in names}), **changes)


def _cells(report: dict[str, Any], setting: str) -> str:
    s = report["settings"][setting]
    paired = report.get("paired_with_dense", {}).get(setting)
    vs_dense = "" if paired is None else (
        f"{100 * paired['difference']:+.1f} pts "
        f"[{100 * paired['interval'][0]:+.1f}, {100 * paired['interval'][1]:+.1f}]"
    )
    recall = s.get("relevant_recall")
    return (f"{s.get('mAP', s['accuracy']):.3f} | {100 * s['selected_fraction']:.1f}% | {vs_dense or '—'} | "
            f"{'—' if recall is None else f'{recall:.3f}'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo" / "synth")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "demo" / "demo.safetensors.work")
    parser.add_argument("--name", default="demo")
    args = parser.parse_args()
    out = ROOT / "data" / f"heads-{args.name}"
    out.mkdir(parents=True, exist_ok=True)
    reports: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for head in HEADS:
        checkpoint = out / f"{head}.safetensors"
        _, seconds[head] = train_run(args.data, checkpoint, recipe_of(args.work, head=head), seed_from=args.work)
        reports[head] = evaluate(Recognizer(checkpoint, isolate=False), load_dataset(args.data), budgets=(0.25,))
        write_report(reports[head], ROOT / "docs" / "results" / f"heads-{args.name}" / head)
    lines = [
        f"## Heads on the same light and heavy stages: {args.name}",
        "",
        f"`python -m bench.heads --data {shown(args.data)}"
        f" --name {args.name}` on {machine()}. Each head trained the gate stage (gate and head together) on "
        f"a copy of one finished run's work folder, with that run's recipe; gate stage: "
        + ", ".join(f"{h} {seconds[h] / 60:.1f} min" for h in HEADS)
        + f". Test split: {reports[HEADS[0]]['videos']} videos.",
        "",
        "| head | setting | accuracy | snippets selected | − dense (95% interval) | relevant recall |",
        "|---|---|---|---|---|---|",
    ]
    for head in HEADS:
        for setting in ("dense", "gated 25%", "gated threshold"):
            lines.append(f"| {head} | {setting} | {_cells(reports[head], setting)} |")
    lines += ["", f"Evaluation tables: docs/results/heads-{args.name}/."]
    text = "\n".join(lines)
    write_section(f"heads-{args.name}", text, path=RESULTS)
    print(text)


if __name__ == "__main__":
    main()
