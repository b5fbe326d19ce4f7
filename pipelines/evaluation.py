"""Evaluation: accuracy against compute, every setting measured by real recognizer runs in one go.

Settings on the test split: dense (every snippet), uniform-k and random-k at each budget, gated at
each budget and at the learned threshold. Per setting: top-1 accuracy (mAP for multi-label), snippets
selected, heavy and total GFLOPs per video, wall time per stage; on a data set with a relevance
sidecar (the synthetic benchmark) also the gate's recall and precision of relevant snippets and how
conditional the selection is (spread of the selected fraction across videos). Per video and setting
the report keeps what was predicted, and for single-label data it compares every setting with dense on
the same videos: videos only one of them gets right, and a paired bootstrap interval of the accuracy
difference (a small test split decides by a handful of videos). When the sidecar names class groups
(the synthetic benchmark's ``other`` / ``order`` / ``count``), accuracy is also reported per group, with
the share of videos whose prediction is the right class or its partner: a model that ignores order
gets order pairs right and is at chance inside them.
"""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .datasets import Dataset
from .options import Mode, Options, parse_options
from .recognizer import Recognizer
from .results import RecognitionResult


@dataclass(frozen=True)
class Setting:
    name: str
    options: Options


LIGHT_PASS_LADDER = ("exact", "nonref", "fast", "keyframe", "aligned", "auto")


def settings_for(budgets: Sequence[float], light_passes: Sequence[str] = (),
                 ladder_budget: float = 0.25) -> list[Setting]:
    """Dense, the baselines and gated at each budget; then gated at ``ladder_budget`` with each light pass."""
    out = [Setting("dense", Options(mode=Mode.DENSE))]
    for mode in (Mode.UNIFORM, Mode.RANDOM):
        out += [Setting(f"{mode.value} {b:.0%}", Options(mode=mode, budget=b)) for b in budgets]
    out += [Setting(f"gated {b:.0%}", Options(budget=b)) for b in budgets]
    out.append(Setting("gated threshold", Options()))
    out += [Setting(f"gated {ladder_budget:.0%}, light {p}", parse_options({"budget": ladder_budget, "light_pass": p}))
            for p in light_passes]
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


def load_class_groups(root: Path) -> dict[str, tuple[str, str | None]]:
    """``{class: (group, partner)}`` from ``relevance.json`` (empty without one; ``other`` when unnamed)."""
    sidecar = root / "relevance.json"
    if not sidecar.exists():
        return {}
    classes = json.loads(sidecar.read_text()).get("classes", {})
    return {str(name): (str(spec.get("group", "other")), spec.get("partner")) for name, spec in classes.items()}


def _group_figures(
    dataset: Dataset,
    results: list[tuple[Any, RecognitionResult]],
    groups: dict[str, tuple[str, str | None]],
    classes: tuple[str, ...],
) -> dict[str, dict[str, float]]:
    """Per class group: top-1 accuracy and pair accuracy (single-label), or mAP over its classes (multi-label)."""
    out: dict[str, dict[str, float]] = {}
    for group in sorted({g for g, _ in groups.values()}):
        members = [c for c in classes if groups.get(c, ("", None))[0] == group]
        if dataset.multi_label:
            aps = [
                average_precision(
                    [next((lab.score for lab in r.labels if lab.label == c), 0.0) for _, r in results],
                    [c in item.labels for item, _ in results],
                )
                for c in members
            ]
            aps = [ap for ap in aps if ap == ap]
            if aps:
                out[group] = {"mAP": statistics.fmean(aps), "classes": len(aps)}
            continue
        mine = [(item, r) for item, r in results if item.labels[0] in members]
        if not mine:
            continue
        right = [r.labels[0].label == item.labels[0] for item, r in mine]
        pair = [r.labels[0].label in (item.labels[0], groups[item.labels[0]][1]) for item, r in mine]
        out[group] = {"accuracy": statistics.fmean(right), "pair_accuracy": statistics.fmean(pair), "videos": len(mine)}
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
    groups: dict[str, tuple[str, str | None]] | None = None,
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
        "frames_decoded": statistics.fmean(r.compute.frames_decoded for _, r in results),
        "frames_decoded_light": statistics.fmean(r.compute.frames_decoded_light for _, r in results),
        "decoded_fraction": statistics.fmean(r.compute.decoded_fraction for _, r in results),
        "light_pass": dict(Counter(r.compute.light_pass for _, r in results)),
        "largest_gap_s": max(r.compute.largest_gap_s for _, r in results),
        "per_video": [
            {
                "video": _relative(dataset, item.path),
                "labels": sorted(item.labels),
                "predicted": r.labels[0].label if r.labels else None,
                "score": r.labels[0].score if r.labels else 0.0,
                "selected_fraction": r.compute.selected_fraction,
            }
            for item, r in results
        ],
    }
    if groups:
        row["groups"] = _group_figures(dataset, results, groups, classes)
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
    light_passes: Sequence[str] = (),
    on_step: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run every setting over the split; returns ``{"settings": {name: metrics}, ...}``.

    ``light_passes`` adds the light-pass ladder: gated at 25% with each light pass, so that accuracy
    and decoding cost (frames decoded, decode seconds) can be read side by side per mode.
    """
    items = dataset.split(split)
    if not items:
        raise ValueError(f"the data set has no {split!r} videos")
    relevance = load_relevance(Path(dataset.root))
    groups = load_class_groups(Path(dataset.root))
    classes = recognizer.config.classes
    report: dict[str, Any] = {"split": split, "videos": len(items), "model": recognizer.model_info, "settings": {}}
    for setting in settings_for(budgets, light_passes):
        options = setting.options.model_copy(update={"top_k": len(classes)})
        results = []
        # the next videos decode in the recognizer's decoding children while the model works on this one
        for i, (item, result) in enumerate(zip(items, recognizer.recognize_many([x.path for x in items], options),
                                               strict=True)):
            if isinstance(result[1], Exception):
                raise result[1]
            results.append((item, result[1]))
            if on_step:
                on_step(setting.name, i + 1, len(items))
        report["settings"][setting.name] = _summarise(dataset, results, relevance, classes, groups)
    if not dataset.multi_label:
        report["paired_with_dense"] = paired_with_dense(report)
    if light_passes:
        report["light_passes"] = light_pass_table(report)
    return report


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


def write_report(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write ``evaluation.json``, ``evaluation.md`` and ``evaluation.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "evaluation.json", "markdown": out / "evaluation.md", "plot": out / "evaluation.png"}
    paths["json"].write_text(json.dumps(report, indent=2))
    paths["markdown"].write_text(report_markdown(report))
    plot(report, paths["plot"])
    return paths
