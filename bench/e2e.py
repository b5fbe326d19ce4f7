"""End-to-end wall clock, decoding included: gated vs dense recognition vs a plain full decode.

    python -m bench.e2e                  # 5-minute 640×360 30 fps H.264, GOP 300 with B-frames
    python -m bench.e2e --seconds 60     # a quicker run
    python -m bench.e2e --device cuda --heavy x3d_m --size 224 --frames 16   # a full-size heavy network on a GPU
    python -m bench.e2e --footage --gop 250              # looped real footage (bench.common), x264 veryfast
    python -m bench.e2e --footage --gop 250 --strict     # ... without scene-cut keyframes
    python -m bench.e2e --footage --light-passes         # ... and gated 25% with each light pass forced
    python -m bench.e2e --evidence --seconds 60          # what asking for the evidence costs (157 classes)

Every setting runs on the same file in the same process, interleaved, `--repeats` times (median
reported), with the product's defaults: the demo model, decoding isolated in a child process. ``--heavy`` swaps in a
full-size backbone (randomly initialised: only its cost matters here) behind a mobilenet_v3_small light
encoder, compared dense vs fixed budgets. Writes the "e2e" section of docs/benchmarks.md (``e2e-cuda``,
``e2e-<heavy>``… for other devices and models); ``--evidence`` the "e2e-evidence-N" section of
docs/inference.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from models import DEMO_CHECKPOINT, ModelConfig, VidGate, read_metadata
from models.checkpoint import read_config
from pipelines.decoding import probe
from pipelines.encoding import write_video
from pipelines.options import Options
from pipelines.recognizer import Recognizer

from .common import machine, make_footage, write_section

ROOT = Path(__file__).resolve().parents[1]


def frames(count: int, height: int, width: int, seed: int = 0) -> Iterator[np.ndarray]:
    """A textured background with a few squares moving across it (cheap to generate)."""
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 120, (height, width, 3), dtype=np.uint8)
    for i in range(count):
        frame = background.copy()
        for k, colour in enumerate(((230, 40, 40), (40, 90, 250), (250, 225, 20))):
            x = (i * (3 + k) + 97 * k) % (width - 40)
            y = (i * (2 + k) + 53 * k) % (height - 40)
            frame[y : y + 40, x : x + 40] = colour
        yield frame


def make_video(path: Path, seconds: float, width: int = 640, height: int = 360, fps: int = 30) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        write_video(tmp, frames(int(seconds * fps), height, width), fps=fps, gop=300, bframes=2, preset="ultrafast")
        tmp.rename(path)
    return path


def random_model(heavy: str, size: int, frames: int) -> tuple[VidGate, str]:
    """A full-size heavy backbone behind a mobilenet_v3_small light encoder at 160², randomly initialised
    (seed 0; only its cost matters), with the demo model's classes; and a line describing it."""
    torch.manual_seed(0)
    config = ModelConfig(
        classes=tuple(read_metadata(DEMO_CHECKPOINT)["config"]["classes"]),
        light="mobilenet_v3_small",
        heavy=heavy,
        light_size=160,
        heavy_size=size,
        snippet_frames=frames,
        name=f"random-{heavy}",
    )
    return VidGate(config), f"mobilenet_v3_small at 160² + {heavy} at {size}²×{frames} frames, random weights"


