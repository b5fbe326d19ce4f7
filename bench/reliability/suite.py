"""The whole test suite, three times, with other thread counts and hash seeds: does it hold on any machine?

Floating-point results differ between CPUs and thread counts, and set and dict orders between hash seeds;
a test that passes only on the machine it was written on fails CI elsewhere. This scenario runs
``make test``'s pytest run three times, each with another ``OMP_NUM_THREADS`` (torch's intra-op threads)
and ``PYTHONHASHSEED``, and records every run's counts, time and failures.

    python -m bench.reliability --only suite
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUNS = ((1, 1), (2, 2), (4, 3))  # (torch threads, hash seed)


def suite(folder: Path, runs: tuple[tuple[int, int], ...] = RUNS) -> dict[str, Any]:
    """Each run's passed / failed / skipped counts, seconds and failed tests (``folder`` holds the reports)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for threads, seed in runs:
        report = folder / f"suite-threads{threads}-seed{seed}.xml"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "PYTHONHASHSEED": str(seed)}
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - start
        out.append({"threads": threads, "hash_seed": seed, "seconds": round(seconds, 1), "exit": done.returncode,
                    **_counts(report)})
    return {"runs": out, "command": "pytest -q (what make test runs after ruff and mypy)"}


def _counts(report: Path) -> dict[str, Any]:
    if not report.exists():
        return {"passed": 0, "failed": 0, "skipped": 0, "failures": ["no report: pytest did not finish"]}
    root = ET.parse(report).getroot()
    cases = root.iter("testcase")
    failed, skipped, total = [], 0, 0
    for case in cases:
        total += 1
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is not None:
            skipped += 1
    return {"passed": total - len(failed) - skipped, "failed": len(failed), "skipped": skipped, "failures": failed}
