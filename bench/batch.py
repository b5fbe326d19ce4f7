"""Batch throughput: videos per minute with 1 vs 2 local worker processes, and local vs server mode.

    python -m bench.batch --videos 100
    python -m bench.batch --footage --videos 20    # 5-minute real-footage files: gated vs dense videos/hour
    python -m bench.batch --footage --videos 60 --gop 250 --heavy x3d_m --size 224 --frames 16 --device cuda

Generates N small synthetic videos once (data/bench/batch/), then runs `run_batch` three ways side by
side in one run, each into a fresh output file, and writes the "batch" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import av
import httpx

from models import DEMO_CHECKPOINT
from pipelines.options import Options, parse_options
from pipelines.synth import SynthConfig, write_synthetic_dataset
from service.batch.runner import BatchPlan, run_batch
from service.config import Settings

from .common import machine, write_section

ROOT = Path(__file__).resolve().parents[1]


def _serve(port: int, data: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIDGATE_DATA_DIR": str(data), "VIDGATE_WORKERS": "2", "VIDGATE_MAX_QUEUE": "100000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not become ready")


def _plan(**choices: Any) -> BatchPlan:
    return BatchPlan(options=Options(), settings=Settings(), checkpoint=DEMO_CHECKPOINT, **choices)


def _remux(source: Path, target: Path, *, title: str) -> None:
    """Copy the video stream's packets into a new file (no re-encoding), with a metadata title."""
    tmp = target.with_suffix(".tmp.mp4")
    with av.open(str(source)) as inp, av.open(str(tmp), mode="w") as out:
        out.metadata["title"] = title
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
    tmp.rename(target)


def stage_line(stages: dict[str, dict[str, dict[str, float]]]) -> str:
    """Each video's own stage seconds, median and slowest video per setting: where a batch's time went."""
    cells = "; ".join(
        f"{label}: " + ", ".join(f"{k} {t[k]['median']:.2f} / {t[k]['max']:.2f}" for k in ("decode", "light", "heavy")
                                 if k in t)
        for label, t in stages.items())
    return f"Each video's own stage seconds (the recognizer's timings), median / slowest video: {cells}."