def full_decode(path: Path) -> float:
    """Decode every frame (no conversion, no resizing): the floor for anything that reads it all."""
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--heavy", help="a full-size heavy backbone instead of the demo model (random weights)")
    parser.add_argument("--size", type=int, default=224, help="heavy input size with --heavy")
    parser.add_argument("--frames", type=int, default=16, help="snippet frames with --heavy")
    parser.add_argument("--footage", action="store_true", help="looped real footage instead of generated frames")
    parser.add_argument("--gop", type=int, default=250, help="keyframe interval with --footage")
    parser.add_argument("--strict", action="store_true", help="no scene-cut keyframes with --footage")
    parser.add_argument("--light-passes", action="store_true", help="also gated 25%% with each light pass forced "
                        "(the demo model)")
    parser.add_argument("--evidence", action="store_true", help="recognition with and without the evidence asked "
                        "for, temporal and pool heads with --classes classes (random weights of the demo architecture)")
    parser.add_argument("--classes", type=int, default=157, help="classes with --evidence (Charades has 157)")
    args = parser.parse_args()
    if args.evidence:
        return evidence_cost(args)
    if args.footage:
        video = make_footage(args.seconds, args.gop, scenecut=not args.strict)
    else:
        video = make_video(ROOT / "data" / "bench" / f"e2e-{int(args.seconds)}s-640x360.mp4", args.seconds)
    if args.heavy:
        network, model = random_model(args.heavy, args.size, args.frames)
        recognizer = Recognizer(network, device=args.device)
        settings = {
            "dense, uniform plan": Options(mode="dense", light_pass="nonref"),
            "dense": Options(mode="dense"),
            "gated, budget 25%": Options(budget=0.25),
            "gated, budget 10%": Options(budget=0.10),
        }
    else:
        recognizer = Recognizer(DEMO_CHECKPOINT, device=args.device)
        model = "the demo model (tiny2d + tiny3d at 112²)"
        forced = ("exact", "nonref", "fast", "keyframe", "aligned") if args.light_passes else ()
        settings = {
            "dense, uniform plan": Options(mode="dense", light_pass="nonref"),
            "dense": Options(mode="dense"),
            **{f"gated, budget 25%, light {p}": Options(budget=0.25, light_pass=p) for p in forced},
            "gated, budget 25%": Options(budget=0.25),
            "gated, learned threshold": Options(),
        }
    device = recognizer.device.type
    source = f"footage-g{args.gop}{'-strict' if args.strict else ''}" if args.footage else ""
    section = "-".join(["e2e", *([device] if device != "cpu" else []), *([args.heavy] if args.heavy else []),
                        *([source] if source else [])])
    recognizer.recognize(video, Options(max_selected=1))  # warm-up: first-call allocations
    walls: dict[str, list[float]] = {"full decode (every frame)": []}
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    computes: dict[str, Any] = {}
    for _ in range(args.repeats):
        walls["full decode (every frame)"].append(full_decode(video))
        for name, options in settings.items():
            start = time.perf_counter()
            result = recognizer.recognize(video, options)
            walls.setdefault(name, []).append(time.perf_counter() - start)
            stages[name].append(result.timings)
            computes[name] = result.compute
    recognizer.close()
    median = {name: statistics.median(values) for name, values in walls.items()}
    dense, decode_all = median["dense"], median["full decode (every frame)"]
    info = probe(video)
    keys = info.keyframes or ()
    rows = []
    for name, wall in median.items():
        t = {k: statistics.median(s[k] for s in stages[name]) for k in stages[name][0]} if name in stages else {}
        cells = " | ".join(f"{t[k]:.2f}" if t else "—" for k in ("probe", "decode", "light", "heavy"))
        c = computes.get(name)
        chosen = f"{c.snippets_selected}/{c.snippets_total}" if c else "—"
        decoded = f"{c.frames_decoded} ({100 * c.decoded_fraction:.1f}%)" if c else f"{info.num_frames} (100%)"
        rows.append(
            f"| {name} | {c.light_pass if c else '—'} | {chosen} | {wall:.2f} | {cells} | {decoded} "
            f"| {dense / wall:.2f}× | {wall / decode_all:.2f} | {3600 / wall:.0f} |"
        )
    kind = (f"looped real footage (bench.common.make_footage), x264 veryfast, keyframe interval {args.gop}"
            f"{' without scene cuts' if args.strict else ' (scene cuts add keyframes)'}" if args.footage
            else "generated frames, keyframe every 300 frames, B-frames")
    lines = [
        f"## End to end on {device.upper()}{f' with {args.heavy}' if args.heavy else ''}"
        f"{f', {source}' if source else ''}: gated vs dense vs decoding every frame",
        "",
        f"`python -m bench.e2e {' '.join(sys.argv[1:])}` on {machine()}. Input: a "
        f"{args.seconds / 60:g}-minute 640×360 30 fps H.264 video, {kind}: {info.num_frames} frames, "
        f"{len(keys)} keyframes (mean interval {info.num_frames / max(1, len(keys)):.0f}). "
        f"Model: {model}, run on {device}{' with fp16 autocast for the heavy network' if device == 'cuda' else ''}; "
        f"up to 64 snippets planned; decoding (on the CPU) isolated in a pooled child process (the default). "
        f"Median of {args.repeats} interleaved runs; stage columns are the recognizer's own timings (decode: both "
        "passes; `heavy` overlaps with decoding of the next chunk). `light pass` is the one that ran (`auto` "
        "resolved); `dense, uniform plan` is dense on the training plan, `dense` on the plan `auto` picks.",
        "",
        "| setting | light pass | snippets selected | wall s | probe s | decode s | light s | heavy s "
        "| frames decoded (% of video) | speed-up vs dense | wall / full decode | videos/hour |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    write_section(section, "\n".join(lines))
    print("\n".join(lines))


def _demo_architecture(classes: int, head: str) -> VidGate:
    """The demo model's architecture with ``classes`` classes and ``head``, random weights (only cost matters)."""
    config = dataclasses.replace(read_config(DEMO_CHECKPOINT),
                                 classes=tuple(f"class_{i:03d}" for i in range(classes)), head=head,
                                 name=f"random-{head}-{classes}")
    torch.manual_seed(0)
    return VidGate(config).eval()


def evidence_cost(args: argparse.Namespace) -> None:
    """What asking for the evidence costs: each head, gated at 25% and dense, with and without it, interleaved."""
    video = make_video(ROOT / "data" / "bench" / f"e2e-{int(args.seconds)}s-640x360.mp4", args.seconds)
    rows = []
    for head in ("temporal", "pool"):
        with Recognizer(_demo_architecture(args.classes, head), device=args.device) as recognizer:
            recognizer.recognize(video, Options(max_selected=1, evidence=True))  # warm-up
            for policy, options in (("gated, budget 25%", Options(budget=0.25)), ("dense", Options(mode="dense"))):
                walls: dict[bool, list[float]] = {False: [], True: []}
                spent: list[float] = []
                for _ in range(args.repeats):
                    for asked in (False, True):
                        start = time.perf_counter()
                        result = recognizer.recognize(video, options.model_copy(update={"evidence": asked}))
                        walls[asked].append(time.perf_counter() - start)
                        if asked:
                            spent.append(result.timings["evidence"])
                without, with_ = statistics.median(walls[False]), statistics.median(walls[True])
                c = result.compute
                rows.append(f"| {head} | {policy} | {c.snippets_selected}/{c.snippets_total} | {without:.2f} | "
                            f"{with_:.2f} | {statistics.median(spent):.2f} | {1 - without / with_:.0%} |")
    lines = [
        f"## Evidence on request: what asking for it costs ({args.classes} classes)", "",
        f"`python -m bench.e2e {' '.join(sys.argv[1:])}` on {machine()}. The demo model's architecture with "
        f"{args.classes} classes and random weights (cost does not depend on what was learned), on a "
        f"{args.seconds:g}-s 640×360 generated video; median of {args.repeats} interleaved runs. The "
        "evidence (each selected snippet's share of each label) is computed only when asked for "
        "(`--evidence`, the API's `/v1/jobs/{id}/evidence`); the temporal head's takes integrated gradients, "
        "whose cost grows with the number of classes, the pool head's is an exact decomposition.", "",
        "| head | setting | snippets | wall s without | wall s with | evidence stage s | skipping saves |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    write_section(f"e2e-evidence-{args.classes}", "\n".join(lines), path=ROOT / "docs" / "inference.md")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
