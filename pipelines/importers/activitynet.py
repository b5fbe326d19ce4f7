"""ActivityNet-style JSON: ``{"database": {ID: {"subset", "annotations": [{"label", "segment": [start, end]}],
"duration", "url", ...}}}`` (the layout of ActivityNet 1.3's ``activity_net.v1-3.min.json``).

``subset`` ``training`` / ``validation`` / ``testing`` becomes ``train`` / ``val`` / ``test``; a video's labels are
its annotations' labels (several distinct ones make it multi-label) and every annotation is a segment in
seconds. A video without annotations (the whole ``testing`` subset of ActivityNet) is left out and counted.
Videos are found by id under the video folder: ``v_ID.<ext>`` (what ActivityNet's crawler writes), else
``ID.<ext>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._common import Entry, ImportOptions, Parsed, SourceSegment, VideoIndex, number

SUBSETS = {"training": "train", "validation": "val", "testing": "test"}


def parse(src: Path, options: ImportOptions) -> Parsed:
    if src.is_dir():
        found = sorted(src.glob("*.json"))
        if len(found) != 1:
            return Parsed([], src, problems=[f"{src}: expected one ActivityNet JSON file in it, found "
                                             f"{len(found)} (name the file as SRC)"])
        src = found[0]
    root = options.videos or src.parent
    parsed = Parsed(entries=[], videos_root=root)
    try:
        raw = json.loads(src.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        parsed.problems.append(f"{src.name}: not readable JSON ({exc})")
        return parsed
    database = raw.get("database") if isinstance(raw, dict) else None
    if not isinstance(database, dict):
        parsed.problems.append(f'{src.name}: no "database" object (ActivityNet\'s layout: '
                               '{"database": {"ID": {"subset": ..., "annotations": [...]}}})')
        return parsed
    index = VideoIndex(root)
    unannotated: dict[str, int] = {}
    for vid, info in database.items():
        where = f'{src.name} database["{vid}"]'
        if not isinstance(info, dict):
            parsed.problems.append(f"{where}: expected an object, got {type(info).__name__}")
            continue
        annotations = info.get("annotations", [])
        if not isinstance(annotations, list):
            parsed.problems.append(f"{where}.annotations: expected a list, got {type(annotations).__name__}")
            continue
        subset = info.get("subset")
        if not annotations and isinstance(subset, str):
            unannotated[subset] = unannotated.get(subset, 0) + 1
            continue
        entry = _entry(where, info, annotations)
        entry.video, missing = index.find(f"v_{vid}", str(vid))
        if missing:
            entry.problems.append(missing)
        parsed.entries.append(entry)
    for subset, count in sorted(unannotated.items()):
        parsed.notes.append(f"{count} video(s) of subset {subset!r} without annotations")
    return parsed


def _entry(where: str, info: dict[str, Any], annotations: list[Any]) -> Entry:
    subset = info.get("subset")
    entry = Entry(where=where, video=None, labels=[], split=SUBSETS.get(subset, "") if isinstance(subset, str) else "")
    if not entry.split:
        entry.problems.append(f".subset: {subset!r} is not one of {', '.join(SUBSETS)}")
    if "duration" in info:
        entry.duration = number(info["duration"])
        if entry.duration is None or entry.duration <= 0:
            entry.problems.append(f".duration: {info['duration']!r} is not a number of seconds")
            entry.duration = None
    for i, annotation in enumerate(annotations):
        at = f".annotations[{i}]"
        if not isinstance(annotation, dict):
            entry.problems.append(f"{at}: expected an object with label and segment")
            continue
        label, segment = annotation.get("label"), annotation.get("segment")
        if not isinstance(label, str) or not label.strip():
            entry.problems.append(f"{at}.label: {label!r} is not a class name")
            continue
        if label not in entry.labels:
            entry.labels.append(label)
        start, end = (number(t) for t in segment) if isinstance(segment, list) and len(segment) == 2 else (None, None)
        if start is None or end is None:
            entry.problems.append(f"{at}.segment: expected [start, end] in seconds, got {segment!r}")
            continue
        entry.segments.append(SourceSegment(label, start, end, f"{at}.segment"))
    return entry
