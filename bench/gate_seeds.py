"""How much the gate stage alone moves the figures, and whether validation sees it.

    python -m bench.gate_seeds          # after `python -m bench.structure`: its temporal run's stages
    python -m bench.gate_seeds --runs   # every gate run training kept in the work folder, on test

The gate stage (concept kernels, gate and head, trained together on cached features) takes about a
minute. This trains it again with other seeds on a copy of one finished run's work folder (the light
and heavy stages and cached features are that run's, shared) and evaluates each on the test split with
`vidgate evaluate`'s code, next to the finished run itself. If validation ranks the seeds as test does,
training the gate stage from several seeds and keeping the best on validation is cheap accuracy.
Writes the "gate-seeds" section of docs/benchmarks.md.

With ``--runs`` nothing trains: training already ran the gate stage ``gate_runs`` times
(``gate.runR.pt`` in the work folder) and kept one by validation (``keep_run``: of the runs within
``gate_run_tolerance`` of the best in score and dense accuracy, the smallest calibrated selection); this
evaluates every run on test, so the section ("gate-runs-NAME") shows whether validation's choice beat the runs it passed
over, and which run the best score alone would have kept.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from models.checkpoint import load_checkpoint
from pipelines.datasets import load_dataset
from pipelines.evaluation import evaluate
from pipelines.recognizer import Recognizer
from pipelines.training import TrainConfig
from pipelines.training.gate import keep_run, set_threshold, validation_score

from .heads import recipe_of, train_run
from .report import machine, shown, write_section

ROOT = Path(__file__).resolve().parents[1]


def _row(label: str, training: dict[str, Any], report: dict[str, Any]) -> str:
    s = report["settings"]
    cells = []
    for setting in ("dense", "gated 25%"):
        groups = s[setting].get("groups") or {}
        cells.append(f"{s[setting]['accuracy']:.3f} | " + " | ".join(
            f"{groups[g]['accuracy']:.3f}" for g in ("order", "count", "other") if g in groups))
    calibration, learned = training.get("calibration") or {}, s["gated threshold"]
    promised = f"{100 * calibration['val_selected']:.1f}%" if "val_selected" in calibration else "—"
    score = validation_score({"dense_accuracy": training["val_dense_accuracy"],
                              "budget_accuracy": training["val_budget_accuracy"]})
    return (f"| {label} | {training['val_dense_accuracy']:.3f} | {training['val_budget_accuracy']:.3f} | "
            f"{score:.3f} | " + " | ".join(cells) + f" | {promised} | {learned['accuracy']:.3f} on "
            f"{100 * learned['selected_fraction']:.1f}% |")


def runs(args: argparse.Namespace) -> None:
    """Evaluate on test every gate run of the finished run (the kept checkpoint with each run's parts)."""
    dataset = load_dataset(args.data)
    checkpoint = args.work.with_name(args.work.name.removesuffix(".work"))
    training = json.loads((args.run / "training.json").read_text())
    rows, dense = [], []
    model, _ = load_checkpoint(checkpoint)  # each run's state holds every part the gate stage trains
    for run in training["gate_runs"]:
        state = torch.load(args.work / f"gate.run{run['run']}.pt", map_location="cpu", weights_only=True)
        model.load_state_dict({**model.state_dict(), **state["model"]})
        calibration = state["summary"]["calibration"]
        set_threshold(model, calibration["threshold"], calibration["rule"])
        report = evaluate(Recognizer(model, isolate=False), dataset, budgets=(0.25,))
        dense.append(report["settings"]["dense"]["accuracy"])
        kept = " (kept)" if run["run"] == training["gate_run"] else ""
        rows.append(_row(f"run {run['run']}, seed {run['seed']}{kept}", state["summary"], report))
        print(rows[-1], flush=True)
    kept_dense = dense[training["gate_run"] - 1]
    by_score = keep_run([{**r, "val_selected": 0.0} for r in training["gate_runs"]], 0.0)["run"]
    tolerance = TrainConfig.gate_run_tolerance
    today = (f"; today's rule (of the runs within {tolerance:g} of the best-scoring run on validation, by score "
             "and by dense accuracy, the one whose calibrated threshold selects least) keeps run "
             f"{keep_run(training['gate_runs'], tolerance)['run']}" if "val_selected" in training["gate_runs"][0]
             else "")
    groups = [g for g in ("order", "count", "other") if g in (report["settings"]["dense"].get("groups") or {})]
    cells = "".join(f" {g} |" for g in groups)
    lines = [
        f"## Gate runs: did validation keep the best? ({args.name})",
        "",
        f"`python -m bench.gate_seeds --runs --data {shown(args.data)} --work {shown(args.work)} --run "
        f"{shown(args.run)} --name {args.name}` on {machine()}. Training ran the gate stage "
        f"{len(training['gate_runs'])} times (`--gate-runs`) on the same light and heavy stages and kept run "
        f"{training['gate_run']} ({training['validation']['videos']} validation videos); the best validation score "
        f"(gated + ½ dense) alone keeps run {by_score}{today}. Each run here is "
        f"evaluated on the {len(dataset.split('test'))} test videos. Validation: dense and gated at the target "
        f"ratio ({100 * training['config']['target_ratio']:g}%), and the share of snippets each run's "
        "calibrated threshold selects there; test: accuracy over all classes, then per group where the data set "
        "has groups, and each run's accuracy and selection at its own learned threshold.",
        "",
        f"| gate run | val dense | val gated | val score | dense |{cells} gated 25% |{cells} val threshold selects | "
        "learned threshold |",
        "|---|---|---|---|---|---|---|---|" + "---|" * 2 * len(groups),
        *rows,
        "",
        f"Test dense accuracy of the kept run {kept_dense:.3f}; mean over the runs {sum(dense) / len(dense):.3f} "
        f"(what one run of the stage gives on average), best {max(dense):.3f}, worst {min(dense):.3f}.",
    ]
    write_section(f"gate-runs-{args.name}", "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "structure" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "structure" / "temporal.safetensors.work")
    parser.add_argument("--run", type=Path, default=ROOT / "docs" / "results" / "structure" / "temporal",
                        help="the finished run's evaluation.json and training.json")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--runs", action="store_true", help="evaluate the gate runs training kept instead")
    parser.add_argument("--name", default="structure", help="names the --runs section")
    args = parser.parse_args()
    if args.runs:
        runs(args)
        return
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
        "| gate stage | val dense | val gated | dense | order | count | other | gated 25% | order | count | other "
        "| val threshold selects | learned threshold |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    write_section("gate-seeds", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
