"""The synthetic long-range activity benchmark.

Each activity class is a combination of 2–3 *atomic events*; an event is an object (a saturated,
white-outlined shape such as a red square or a blue disc) performing a motion (left, right, up,
down, cw, ccw) for about one snippet. A video holds every event of its class once, at random
snippets in random order, among long irrelevant footage: a drifting textured background, small
grey distractor objects wandering around, flicker and noise. At least 80% of snippets hold no event.

Why it measures what vidgate claims:

- One frame shows *where* something relevant happens (event objects are large, saturated and
  outlined; distractors are small and grey), so a light encoder on centre frames can gate.
- One frame does *not* show *which* activity it is: classes come in pairs that differ only in the
  direction of one event's motion, and an event's centre-frame pose is drawn independently of its
  direction, so only a network that sees a snippet's frames in order can tell the pair apart.
- Backgrounds, distractors and event positions are independent of the class, so memorising a
  video's look does not help on held-out videos.

Structure classes (``order_classes``, ``count_classes``) test what a bag of events cannot tell:

- *order* pairs show the same two events in opposite order, at least ``min_gap_s`` seconds apart
  (tens of seconds on long videos): a head that pools without looking at time is at chance inside a pair;
- *count* pairs show one event once or three times: only a head that counts can tell them apart.

Every class has a group (``other``: the direction pairs above, ``order``, ``count``), written into
``relevance.json`` with its partner. With ``multi_label`` some videos show the events of two classes
that share no event, labelled ``a|b``.

Layout contract (also written into ``relevance.json``): a video of ``num_snippets`` snippets has
exactly ``num_snippets × snippet_frames`` frames and snippet ``i`` is frames
``[i·snippet_frames, (i+1)·snippet_frames)``: consecutive, non-overlapping, covering the whole video,
which is how the recognizer plans a video of that length. An event covers its whole snippet and
spills at most two frames into each neighbour, never reaching a neighbour's centre frame.

Modules: ``classes`` (events, activity classes, `SynthConfig`), ``render`` (placing a video's events,
drawing its frames, encoding them), this one (planning the data set and writing its files).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from .classes import (
    GROUPS,
    MAX_EVENTS,
    MAX_RELEVANT_FRACTION,
    MOTIONS,
    OBJECTS,
    OPPOSITE,
    ActivityClass,
    Event,
    SynthConfig,
    all_classes,
    design_classes,
    design_structure_classes,
)
from .render import VideoPlan, place_events, render_frames, write_h264

VideosDone = Callable[[int, int], None]  # (videos written, of total)

__all__ = [
    "GROUPS",
    "MAX_EVENTS",
    "MAX_RELEVANT_FRACTION",
    "MOTIONS",
    "OBJECTS",
    "OPPOSITE",
    "ActivityClass",
    "Event",
    "SynthConfig",
    "all_classes",
    "design_classes",
    "design_structure_classes",
    "write_synthetic_dataset",
    "write_videos",
]


def _plan_videos(config: SynthConfig, classes: tuple[ActivityClass, ...]) -> list[VideoPlan]:
    rng = np.random.default_rng([config.seed, 0])
    labels = np.arange(config.videos) % len(classes)
    rng.shuffle(labels)
    snippets = rng.integers(config.min_snippets, config.max_snippets + 1, size=config.videos)
    # Stratified split: rank each video within its class, then cut the videos sorted by that quantile,
    # so every class is spread over the splits and the global fractions come out exact.
    quantile = np.zeros(config.videos)
    for c in range(len(classes)):
        members = np.flatnonzero(labels == c)
        order = rng.permutation(len(members))
        quantile[members[order]] = (np.arange(len(members)) + rng.random()) / max(1, len(members))
    ranked = np.lexsort((np.arange(config.videos), quantile))
    n_train = round(config.splits[0] * config.videos)
    n_val = round(config.splits[1] * config.videos)
    split_of = {}
    for position, video in enumerate(ranked):
        split_of[int(video)] = "train" if position < n_train else "val" if position < n_train + n_val else "test"
    extra = _second_labels(config, classes, labels)
    return [VideoPlan(i, (int(labels[i]), *extra[i]), split_of[i], int(snippets[i])) for i in range(config.videos)]


def _second_labels(config: SynthConfig, classes: tuple[ActivityClass, ...],
                   labels: np.ndarray) -> list[tuple[int, ...]]:
    """Multi-label: every other video (at random) also shows a class that shares no event with its first."""
    if not config.multi_label:
        return [() for _ in labels]
    rng = np.random.default_rng([config.seed, 3])
    out: list[tuple[int, ...]] = []
    for label in labels:
        first = classes[int(label)]
        fits = [i for i, c in enumerate(classes) if not set(c.events) & set(first.events)]
        out.append((int(rng.choice(fits)),) if fits and rng.random() < 0.5 else ())
    return out


def _readme(config: SynthConfig, classes: tuple[ActivityClass, ...]) -> str:
    lines = [
        "# Synthetic long-range activity benchmark",
        "",
        f"Generated by `vidgate synth` (pipelines/synth/): {config.videos} videos, {len(classes)} classes, "
        f"{config.size}×{config.size} px at {config.fps:g} fps, {config.min_snippets}–{config.max_snippets} "
        f"snippets of {config.snippet_frames} frames per video, seed {config.seed}.",
        "",
        "Each activity is a set of atomic events (a saturated, white-outlined object performing a motion for "
        "about one snippet). A video shows every event of its class once, at random snippets and in random "
        "order, among irrelevant footage (drifting texture, grey distractors, noise). Classes come in pairs "
        "that differ only in the direction of one event's motion: one frame shows where an event happens, "
        "only a snippet's frames in order show which activity it is.",
        "",
        *([f"Order classes show two events in a fixed order, at least {config.min_gap_s:g} s apart; their partner "
           "has the reverse order. Count classes show one event once or three times.", ""]
          if config.order_classes or config.count_classes else []),
        *(["Multi-label: about half of the videos also show the events of a second class that shares no event "
           "with the first (label `a|b`).", ""] if config.multi_label else []),
        "`relevance.json` lists, per video, the snippets that hold an event (for gate evaluation). Snippet i is "
        "frames [i·snippet_frames, (i+1)·snippet_frames); a video is exactly num_snippets × snippet_frames frames "
        "long." + (" `segments.csv` says when each event happens (video, label, start, end in seconds): the timed "
                   "annotations training may learn from." if config.segments else ""),
        "",
        "| class | group | events | partner |",
        "|---|---|---|---|",
    ]
    for c in classes:
        events = (" → " if c.ordered else ", ").join(e.name for e in c.events)
        lines.append(f"| {c.name} | {c.group} | {events} | {c.partner or '—'} |")
    return "\n".join(lines) + "\n"


def _write_one(root: Path, config: SynthConfig, activities: tuple[ActivityClass, ...],
               plan: VideoPlan) -> tuple[tuple[str, str, str], dict[str, object]]:
    """Write one video; returns its annotation row and its relevance entry."""
    rng = np.random.default_rng([config.seed, 2, plan.index])
    placed = place_events(activities, plan.num_snippets, config, rng)
    name = f"videos/{plan.index:05d}.mp4"
    written = write_h264(root / name, render_frames(plan, placed, config), fps=config.fps, crf=config.crf)
    if written != plan.num_snippets * config.snippet_frames:
        raise RuntimeError(f"{name}: wrote {written} frames, planned {plan.num_snippets * config.snippet_frames}")
    entry: dict[str, object] = {
        "num_snippets": plan.num_snippets,
        "frames": written,
        "fps": config.fps,
        "relevant": sorted(p.snippet for p in placed),
        "events": [{"snippet": p.snippet, "event": p.event.name, "class": p.activity, "frames": [p.first, p.last],
                    "seconds": [round(p.first / config.fps, 4), round(p.last / config.fps, 4)]}
                   for p in sorted(placed, key=lambda p: p.snippet)],
    }
    return (name, "|".join(a.name for a in activities), plan.split), entry


def write_synthetic_dataset(out: str | Path, config: SynthConfig | None = None, *,
                            progress: VideosDone | None = None, workers: int = 1) -> Path:
    """Write the benchmark as a vidgate data set folder (see docs/datasets.md).

    Writes ``videos/NNNNN.mp4`` (H.264), ``annotations.csv``, ``classes.txt``, ``relevance.json``
    (the snippet layout and the relevant snippets of every video), ``dataset.json`` (synthetic, and the
    generator's parameters: what a model card records) and ``README.md``.

    Args:
        out: folder to write into (created; existing files of the same names are overwritten).
        config: what to generate; defaults to ``SynthConfig()``.
        progress: called as ``progress(done, total)`` after each video.
        workers: processes writing videos in parallel (the output does not depend on it). They are
            spawned, so a script calling this with ``workers > 1`` needs the usual
            ``if __name__ == "__main__":`` guard.

    Returns:
        The data set folder.
    """
    config = config or SynthConfig()
    root = Path(out)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    classes = all_classes(config)
    plans = _plan_videos(config, classes)
    jobs = [(root, config, tuple(classes[i] for i in plan.labels), plan) for plan in plans]
    results: list[tuple[tuple[str, str, str], dict[str, object]]] = []
    if workers <= 1:
        for done, job in enumerate(jobs, start=1):
            results.append(_write_one(*job))
            if progress is not None:
                progress(done, len(jobs))
    else:
        # Spawned processes: the caller may hold torch or threads, which fork does not copy safely.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_write_one, *job) for job in jobs]
            for done, _ in enumerate(as_completed(futures), start=1):
                if progress is not None:
                    progress(done, len(jobs))
            results = [f.result() for f in futures]
    rows = [row for row, _ in results]
    relevance = {row[0]: entry for row, entry in results}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("video", "label", "split"))
    writer.writerows(rows)
    (root / "annotations.csv").write_text(buffer.getvalue(), encoding="utf-8")
    (root / "classes.txt").write_text("".join(c.name + "\n" for c in classes), encoding="utf-8")
    timed = root / "segments.csv"
    if config.segments:  # each event, labelled with the activity it belongs to
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("video", "label", "start", "end"))
        for row, entry in results:
            events = entry["events"]
            assert isinstance(events, list)
            writer.writerows((row[0], e["class"], e["seconds"][0], e["seconds"][1]) for e in events)
        timed.write_text(buffer.getvalue(), encoding="utf-8")
    else:
        timed.unlink(missing_ok=True)
    sidecar = {
        "format": "vidgate-relevance/1",
        "snippet_frames": config.snippet_frames,
        "fps": config.fps,
        "layout": ("num_snippets consecutive non-overlapping snippets of snippet_frames frames cover the whole "
                   "video exactly (frames = num_snippets × snippet_frames); snippet i is frames "
                   "[i·snippet_frames, (i+1)·snippet_frames)"),
        "use": "gate evaluation (training learns from segments.csv, the same events in seconds)",
        "classes": {c.name: {"events": [e.name for e in c.events], "partner": c.partner, "group": c.group,
                             "ordered": c.ordered} for c in classes},
        "videos": relevance,
    }
    text = json.dumps(sidecar, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (root / "relevance.json").write_text(text, encoding="utf-8")
    (root / "README.md").write_text(_readme(config, classes), encoding="utf-8")
    (root / "dataset.json").write_text(json.dumps(origin(config), indent=1) + "\n", encoding="utf-8")
    return root


def write_videos(out: str | Path, config: SynthConfig, indices: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Write only videos ``indices`` of the data set ``config`` describes, as `write_synthetic_dataset` writes
    them (``out/videos/NNNNN.mp4``); returns each one's label, split and relevance entry (its events), by name."""
    classes = all_classes(config)
    plans = _plan_videos(config, classes)
    (Path(out) / "videos").mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, Any]] = {}
    for index in indices:
        plan = plans[index]
        (name, label, split), entry = _write_one(Path(out), config, tuple(classes[i] for i in plan.labels), plan)
        written[name] = {"label": label, "split": split, **entry}
    return written


