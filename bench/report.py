"""Writes one benchmark's section of docs/benchmarks.md, leaving the other sections as they are.

Every bench script measures side by side in one run and calls :func:`write_section` with its
markdown; the section is delimited by HTML comments so re-running one script replaces only its own.
"""

from __future__ import annotations

import platform
import re
import time
from pathlib import Path
from typing import Any

import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
_HEADER = (
    "# Benchmarks\n\n"
    "Every figure here was written by a script in `bench/`; each section names the command that\n"
    "reproduces it and the machine it ran on. Timings are ratios measured side by side in one run.\n"
)


def shown(path: Path) -> str:
    """A path as a command line in the docs shows it: relative to the repository when inside it."""
    root = BENCHMARKS.parents[1]
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def machine() -> str:
    """One line naming the machine a figure was measured on."""
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {torch.get_num_threads()} torch threads, {gpu}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"
    )


def write_section(name: str, markdown: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section ``name`` of the benchmarks page."""
    text = path.read_text() if path.exists() else _HEADER
    block = f"<!-- {name} -->\n{markdown.strip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def gate_runs_note(training: dict[str, Any], subject: str = "The gate stage") -> str:
    """One sentence: the gate stage's runs, their validation figures and the one training kept ("" for one run)."""
    runs = training.get("gate_runs")
    if not runs:
        return ""
    ratio = 100 * training.get("config", {}).get("target_ratio", float("nan"))
    selects = all("val_selected" in r for r in runs)  # recorded since the rule weighs it (2026-12-05)
    figures = "; ".join(f"seed {r['seed']} {r['val_dense_accuracy']:.3f} / {r['val_budget_accuracy']:.3f}"
                        + (f" / {100 * r['val_selected']:.1f}%" if selects else "") for r in runs)
    kept = runs[training["gate_run"] - 1]
    what = f"dense / gated at {ratio:g}%" + (" / calibrated threshold's selection" if selects else "")
    return (f"{subject} ran {len(runs)} times (validation {what}: {figures}) and kept "
            f"run {kept['run']} (seed {kept['seed']}).")
