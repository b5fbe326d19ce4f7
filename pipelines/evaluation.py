"""Evaluation: accuracy against compute, every setting measured by real recognizer runs in one go.

Settings on the test split: dense (every snippet), uniform-k and random-k at each budget, gated at
each budget and at the learned threshold. Per setting: top-1 accuracy (mAP for multi-label), snippets
selected, heavy and total GFLOPs per video, wall time per stage; on a data set with a relevance
sidecar (the synthetic benchmark) also the gate's recall and precision of relevant snippets and how
conditional the selection is (spread of the selected fraction across videos).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .datasets import Dataset
from .recognizer import Options, Recognizer
from .results import RecognitionResult


@dataclass(frozen=True)
class Setting:
    name: str
    options: Options


def settings_for(budgets: Sequence[float]) -> list[Setting]:
    out = [Setting("dense", Options(mode="dense"))]
    for mode in ("uniform", "random"):
        out += [Setting(f"{mode} {b:.0%}", Options(mode=mode, budget=b)) for b in budgets]
    out += [Setting(f"gated {b:.0%}", Options(mode="gated", budget=b)) for b in budgets]
    out.append(Setting("gated threshold", Options(mode="gated")))
    return out


def average_precision(scores: list[float], positives: list[bool]) -> float:
    """Area under the precision-recall curve of one class (the usual non-interpolated AP)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    hits, total, ap = 0, sum(positives), 0.0
    if total == 0:
        return float("nan")
    for rank, i in enumerate(order, start=1):
        if positives[i]:
            hits += 1
            ap += hits / rank
    return ap / total


Events = list[tuple[int, int]]


def load_relevance(root: Path) -> dict[str, Events]:
    """Relevant frame ranges ``[first, last)`` per video path (relative to the data set) from ``relevance.json``.

    Ranges come from each video's ``events``; a sidecar listing only ``relevant`` snippet indices is read
    through its layout (snippet ``i`` is frames ``[i·snippet_frames, (i+1)·snippet_frames)``).
    """
    sidecar = root / "relevance.json"
    if not sidecar.exists():
        return {}
    raw = json.loads(sidecar.read_text())
    videos = raw.get("videos", raw)
    length = int(raw.get("snippet_frames", 8))
    out: dict[str, Events] = {}
    for name, entry in videos.items():
        if isinstance(entry, dict) and entry.get("events"):
            out[str(name)] = [(int(e["frames"][0]), int(e["frames"][1])) for e in entry["events"]]
        else:
            indices = entry["relevant"] if isinstance(entry, dict) else entry
            out[str(name)] = [(int(i) * length, (int(i) + 1) * length) for i in indices]
    return out


def _shows(snippet: tuple[int, int], event: tuple[int, int]) -> bool:
    """A snippet shows an event when they share at least half of the shorter of the two."""
    overlap = min(snippet[1], event[1]) - max(snippet[0], event[0])
    return overlap * 2 >= min(snippet[1] - snippet[0], event[1] - event[0])


def relevance_scores(selected: Sequence[tuple[int, int]], events: Events) -> tuple[float, float]:
    """The gate's recall (events shown by at least one selected snippet) and precision (selected
    snippets that show an event), matching frame ranges so that any snippet plan can be scored."""
    found = sum(any(_shows(s, e) for s in selected) for e in events)
    useful = sum(any(_shows(s, e) for e in events) for s in selected)
    return found / max(1, len(events)), useful / max(1, len(selected))


def _summarise(
    dataset: Dataset,
    results: list[tuple[Any, RecognitionResult]],
    relevance: dict[str, Events],
    classes: tuple[str, ...],
) -> dict[str, Any]:
    n = len(results)
    if dataset.multi_label:
        aps = []
        for c in classes:
            scores = [next((lab.score for lab in r.labels if lab.label == c), 0.0) for _, r in results]
            positives = [c in item.labels for item, _ in results]
            ap = average_precision(scores, positives)
            if ap == ap:
                aps.append(ap)
        quality = {"mAP": statistics.fmean(aps) if aps else 0.0}
    else:
        quality = {"accuracy": sum(r.labels[0].label in item.labels for item, r in results) / n}
    fractions = [r.compute.selected_fraction for _, r in results]
    row: dict[str, Any] = {
        **quality,
        "videos": n,
        "snippets_selected": statistics.fmean(r.compute.snippets_selected for _, r in results),
        "selected_fraction": statistics.fmean(fractions),
        "selected_fraction_std": statistics.pstdev(fractions),
        "heavy_gflops": statistics.fmean(r.compute.gflops_by_stage["heavy"] for _, r in results),
        "total_gflops": statistics.fmean(r.compute.gflops for _, r in results),
        "dense_gflops": statistics.fmean(r.compute.gflops_dense for _, r in results),
        "seconds": {k: statistics.fmean(r.timings[k] for _, r in results) for k in results[0][1].timings},
    }
    if relevance:
        recalls, precisions = [], []
        for item, r in results:
            events = relevance.get(_relative(dataset, item.path))
            if not events:
                continue
            recall, precision = relevance_scores([s.frames for s in r.snippets if s.selected], events)
            recalls.append(recall)
            precisions.append(precision)
        if recalls:
            row["relevant_recall"] = statistics.fmean(recalls)
            row["relevant_precision"] = statistics.fmean(precisions)
    return row


def _relative(dataset: Dataset, path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(dataset.root).resolve()))
    except ValueError:
        return str(path)


def evaluate(
    recognizer: Recognizer,
    dataset: Dataset,
    *,
    split: str = "test",
    budgets: Sequence[float] = (0.1, 0.25, 0.5),
    on_step: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run every setting over the split; returns ``{"settings": {name: metrics}, ...}``."""
    items = dataset.split(split)
    if not items:
        raise ValueError(f"the data set has no {split!r} videos")
    relevance = load_relevance(Path(dataset.root))
    classes = recognizer.config.classes
    report: dict[str, Any] = {"split": split, "videos": len(items), "model": recognizer.model_info, "settings": {}}
    for setting in settings_for(budgets):
        options = Options(**{**setting.options.__dict__, "top_k": len(classes)})
        results = []
        for i, item in enumerate(items):
            results.append((item, recognizer.recognize(item.path, options)))
            if on_step:
                on_step(setting.name, i + 1, len(items))
        report["settings"][setting.name] = _summarise(dataset, results, relevance, classes)
    return report


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def write_report(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write ``evaluation.json``, ``evaluation.md`` and ``evaluation.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "evaluation.json", "markdown": out / "evaluation.md", "plot": out / "evaluation.png"}
    paths["json"].write_text(json.dumps(report, indent=2))
    paths["markdown"].write_text(markdown_table(report) + "\n")
    plot(report, paths["plot"])
    return paths
