"""Reliability suite: faults, floods and hostile files against real processes; writes docs/reliability.md.

    python -m bench.reliability                    # the full run (make reliability), ~15 min on 2 cores
    python -m bench.reliability --quick --out X    # the short version CI runs (tests/test_reliability.py)
    python -m bench.reliability --only bad_files,memory   # some scenarios (the page then holds only those)

Scenarios (one row each in the page's summary): workers SIGKILLed mid-job (Redis and embedded), a worker
SIGKILLed while it holds the newest of 50+ jobs in flight (Redis: reclaim time against the lease), a poison
video that kills its worker (both modes), Redis outages and restarts with and without persistence, a
worker frozen past its lease, 30+ bad files and 30+ bad requests, schemathesis against the live app,
concurrent and trickling uploads, and the API process's memory after hostile uploads.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import broker, crashes, intake, margins, suite
from .harness import Bench
from .report import markdown

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("bad_files", "bad_requests", "schemathesis", "memory", "load", "sigkill_redis", "reclaim_at_scale",
             "sigkill_embedded", "poison_redis", "poison_embedded", "frozen", "broker", "margins", "suite")
# The short version CI runs: the intake scenarios on one server, a frozen worker, a 2 s Redis outage.
# (SIGKILLed workers and poison videos are also covered by tests/service; the full run measures them.)
QUICK = ("bad_files", "bad_requests", "schemathesis", "memory", "frozen", "broker")


def run(bench: Bench, names: tuple[str, ...], log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the scenarios ``names``; returns their figures (a scenario that crashed records its error)."""
    figures: dict[str, Any] = {}
    start = time.monotonic()
    server = None
    try:
        for name in names:
            log(f"[reliability] {name} ...")
            began = time.monotonic()
            try:
                if name in ("bad_files", "bad_requests", "schemathesis", "memory"):
                    server = server or intake.intake_server(bench)
                    figures[name] = getattr(intake, name)(bench, server)
                elif name == "load":
                    figures[name] = intake.load(bench)
                elif name == "broker":
                    figures[name] = broker.outages(bench)
                elif name == "margins":
                    figures[name] = margins.margins(folder=bench.folder("margins"))
                elif name == "suite":
                    figures[name] = suite.suite(bench.folder("suite"))
                else:
                    figures[name] = getattr(crashes, name)(bench)
            except Exception:
                figures.setdefault("errors", {})[name] = traceback.format_exc()
                log(traceback.format_exc())
            log(f"[reliability] {name}: {time.monotonic() - began:.0f} s")
    finally:
        if server is not None:
            server.stop()
    figures["seconds"] = time.monotonic() - start
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the short version (fewer jobs, kills and cases)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--json", type=Path, default=None, help="raw figures (default: next to --out, or "
                        "docs/results/reliability.json for the docs page)")
    parser.add_argument("--only", default=None, help="comma-separated scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    names = tuple(args.only.split(",")) if args.only else (QUICK if args.quick else SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    work = args.work or Path(tempfile.mkdtemp(prefix="vidgate-reliability-"))
    bench = Bench.create(work, args.quick)
    try:
        figures = run(bench, names)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    command = "python -m bench.reliability" + (" --quick" if args.quick else "") + \
        (f" --only {args.only}" if args.only else "")
    machine = f"{platform.machine()}, {__import__('os').cpu_count()} cores"
    raw = args.json or (ROOT / "docs" / "results" / "reliability.json" if args.out == ROOT / "docs" / "reliability.md"
                        else args.out.with_suffix(".json"))
    figures["runs"] = {name: {"command": command, "machine": machine} for name in names if name in figures}
    if args.only and raw.exists():  # some scenarios again: the page keeps the other scenarios' last figures
        kept = json.loads(raw.read_text())
        kept_runs = kept.pop("runs", {name: {"command": kept.get("command", "python -m bench.reliability"),
                                             "machine": kept.get("machine", "")} for name in SCENARIOS if name in kept})
        errors = {**{k: v for k, v in kept.pop("errors", {}).items() if k not in names}, **figures.get("errors", {})}
        figures = {**kept, **figures, "runs": {**kept_runs, **figures["runs"]},
                   "seconds": kept.get("seconds", 0.0) + figures["seconds"]}
        figures.pop("errors", None)
        if errors:  # a scenario run again keeps only its new error, if any
            figures["errors"] = errors
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(figures, command=command, machine=machine, quick=args.quick))
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(figures, indent=1, default=str))
    print(f"wrote {args.out} and {raw}")
    if figures.get("errors"):
        sys.exit(1)
