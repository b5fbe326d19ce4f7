"""How much do the demo figures move with the training seed? Same data, several training seeds.

    python -m bench.seeds --seeds 0,1,2                  # train + evaluate each seed, then the section
    python -m bench.seeds --seeds 3 --device cuda        # add a seed (kept runs are not repeated)
    python -m bench.seeds --seeds 1,2 --with-demo        # seed 0 is the demo run (bench.demo), reused
    python -m bench.seeds --report-only                  # rewrite the section from the kept runs

The data set is the demo's (``vidgate synth`` defaults, 300 videos, data seed 0); each training seed
runs the default recipe (``TrainConfig(seed=S)``) and ``vidgate evaluate``'s settings on the test
split. Each run's report is kept in docs/results/seeds/seed{S}.json; the "seeds" section of
docs/benchmarks.md gives every seed's figures, their spread, and gated-vs-dense paired over all
seeds' test videos (a 45-video test split decides a one-point target by a single video).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from pipelines.datasets import load_dataset
from pipelines.evaluation import evaluate
from pipelines.evaluation_report import bootstrap_interval, correct_by_video
from pipelines.recognizer import Recognizer
from pipelines.synth import SynthConfig, write_synthetic_dataset
from pipelines.training import TrainConfig, train

from .report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("dense", "uniform 25%", "gated 10%", "gated 25%", "gated threshold")


def run_seed(data: Path, work: Path, seed: int, device: str) -> dict[str, Any]:
    checkpoint = work / f"seed{seed}.safetensors"
    shutil.rmtree(checkpoint.with_name(checkpoint.name + ".work"), ignore_errors=True)  # from scratch
    start = time.perf_counter()
    train(load_dataset(data), checkpoint, TrainConfig(seed=seed, device=device), show_progress=False,
          log=lambda line: print(f"seed {seed}: {line}", flush=True))
    train_s = time.perf_counter() - start
    report = evaluate(Recognizer(checkpoint, isolate=False, device=device), load_dataset(data))
    return {"seed": seed, "machine": machine(), "device": device, "train_s": train_s, "report": report}


def section(runs: list[dict[str, Any]]) -> str:
    runs = sorted(runs, key=lambda r: r["seed"])
    head = ("| training seed | " + " | ".join(COLUMNS)
            + " | gated 25% vs dense: right only gated / only dense | train min |")
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    by_video: dict[str, list[float]] = {}  # gated 25% minus dense, per test video, one entry per seed
    for run in runs:
        s, paired = run["report"]["settings"], run["report"]["paired_with_dense"]["gated 25%"]
        threshold = f" ({100 * s['gated threshold']['selected_fraction']:.1f}%)"
        cells = [f"{s[c]['accuracy']:.3f}" + (threshold if c == "gated threshold" else "") for c in COLUMNS]
        lines.append(f"| {run['seed']} | " + " | ".join(cells)
                     + f" | {len(paired['only_here'])} / {len(paired['only_dense'])} | {run['train_s'] / 60:.1f} |")
        dense, gated = correct_by_video(s["dense"]), correct_by_video(s["gated 25%"])
        for video in dense:
            by_video.setdefault(video, []).append(float(gated[video]) - float(dense[video]))
    if len(runs) > 1:
        spread = []
        for c in COLUMNS:
            values = [r["report"]["settings"][c]["accuracy"] for r in runs]
            spread.append(f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}")
        lines.append("| mean ± sd | " + " | ".join(spread) + " | | |")
    # Every seed sees the same test videos: resample videos (each with its mean over seeds), not pairs.
    per_video = [statistics.fmean(d) for d in by_video.values()]
    low, high = bootstrap_interval(per_video)
    mean = statistics.fmean(per_video) if per_video else 0.0
    devices = sorted({r["machine"] for r in runs})
    videos = runs[0]["report"]["videos"] if runs else 0
    return "\n".join([
        "## Training seed: how much the demo figures move",
        "",
        f"`python -m bench.seeds --seeds {','.join(str(r['seed']) for r in runs)}` on {'; '.join(devices)}. "
        f"The demo's data set (300 videos, data seed 0), the default recipe with each training seed, "
        f"{videos} test videos; accuracy per setting (gated threshold: share of snippets selected).",
        "",
        *lines,
        "",
        f"Gated 25% minus dense, averaged over the seeds: {100 * mean:+.1f} pts, 95% paired bootstrap "
        f"interval [{100 * low:+.1f}, {100 * high:+.1f}] (resampling the {len(per_video)} test videos). "
        "Training times are wall clock on a shared machine, measured in separate runs.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "seeds")
    parser.add_argument("--data", type=Path, help="the demo data set if already generated (default: WORK/synth)")
    parser.add_argument("--with-demo", action="store_true",
                        help="the last bench.demo run (docs/results/) as training seed 0: same data, same recipe")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "seeds")
    parser.add_argument("--report-only", action="store_true", help="rewrite the section from the kept runs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.with_demo:
        results = ROOT / "docs" / "results"
        timings = json.loads((results / "timings.json").read_text())
        demo = {"seed": 0, "machine": machine(), "device": "cpu", "train_s": timings["train"],
                "report": json.loads((results / "evaluation.json").read_text())}
        (args.out / "seed0.json").write_text(json.dumps(demo, indent=1))
    if not args.report_only:
        data = args.data or args.work / "synth"
        if not (data / "annotations.csv").exists():
            write_synthetic_dataset(data, SynthConfig(videos=args.videos, seed=0), workers=2)
        for seed in (int(s) for s in args.seeds.split(",")):
            kept = args.out / f"seed{seed}.json"
            if kept.exists():
                continue
            run = run_seed(data, args.work, seed, args.device)
            kept.write_text(json.dumps(run, indent=1))
    runs = [json.loads(p.read_text()) for p in sorted(args.out.glob("seed*.json"))]
    if not runs:
        raise SystemExit(f"no kept runs in {args.out}")
    text = section(runs)
    write_section("seeds", text)
    print(text)


if __name__ == "__main__":
    main()
