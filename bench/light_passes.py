"""The light-pass ladder: accuracy and decoding cost per light pass, on the demo and unseen-data test splits.

    python -m bench.light_passes                      # both data sets (they must exist, see below)
    python -m bench.light_passes --sets demo
    python -m bench.light_passes --sets unseen-g12   # the unseen test split re-encoded, a keyframe every 12 frames

Data: the demo set (``python -m bench.demo`` writes data/demo/synth; the shipped model was trained on
it) and the unseen-data set with its model (``python -m bench.unseen`` writes data/unseen/). Each runs
``pipelines.evaluation.evaluate`` with gated 25% under every light pass, side by side in one run,
and the "light-passes" section of docs/benchmarks.md gets one table per data set. ``unseen-g12`` is the
unseen test split re-encoded with a keyframe every 12 frames: the only labelled videos here whose
keyframes outnumber their snippets, i.e. where ``auto`` aligns the plan.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from models import DEMO_CHECKPOINT
from pipelines.datasets import load_dataset
from pipelines.evaluation import LIGHT_PASS_LADDER, evaluate
from pipelines.evaluation_report import light_pass_table
from pipelines.recognizer import Recognizer

from .report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "demo": (ROOT / "data" / "demo" / "synth", DEMO_CHECKPOINT),
    "unseen": (ROOT / "data" / "unseen" / "data", ROOT / "data" / "unseen" / "model.safetensors"),
}
SHORT_GOP = 12  # keyframes denser than snippets: where ``auto`` aligns (every snippet kept, moved to a keyframe)


def reencoded_test_split(data: Path, gop: int) -> Path:
    """The test split of ``data`` re-encoded with a keyframe every ``gop`` frames (x264 veryfast, same frames)."""
    import csv

    import av

    from pipelines.encoding import write_video

    out = data.with_name(f"{data.name}-test-g{gop}")
    if (out / "annotations.csv").exists():
        return out
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader((data / "annotations.csv").open()))
    for row in rows:
        if row["split"] != "test":  # the other splits are only linked (a data set needs a train split)
            link = out / row["video"]
            if not link.exists():
                link.symlink_to((data / row["video"]).resolve())
            continue
        with av.open(str(data / row["video"])) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        write_video(out / row["video"], frames, fps=fps, gop=gop, crf=18)
    with (out / "annotations.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video", "label", "split"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in ("video", "label", "split")} for r in rows)
    for name in ("classes.txt", "relevance.json"):
        (out / name).write_bytes((data / name).read_bytes())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="demo,unseen")
    parser.add_argument("--unseen-checkpoint", type=Path, default=SETS["unseen"][1],
                        help="model for the unseen set (default: the one bench.unseen trains)")
    parser.add_argument("--note", default="", help="a sentence for the section (e.g. how a model was trained)")
    args = parser.parse_args()
    SETS["unseen"] = (SETS["unseen"][0], args.unseen_checkpoint)
    if f"unseen-g{SHORT_GOP}" in args.sets:
        SETS[f"unseen-g{SHORT_GOP}"] = (reencoded_test_split(SETS["unseen"][0], SHORT_GOP), args.unseen_checkpoint)
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
