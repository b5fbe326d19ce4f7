"""Peak memory of `vidgate classify` on a 1-minute vs a 60-minute video (the process tree, decoder child included).

    python -m bench.memory                      # 1 min vs 60 min, 320×180 30 fps H.264, GOP 300
    python -m bench.memory --long-minutes 10    # quicker

Peak RSS is sampled every 20 ms with psutil over the CLI process and all its children, summed.
Writes the "memory" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import psutil

from .common import machine, write_section
from .e2e import make_video

ROOT = Path(__file__).resolve().parents[1]


def peak_rss(command: list[str]) -> tuple[int, float, int]:
    """(peak RSS of the process tree in bytes, wall seconds, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    return peak, time.perf_counter() - start, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long-minutes", type=float, default=60)
    args = parser.parse_args()
    rows = []
    for minutes in (1.0, args.long_minutes):
        video = make_video(ROOT / "data" / "bench" / f"memory-{minutes:g}min-320x180.mp4", 60 * minutes, 320, 180)
        peak, wall, code = peak_rss([sys.executable, "-m", "service.cli", "classify", str(video), "--json"])
        if code != 0:
            raise SystemExit(f"classify failed on {video} (exit {code})")
        rows.append((minutes, video.stat().st_size, peak, wall))
    short, long = rows[0][2], rows[1][2]
    lines = [
        "## Peak memory: 1-minute vs long video",
        "",
        f"`python -m bench.memory --long-minutes {args.long_minutes:g}` on {machine()}: `vidgate classify VIDEO "
        "--json` with the demo model (gated at its learned threshold, decoding isolated), peak RSS of the whole "
        "process tree (CLI + decoder child) sampled every 20 ms. Videos: 320×180, 30 fps H.264, keyframe every "
        "300 frames, generated with `preset=ultrafast`.",
        "",
        "| video | file MB | peak RSS MB | wall s |",
        "|---|---|---|---|",
        *[f"| {m:g} min | {size / 1e6:.1f} | {peak / 1e6:.0f} | {wall:.1f} |" for m, size, peak, wall in rows],
        "",
        f"Ratio long / short: {long / short:.2f} (target ≤ 1.2); long peak {long / 1e9:.2f} GB (target ≤ 1.5 GB). "
        "Memory is bounded by the snippet plan (at most 64 snippets, frames decoded at 112²), never by the "
        "video's length: no step holds all frames of a video.",
    ]
    write_section("memory", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
