"""How the head averages the selected snippets: the plain mean against learned relevance weights.

    python -m bench.pooling      # the unseen-data bench's run, after `python -m bench.unseen` (its work folder)
    python -m bench.pooling --data DATA --work CK.work --name NAME   # any finished training run

Pooling changes only the gate stage (gate and head train together, on cached features), so each
pooling trains that stage on a copy of a finished run's work folder with the run's own recipe (its
``gate_runs`` seeds) and the figures compared are each seed's validation figures: dense, and gated
at the target ratio, and where the calibration rule put the learned threshold (its validation selection
and accuracy). The run each pooling keeps is then evaluated on the validation split with `vidgate
evaluate`'s code (where the data set has one): dense, gated at 25% and at the learned threshold, and
the gate's relevant recall (events shown by a selected snippet). The test split is not read;
`bench.unseen` reports test figures for the default. Writes the "pooling-NAME" section of docs/results.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from models import POOLINGS
from pipelines.datasets import load_dataset
from pipelines.evaluation import evaluate
from pipelines.recognizer import Recognizer
from pipelines.training.work import Stage

from .heads import RESULTS, _cells, recipe_of, train_run
from .report import machine, shown, write_section

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "unseen" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "unseen" / "model.safetensors.work")
    parser.add_argument("--name", default="unseen")
    args = parser.parse_args()
    out = ROOT / "data" / f"pooling-{args.name}"
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {}
    seconds: dict[str, float] = {}
    reports: dict[str, dict[str, Any]] = {}
    dataset = load_dataset(args.data)
    for pooling in POOLINGS:
        config = recipe_of(args.work, head_pooling=pooling)
        checkpoint = out / f"{pooling}.safetensors"
        summary, seconds[pooling] = train_run(args.data, checkpoint, config, seed_from=args.work)
        runs[pooling] = summary.get("gate_runs") or [{"seed": config.seed, **summary}]
        work = checkpoint.with_name(checkpoint.name + ".work")
        for r in runs[pooling]:  # each run's own calibration (the kept run's is the checkpoint's)
            stage = Stage(work, f"gate.run{r['run']}" if "run" in r else "gate")
            r["calibration"] = stage.load()["summary"].get("calibration", {})
        if dataset.split("val"):
            reports[pooling] = evaluate(Recognizer(checkpoint, isolate=False), dataset, split="val", budgets=(0.25,))
    seeds = [r["seed"] for r in runs[POOLINGS[0]]]
    lines = [
        f"## Head pooling on the same light and heavy stages: {args.name}",
        "",
        f"`python -m bench.pooling --data {shown(args.data)} --work {shown(args.work)} --name {args.name}` on "
        f"{machine()}. Each pooling "
        "trained the gate stage (gate and head together) on a copy of one finished run's work folder, with that "
        f"run's recipe and its {len(seeds)} gate seeds; gate stage: "
        + ", ".join(f"{p} {seconds[p] / 60:.1f} min" for p in POOLINGS)
        + ". Validation figures (the test split is not read):",
        "",
        "| pooling | " + " | ".join(f"seed {s} dense / gated" for s in seeds) + " | mean dense | mean gated |",
        "|---|" + "---|" * (len(seeds) + 2),
    ]
    for pooling in POOLINGS:
        rows = runs[pooling]
        cells = [f"{r['val_dense_accuracy']:.3f} / {r['val_budget_accuracy']:.3f}" for r in rows]
        dense = sum(r["val_dense_accuracy"] for r in rows) / len(rows)
        gated = sum(r["val_budget_accuracy"] for r in rows) / len(rows)
        lines.append(f"| {pooling} | " + " | ".join(cells) + f" | {dense:.3f} | {gated:.3f} |")
    lines += ["", "Where each seed's calibration put the learned threshold (validation selection / accuracy there):",
              "", "| pooling | " + " | ".join(f"seed {s}" for s in seeds) + " | mean selection |",
              "|---|" + "---|" * (len(seeds) + 1)]
    for pooling in POOLINGS:
        calibrations = [r["calibration"] for r in runs[pooling]]
        cells = [f"{100 * c['val_selected']:.1f}% / {c['val_accuracy']:.3f}" if c else "—" for c in calibrations]
        chosen = [c["val_selected"] for c in calibrations if c]
        mean = f"{100 * sum(chosen) / len(chosen):.1f}%" if chosen else "—"
        lines.append(f"| {pooling} | " + " | ".join(cells) + f" | {mean} |")
    if reports:
        lines += ["", f"The kept run of each pooling on the {reports[POOLINGS[0]]['videos']} validation videos "
                  "(`vidgate evaluate --split val`):", "",
                  "| pooling | setting | accuracy | snippets selected | − dense (95% interval) | relevant recall |",
                  "|---|---|---|---|---|---|"]
        for pooling in POOLINGS:
            for setting in ("dense", "gated 25%", "gated threshold"):
                lines.append(f"| {pooling} | {setting} | {_cells(reports[pooling], setting)} |")
    lines += ["", "Gated: at the recipe's target ratio. One validation video is "
              f"{100 / summary['validation']['videos']:.1f} points."]
    text = "\n".join(lines)
    write_section(f"pooling-{args.name}", text, path=RESULTS)
    print(text)


if __name__ == "__main__":
    main()
