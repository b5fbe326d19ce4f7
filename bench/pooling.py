"""How the head averages the selected snippets: the plain mean against learned relevance weights.

    python -m bench.pooling      # the unseen-data bench's run, after `python -m bench.unseen` (its work folder)
    python -m bench.pooling --data DATA --work CK.work --name NAME   # any finished training run

Pooling changes only the gate stage (gate and head train together, on cached features), so each
pooling trains that stage on a copy of a finished run's work folder with the run's own recipe (its
``gate_runs`` seeds) and the figures compared are each seed's validation figures: dense, and gated
at the target ratio. The test split is not read; `bench.unseen` reports test figures for the default.
Writes the "pooling-NAME" section of docs/results.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from models import POOLINGS

from .heads import RESULTS, recipe_of, train_run
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
    runs: dict[str, list[dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    for pooling in POOLINGS:
        config = recipe_of(args.work, head_pooling=pooling)
        summary, seconds[pooling] = train_run(args.data, out / f"{pooling}.safetensors", config, seed_from=args.work)
        runs[pooling] = summary.get("gate_runs") or [{"seed": config.seed, **summary}]
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
    lines += ["", "Gated: at the recipe's target ratio. One validation video is "
              f"{100 / summary['validation']['videos']:.1f} points."]
    text = "\n".join(lines)
    write_section(f"pooling-{args.name}", text, path=RESULTS)
    print(text)


if __name__ == "__main__":
    main()
