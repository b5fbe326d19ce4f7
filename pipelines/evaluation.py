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

Tables, the plot and the files a report is written to: `pipelines.evaluation_report`.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .datasets import Dataset
from .evaluation_report import light_pass_table, paired_with_dense
from .options import Mode, Options, parse_options
from .recognizer import Recognizer
from .results import RecognitionResult


@dataclass(frozen=True)
class Setting:
    name: str
    options: Options


LIGHT_PASS_LADDER = ("exact", "nonref", "fast", "keyframe", "aligned", "auto")


def settings_for(budgets: Sequence[float], light_passes: Sequence[str] = (),
                 light_pass_budget: float = 0.25) -> list[Setting]:
    """Dense, the baselines and gated at each budget; then gated at ``light_pass_budget`` with each light pass."""
    out = [Setting("dense", Options(mode=Mode.DENSE))]
    for mode in (Mode.UNIFORM, Mode.RANDOM):
        out += [Setting(f"{mode.value} {b:.0%}", Options(mode=mode, budget=b)) for b in budgets]
    out += [Setting(f"gated {b:.0%}", Options(budget=b)) for b in budgets]
    out.append(Setting("gated threshold", Options()))
    out += [Setting(f"gated {light_pass_budget:.0%}, light {p}",
                    parse_options({"budget": light_pass_budget, "light_pass": p})) for p in light_passes]
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


def shows(snippet: tuple[float, float], event: tuple[float, float]) -> bool:
    """A snippet shows an event when they share at least half of the shorter of the two."""
    overlap = min(snippet[1], event[1]) - max(snippet[0], event[0])
    return overlap * 2 >= min(snippet[1] - snippet[0], event[1] - event[0])


def relevance_scores(selected: Sequence[tuple[float, float]],
                     events: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The gate's recall (events shown by at least one selected snippet) and precision (selected
    snippets that show an event), matching ranges (frames, or seconds) so that any snippet plan can be scored."""
    found = sum(any(shows(s, e) for s in selected) for e in events)
    useful = sum(any(shows(s, e) for e in events) for s in selected)
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
    if relevance or dataset.segments:
        recalls, precisions = [], []
        for item, r in results:
            if dataset.segments:  # timed annotations, in seconds, against the snippets' seconds
                events: Sequence[tuple[float, float]] = [(seg.start, seg.end) for seg in
                                                         dataset.segments.get(item.path, ())]
                spans = [(s.start, s.end) for s in r.snippets if s.selected]
            else:
                events = relevance.get(_relative(dataset, item.path)) or []
                spans = [s.frames for s in r.snippets if s.selected]
            if not events:
                continue
            recall, precision = relevance_scores(spans, events)
            recalls.append(recall)
            precisions.append(precision)
        if recalls:
            row["relevant_recall"] = statistics.fmean(recalls)
            row["relevant_precision"] = statistics.fmean(precisions)
    return row


def _relative(dataset: Dataset, path: Path) -> str:
    """The video's path inside the data set as its annotations spell it (an imported data set's videos are
    symbolic links: the link's path, not its target's)."""
    for inside, root in ((Path(path), Path(dataset.root)), (Path(path).resolve(), Path(dataset.root).resolve())):
        try:
            return str(inside.relative_to(root))
        except ValueError:
            continue
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
