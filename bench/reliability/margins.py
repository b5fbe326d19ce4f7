"""Learned-figure margins: the suite's few assertions about what a toy training learns, over seeds and threads.

A test may assert what a small training learns only if its bar holds with a margin on every machine of
the kind. Floating-point results of training differ between CPUs and thread counts, so this scenario runs
each such test's measurement (the ``*_figures`` functions in tests/models/test_head.py, which the tests
run at seed 0) over several seeds and torch thread counts, and reports the worst value against the bar.

    python -m bench.reliability --only margins
"""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2, 3, 4)
THREADS = (1, 2)


@dataclass(frozen=True)
class Bar:
    """One assertion of the suite: ``figure`` of ``measure`` compared with ``bar`` (``>=``, ``<`` or ``>``)."""

    test: str
    measure: tuple[str, ...]  # a ``*_figures`` function of tests.models.test_head and its arguments
    figure: str
    op: str
    bar: float


def _derived(figures: dict[str, float], name: str) -> float:
    if name == "attention_8-attention_96":
        return figures["attention_8"] - figures["attention_96"]
    if name == "attention_96-mean_96":
        return figures["attention_96"] - figures["mean_96"]
    return figures[name]


EVIDENCE_CASES = (("pool", "marker"), ("temporal", "marker"), ("temporal", "order"), ("temporal+events", "order"))
BARS = (
    *(Bar("test_temporal_head_reads_order_and_counts…", ("order_count_figures", name, kind), "accuracy", ">=",
          0.9) for name in ("temporal", "temporal+events") for kind in ("order", "count")),
    Bar("test_temporal_head_reads_order_and_counts…", ("order_count_figures", "temporal", "order"), "pool_accuracy",
        "<", 0.65),
    *(Bar("test_evidence_lands_on_the_snippets_that_decide", ("evidence_figures", name, kind), figure, op, bar)
      for name, kind in EVIDENCE_CASES
      for figure, op, bar in (("accuracy", ">=", 0.9), ("on_event", ">=", 0.85), ("ratio", ">", 5.0))),
    Bar("test_attention_pooling_reads_a_few…", ("pooling_figures",), "attention_96", ">=", 0.75),
    Bar("test_attention_pooling_reads_a_few…", ("pooling_figures",), "attention_8-attention_96", "<", 0.15),
    Bar("test_attention_pooling_reads_a_few…", ("pooling_figures",), "attention_96-mean_96", ">", 0.2),
)
_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt, "<": operator.lt}


def _key(measure: tuple[str, ...]) -> str:
    return f"{measure[0]}({', '.join(measure[1:])})"


def measure_all(threads: int, seed: int) -> dict[str, dict[str, float]]:
    """Every distinct measurement at one thread count and seed (run in a fresh process per thread count)."""
    from tests.models import test_head

    torch.set_num_threads(threads)
    out = {}
    for measure in dict.fromkeys(b.measure for b in BARS):
        out[_key(measure)] = getattr(test_head, measure[0])(*measure[1:], seed=seed)
    return out


def margins(seeds: tuple[int, ...] = SEEDS, threads: tuple[int, ...] = THREADS,
            folder: Path | None = None) -> dict[str, Any]:
    """Each bar's worst value over ``seeds`` × ``threads`` (each run in its own process). With ``folder``, each
    run's figures are kept there and a run already kept is not repeated (an interrupted bench resumes)."""
    start = time.monotonic()
    runs: list[dict[str, Any]] = []
    for n in threads:
        for seed in seeds:
            kept = folder / f"threads{n}-seed{seed}.json" if folder else None
            if kept is not None and kept.exists():
                runs.append(json.loads(kept.read_text()))
                continue
            code = ("import json; from bench.reliability.margins import measure_all; "
                    f"print(json.dumps(measure_all({n}, {seed})))")
            env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(n)}
            done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                                  timeout=3600, check=True)
            runs.append({"threads": n, "seed": seed, "figures": json.loads(done.stdout)})
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(json.dumps(runs[-1]))
    rows = []
    for bar in BARS:
        values = [_derived(r["figures"][_key(bar.measure)], bar.figure) for r in runs]
        worst = min(values) if bar.op in (">=", ">") else max(values)
        rows.append({"test": bar.test, "measure": _key(bar.measure), "figure": bar.figure, "op": bar.op, "bar": bar.bar,
                     "worst": worst, "best": max(values) if bar.op in (">=", ">") else min(values),
                     "held": all(_OPS[bar.op](v, bar.bar) for v in values), "runs": len(values)})
    return {"rows": rows, "seeds": list(seeds), "threads": list(threads), "cpu": _cpu(),
            "seconds": time.monotonic() - start}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