def footage_batch(videos: int, *, gops: tuple[int, ...] = (250, 60), heavy: str | None = None, size: int = 224,
                  frames: int = 16, device: str = "auto", decoders: int | None = None,
                  threads: int | None = None) -> None:
    """Gated vs dense videos per hour on 5-minute 640×360 files, one model process with its decoding children.

    ``heavy`` swaps the demo model for a full-size heavy backbone with random weights (`bench.e2e.random_model`),
    written to a temporary checkpoint: the batch runner loads it as it loads any model. ``device`` and
    ``decoders`` and ``threads`` are the `Settings` fields of those names (default: theirs).
    """
    from models import save_checkpoint
    from pipelines.training import resolve_device

    from .common import make_footage
    from .e2e import random_model

    sources = [make_footage(300, gop) for gop in gops]
    folder = ROOT / "data" / "bench" / f"batch-footage-{videos}-g{'-'.join(map(str, gops))}"
    folder.mkdir(parents=True, exist_ok=True)
    # The encodings alternating, each copy remuxed with a title of its own: distinct files.
    copies = [folder / f"{i:03d}-{sources[i % len(sources)].name}" for i in range(videos)]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(lambda i: _remux(sources[i % len(sources)], copies[i], title=f"bench copy {i}"),
                      [i for i, copy in enumerate(copies) if not copy.exists()]))
    settings = Settings(device=device)
    if decoders is not None:  # as `vidgate batch --decoders` does
        settings = settings.model_copy(update={"decoders": decoders})
    if threads is not None:
        settings = settings.model_copy(update={"threads": threads})
    resolved = resolve_device(device).type
    section = "-".join(["batch-footage", *([resolved] if resolved != "cpu" else []), *([heavy] if heavy else []),
                        *([f"threads{threads}"] if threads is not None else [])])
    rows: list[tuple[str, int, int, float]] = []
    choices: dict[str, dict[str, Any]] = {
        "dense, uniform plan": {"mode": "dense", "light_pass": "nonref"},
        "dense": {"mode": "dense"},
        "gated 25%": {"budget": 0.25},
    }
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, model = DEMO_CHECKPOINT, "the demo model (tiny2d + tiny3d at 112²)"
        if heavy:
            network, model = random_model(heavy, size, frames)
            checkpoint = save_checkpoint(network, Path(tmp) / f"random-{heavy}.safetensors")
        plans = {label: BatchPlan(options=parse_options(options), settings=settings, checkpoint=checkpoint)
                 for label, options in choices.items()}
        warm = resolved == "cuda"
        if warm:  # CUDA's first use in a process (context, kernels, cuDNN plans): not what a batch pays per video
            for label, plan in plans.items():
                run_batch([str(c) for c in copies[:2]], Path(tmp) / f"warm-{len(rows)}-{label}.jsonl", plan)
        stages: dict[str, dict[str, dict[str, float]]] = {}
        for label, plan in plans.items():
            results = Path(tmp) / f"{len(rows)}.jsonl"
            summary = run_batch([str(folder)], results, plan)
            rows.append((label, summary.total, summary.ok, summary.seconds))
            timings = [r["timings"] for r in map(json.loads, results.read_text().splitlines()) if r["timings"]]
            stages[label] = {k: {"median": statistics.median(t.get(k, 0.0) for t in timings),
                                 "max": max(t.get(k, 0.0) for t in timings)}
                             for k in sorted({k for t in timings for k in t})}
    per_hour = {label: 3600 * n / seconds for label, n, _, seconds in rows}
    intervals = " and ".join(map(str, gops))
    lines = [
        f"## Batch throughput on 5-minute videos{f' with {heavy} on {resolved.upper()}' if heavy else ''}: "
        "gated vs dense",
        "",
        f"`python -m bench.batch {' '.join(sys.argv[1:])}` on {machine()}: {videos} files of 5 minutes, 640×360 "
        f"30 fps (looped real footage, x264 veryfast, keyframe interval{'s' if len(gops) > 1 else ''} {intervals}"
        f"{' alternating' if len(gops) > 1 else ''}: copies of "
        f"{'the encodings' if len(gops) > 1 else 'one file'} remuxed with a distinct title each, so that no file is "
        f"a duplicate of another), {model}, run on {resolved}; "
        f"`vidgate batch` local mode: one model process"
        f"{f' with {settings.threads} torch CPU thread(s)' if settings.threads else ''}, "
        f"{settings.decoders} decoding child(ren), "
        f"{settings.decoders + 1} videos in flight, side by side in one run"
        + (" (before the timed runs, each setting ran once on 2 of the files, untimed: CUDA's first use in a "
           "process)." if warm else "."),
        "",
        "| setting | videos | ok | seconds | videos per hour | vs dense |",
        "|---|---|---|---|---|---|",
        *[f"| {label} | {n} | {ok} | {seconds:.1f} | {per_hour[label]:.0f} | "
          f"{per_hour[label] / per_hour['dense']:.2f}× |" for label, n, ok, seconds in rows],
        "",
        stage_line(stages),
    ]
    write_section(section, "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--footage", action="store_true", help="5-minute real-footage files, gated vs dense")
    parser.add_argument("--gop", type=int, nargs="+", default=[250, 60],
                        help="keyframe intervals of the footage files, alternating (with --footage)")
    parser.add_argument("--heavy", help="a full-size heavy backbone instead of the demo model, random weights "
                        "(with --footage)")
    parser.add_argument("--size", type=int, default=224, help="heavy input size with --heavy")
    parser.add_argument("--frames", type=int, default=16, help="snippet frames with --heavy")
    parser.add_argument("--device", default=Settings.model_fields["device"].default,
                        help="Settings.device (VIDGATE_DEVICE): auto, cpu or cuda[:N] (with --footage)")
    parser.add_argument("--decoders", type=int, help="Settings.decoders (default VIDGATE_DECODERS: one per spare "
                        "core) (with --footage)")
    parser.add_argument("--threads", type=int, help="Settings.threads (default VIDGATE_THREADS: torch's own) "
                        "(with --footage)")
    args = parser.parse_args()
    if args.footage:
        footage_batch(args.videos, gops=tuple(args.gop), heavy=args.heavy, size=args.size, frames=args.frames,
                      device=args.device, decoders=args.decoders, threads=args.threads)
        return
    data = ROOT / "data" / "bench" / f"batch-{args.videos}"
    if not (data / "annotations.csv").exists():
        write_synthetic_dataset(
            data, SynthConfig(videos=args.videos, seed=7, min_snippets=15, max_snippets=24), workers=2
        )
    videos = str(data / "videos")
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in (
            ("local, 1 worker", _plan(workers=1)),
            ("local, 2 workers", _plan(workers=2)),
        ):
            summary = run_batch([videos], Path(tmp) / f"{len(rows)}.jsonl", options)
            rows.append((label, summary.total, summary.seconds))
        server = _serve(args.port, Path(tmp) / "server")
        try:
            options = _plan(server=f"http://127.0.0.1:{args.port}", concurrency=4)
            summary = run_batch([videos], Path(tmp) / "server.jsonl", options)
            rows.append(("server (embedded, 2 worker threads), 4 in flight", summary.total, summary.seconds))
        finally:
            server.terminate()
            server.wait(30)
    lines = [
        "## Batch throughput",
        "",
        f"`python -m bench.batch --videos {args.videos}` on {machine()}: {args.videos} synthetic videos "
        "(112×112, 12 fps, 15–24 snippets each), demo model, gated at its learned threshold, side by side in one run.",
        "",
        "| mode | videos | seconds | videos per minute |",
        "|---|---|---|---|",
        *[f"| {label} | {n} | {seconds:.1f} | {60 * n / seconds:.1f} |" for label, n, seconds in rows],
        "",
        "Each local worker process imports torch and loads the model once (a few seconds, included above). "
        "With 2 cores, 2 processes share them: the gain is bounded by the cores, not by the batch runner.",
    ]
    write_section("batch", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
