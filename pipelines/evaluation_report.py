"""Evaluation reports: markdown tables, the paired comparison with dense, the plot, the files written.

Reads the report `pipelines.evaluation.evaluate` returns (plain JSON values); the plot needs the
``plots`` extra (matplotlib) and is skipped with a note when it is missing.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.extras import MissingExtra, require


def light_pass_table(report: dict[str, Any]) -> str:
    """The light-pass ladder as a markdown table: accuracy against exact, frames decoded, decode seconds."""
    rows = {name.rsplit(" ", 1)[-1]: row for name, row in report["settings"].items() if ", light " in name}
    if "exact" not in rows:
        return ""
    metric = "mAP" if "mAP" in rows["exact"] else "accuracy"
    exact = rows["exact"]
    lines = [f"| light pass | {metric} | vs exact | frames decoded per video (light pass) | % of the video's frames "
             "| decode s | total s | chosen | largest gap s |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        chosen = ", ".join(f"{k} × {v}" for k, v in row["light_pass"].items())
        lines.append(
            f"| {name} | {row[metric]:.3f} | {100 * (row[metric] - exact[metric]):+.1f} pts "
            f"| {row['frames_decoded']:.0f} ({row['frames_decoded_light']:.0f}) | {100 * row['decoded_fraction']:.1f}% "
            f"| {row['seconds']['decode']:.3f} | {row['seconds']['total']:.3f} | {chosen} "
            f"| {row['largest_gap_s']:.2f} |"
        )
    return "\n".join(lines)


def correct_by_video(row: dict[str, Any]) -> dict[str, bool]:
    """Whether each video's top-1 prediction is one of its labels, for one setting's report row."""
    return {v["video"]: v["predicted"] in v["labels"] for v in row["per_video"]}


def bootstrap_interval(differences: Sequence[float], *, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of paired per-video differences, resampling videos."""
    if not differences:
        return (0.0, 0.0)
    rng, n = random.Random(seed), len(differences)
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(resamples))
    return means[int(0.025 * resamples)], means[min(resamples - 1, int(0.975 * resamples))]


