"""The light-pass ladder: accuracy and decoding cost per light pass, on the demo and unseen-data test splits.

    python -m bench.light_passes                      # both data sets (they must exist, see below)
    python -m bench.light_passes --sets demo

Data: the demo set (``python -m bench.demo`` writes data/demo/synth; the shipped model was trained on
it) and the unseen-data set with its model (``python -m bench.unseen`` writes data/unseen/). Each runs
``pipelines.evaluation.evaluate`` with gated 25% under every light pass, side by side in one run,
and the "light-passes" section of docs/benchmarks.md gets one table per data set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from models import DEMO_CHECKPOINT
from pipelines.datasets import load_dataset
from pipelines.evaluation import LIGHT_PASS_LADDER, evaluate, light_pass_table
from pipelines.recognizer import Recognizer

from .report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "demo": (ROOT / "data" / "demo" / "synth", DEMO_CHECKPOINT),
    "unseen": (ROOT / "data" / "unseen" / "data", ROOT / "data" / "unseen" / "model.safetensors"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="demo,unseen")
    parser.add_argument("--unseen-checkpoint", type=Path, default=SETS["unseen"][1],
                        help="model for the unseen set (default: the one bench.unseen trains)")
    parser.add_argument("--note", default="", help="a sentence for the section (e.g. how a model was trained)")
    args = parser.parse_args()
    SETS["unseen"] = (SETS["unseen"][0], args.unseen_checkpoint)
    out = ROOT / "docs" / "results" / "light-passes"
    out.mkdir(parents=True, exist_ok=True)
    for name in args.sets.split(","):
        data, checkpoint = SETS[name]
        with Recognizer(checkpoint, isolate=False) as recognizer:
            report = evaluate(recognizer, load_dataset(data), budgets=(0.25,), light_passes=LIGHT_PASS_LADDER)
        (out / f"{name}.json").write_text(json.dumps(report, indent=2))
    parts = [
        "## Light passes: accuracy and decoding cost",
        "",
        f"`python -m bench.light_passes` on {machine()}. Gated at a 25% budget with each light pass, every "
        "test video of each set, side by side in one run (decoding in-process). `frames decoded` counts frames "
        "handed to the codec, both passes (the light pass's share in brackets); `vs exact` is the accuracy "
        "difference on the same videos. Reports: docs/results/light-passes/." + (f" {args.note}" if args.note else ""),
    ]
    for path in sorted(out.glob("*.json")):
        report = json.loads(path.read_text())
        parts += ["", f"**{path.stem}** ({report['videos']} test videos):", "", light_pass_table(report)]
    write_section("light-passes", "\n".join(parts))
    print("\n".join(parts))


if __name__ == "__main__":
    main()
