"""How much the gate stage alone moves the figures, and whether validation sees it.

    python -m bench.gate_seeds          # after `python -m bench.structure`: its temporal run's stages

The gate stage (concept kernels, gate and head, trained together on cached features) takes about a
minute. This trains it again with other seeds on a copy of one finished run's work folder (the light
and heavy stages and cached features are that run's, shared) and evaluates each on the test split with
`vidgate evaluate`'s code, next to the finished run itself. If validation ranks the seeds as test does,
training the gate stage from several seeds and keeping the best on validation is cheap accuracy.
Writes the "gate-seeds" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipelines.datasets import load_dataset
from pipelines.evaluation import evaluate
from pipelines.recognizer import Recognizer

from .heads import recipe_of, train_run
from .report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]


def _row(label: str, training: dict[str, Any], report: dict[str, Any]) -> str:
    s = report["settings"]
    cells = []
    for setting in ("dense", "gated 25%"):
        groups = s[setting].get("groups") or {}
        cells.append(f"{s[setting]['accuracy']:.3f} | " + " | ".join(
            f"{groups[g]['accuracy']:.3f}" for g in ("order", "count", "other") if g in groups))
    return (f"| {label} | {training['val_dense_accuracy']:.3f} | {training['val_budget_accuracy']:.3f} | "
            + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "structure" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "structure" / "temporal.safetensors.work")
    parser.add_argument("--run", type=Path, default=ROOT / "docs" / "results" / "structure" / "temporal",
                        help="the finished run's evaluation.json and training.json")
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    run_training = json.loads((args.run / "training.json").read_text())
    run_report = json.loads((args.run / "evaluation.json").read_text())
    rows = [_row(f"the run (seed {run_training['config']['seed']})", run_training, run_report)]
    for seed in (int(s) for s in args.seeds.split(",")):
        checkpoint = ROOT / "data" / "gate-seeds" / f"seed{seed}.safetensors"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        config = recipe_of(args.work, seed=seed, gate_runs=1)  # the plain stage, once per seed
        training, _ = train_run(args.data, checkpoint, config, seed_from=args.work)
        report = evaluate(Recognizer(checkpoint, isolate=False), dataset, budgets=(0.25,))
        rows.append(_row(f"gate stage again, seed {seed}", training, report))
        print(rows[-1], flush=True)
    lines = [
        "## Gate stage: how much one seed moves the figures (order/count set)",
        "",
        f"`python -m bench.gate_seeds --seeds {args.seeds}` on {machine()}. The gate stage (kernels, gate, "
        "head) trained again with each seed on the light and heavy stages and cached features of the "
        f"`python -m bench.structure` run (temporal head), evaluated on the same {run_report['videos']} test "
        f"videos. Validation: {run_training['validation']['videos']} videos, dense and gated at the target "
        f"ratio ({100 * run_training['config']['target_ratio']:g}%); test: accuracy over all classes, then per "
        "group (order, count, other).",
        "",
        "| gate stage | val dense | val gated | dense | order | count | other | gated 25% | order | count | other |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    write_section("gate-seeds", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