def paired_with_dense(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every setting against dense on the same videos (single-label top-1).

    ``only_here``: videos this setting gets right and dense gets wrong; ``only_dense``: the reverse;
    ``difference``: accuracy minus dense's; ``interval``: its 95% paired bootstrap interval.
    """
    dense = correct_by_video(report["settings"]["dense"])
    out: dict[str, dict[str, Any]] = {}
    for name, row in report["settings"].items():
        if name == "dense":
            continue
        mine = correct_by_video(row)
        videos = [v for v in dense if v in mine]
        differences = [float(mine[v]) - float(dense[v]) for v in videos]
        low, high = bootstrap_interval(differences)
        out[name] = {
            "difference": statistics.fmean(differences) if differences else 0.0,
            "interval": [low, high],
            "only_here": sorted(v for v in videos if mine[v] and not dense[v]),
            "only_dense": sorted(v for v in videos if dense[v] and not mine[v]),
        }
    return out


def paired_table(report: dict[str, Any]) -> str:
    """The paired comparison with dense as a markdown table ("" for multi-label reports)."""
    paired = report.get("paired_with_dense")
    if not paired:
        return ""
    lines = [
        "| setting | accuracy − dense | 95% interval (paired bootstrap) | right only here | right only with dense |",
        "|---|---|---|---|---|",
    ]
    for name, row in paired.items():
        low, high = row["interval"]
        lines.append(
            f"| {name} | {100 * row['difference']:+.1f} pts | [{100 * low:+.1f}, {100 * high:+.1f}] |"
            f" {len(row['only_here'])} | {len(row['only_dense'])} |"
        )
    return "\n".join(lines)


def group_table(report: dict[str, Any]) -> str:
    """Accuracy per class group (with pair accuracy), or mAP per group; "" without groups."""
    rows = {name: row.get("groups") for name, row in report["settings"].items()}
    names = sorted({g for groups in rows.values() if groups for g in groups})
    if not names or names == ["other"]:
        return ""
    first = next(g for g in rows.values() if g)
    multi = "mAP" in next(iter(first.values()))
    head = "| setting | " + " | ".join(
        f"{g} mAP ({first[g]['classes']:.0f} classes)" if multi else f"{g} ({first[g]['videos']:.0f} videos)"
        for g in names
    )
    lines = [head + " |", "|" + "---|" * (len(names) + 1)]
    for name, groups in rows.items():
        cells = []
        for g in names:
            figures = (groups or {}).get(g)
            if figures is None:
                cells.append("—")
            elif multi:
                cells.append(f"{figures['mAP']:.3f}")
            else:
                cells.append(f"{figures['accuracy']:.3f} ({figures['pair_accuracy']:.3f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(report: dict[str, Any]) -> str:
    """The evaluation as a markdown table (one row per setting)."""
    metric = "mAP" if "mAP" in next(iter(report["settings"].values())) else "accuracy"
    relevance = "relevant_recall" in report["settings"].get("gated threshold", {})
    head = f"| setting | {metric} | snippets selected | selected % (± across videos) | heavy GFLOPs | total GFLOPs |"
    head += " decode s | light s | gate s | heavy s | total s |"
    if relevance:
        head += " relevant recall | relevant precision |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, row in report["settings"].items():
        s = row["seconds"]
        line = (
            f"| {name} | {row[metric]:.3f} | {row['snippets_selected']:.1f} | {100 * row['selected_fraction']:.1f}"
            f" ± {100 * row['selected_fraction_std']:.1f} | {row['heavy_gflops']:.2f} | {row['total_gflops']:.2f} |"
            f" {s['decode']:.3f} | {s['light']:.3f} | {s['gate']:.4f} | {s['heavy']:.3f} | {s['total']:.3f} |"
        )
        if relevance:
            line += (
                f" {row.get('relevant_recall', float('nan')):.3f} | {row.get('relevant_precision', float('nan')):.3f} |"
            )
        lines.append(line)
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    """Accuracy (or mAP) against total GFLOPs per video, one marker per setting family."""
    matplotlib = require("matplotlib", extra="plots", needed_for="the evaluation plot")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", extra="plots", needed_for="the evaluation plot")

    metric = "mAP" if "mAP" in next(iter(report["settings"].values())) else "accuracy"
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    families: dict[str, list[tuple[float, float, str]]] = {}
    for name, row in report["settings"].items():
        families.setdefault(name.split()[0], []).append((row["total_gflops"], row[metric], name))
    markers = {"dense": "s", "uniform": "^", "random": "v", "gated": "o"}
    for family, points in families.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=markers.get(family, "o"), label=family)
        for x, y, name in points:
            ax.annotate(
                name.split(" ", 1)[-1] if " " in name else name,
                (x, y),
                fontsize=7,
                textcoords="offset points",
                xytext=(3, 3),
            )
    ax.set_xlabel("total GFLOPs per video (light + gate + heavy + head)")
    ax.set_ylabel(metric)
    ax.set_title(f"{report['model']['name']}: {metric} vs compute ({report['videos']} {report['split']} videos)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report_markdown(report: dict[str, Any]) -> str:
    """The settings table, then (single-label) the paired comparison with dense, then the light-pass ladder."""
    paired = paired_table(report)
    groups = group_table(report)
    text = markdown_table(report) + "\n"
    if groups:
        text += (
            "\nPer class group: accuracy (pair right: the prediction is the class or its partner), or mAP:"
            f"\n\n{groups}\n"
        )
    if paired:
        text += f"\nPaired with dense, on the same videos:\n\n{paired}\n"
    if report.get("light_passes"):
        text += f"\nLight passes (gated 25%), on the same videos:\n\n{report['light_passes']}\n"
    return text


def write_report(report: dict[str, Any], out: Path, *, log: Any = print) -> dict[str, Path]:
    """Write ``evaluation.json``, ``evaluation.md`` and ``evaluation.png`` into ``out`` (the plot only with
    matplotlib installed; without it ``log`` says how to get it and the other files are written)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "evaluation.json", "markdown": out / "evaluation.md", "plot": out / "evaluation.png"}
    paths["json"].write_text(json.dumps(report, indent=2))
    paths["markdown"].write_text(report_markdown(report))
    try:
        plot(report, paths["plot"])
    except MissingExtra as exc:
        log(f"no plot: {exc}")
        del paths["plot"]
    return paths