def origin(config: SynthConfig) -> dict[str, object]:
    """What ``dataset.json`` says of a generated data set (`pipelines.datasets.read_origin`)."""
    return {"synthetic": True, "made_by": made_by(config), "generator": dataclasses.asdict(config)}


def made_by(config: SynthConfig) -> str:
    """The ``vidgate synth`` command that writes this data set (the options that differ from the defaults)."""
    defaults = SynthConfig()
    flags = {"videos": "--videos", "seed": "--seed", "classes": "--classes", "size": "--size", "fps": "--fps",
             "min_snippets": "--min-snippets", "max_snippets": "--max-snippets", "order_classes": "--order-classes",
             "count_classes": "--count-classes", "min_gap_s": "--min-gap"}
    parts = ["vidgate synth OUT", f"--videos {config.videos}", f"--seed {config.seed}"]
    parts += [f"{flag} {getattr(config, name):g}" for name, flag in flags.items()
              if name not in ("videos", "seed") and getattr(config, name) != getattr(defaults, name)]
    if config.multi_label:
        parts.append("--multi-label")
    if not config.segments:
        parts.append("--no-segments")
    other = [f.name for f in dataclasses.fields(config) if f.name not in flags and f.name not in ("multi_label",
                                                                                                  "segments")
             and getattr(config, f.name) != getattr(defaults, f.name)]
    return " ".join(parts) + (f" (and {', '.join(other)} as in generator)" if other else "")
