"""Batch throughput: videos per minute with 1 vs 2 local worker processes, and local vs server mode.

    python -m bench.batch --videos 100

Generates N small synthetic videos once (data/bench/batch/), then runs `run_batch` three ways side by
side in one run, each into a fresh output file, and writes the "batch" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from models import DEMO_CHECKPOINT
from pipelines.options import Options
from pipelines.synth import SynthConfig, write_synthetic_dataset
from service.batch.runner import BatchPlan, run_batch
from service.config import Settings

from .report import machine, write_section

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
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
