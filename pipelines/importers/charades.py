"""Charades-style CSV: ``Charades_v1_train.csv`` / ``Charades_v1_test.csv`` with columns ``id, subject, scene,
quality, relevance, verified, script, objects, descriptions, actions, length``, and the class list
``Charades_v1_classes.txt`` (``c000 Holding some clothes``, one class per line).

The file name says the split (``*_train.csv`` → ``train``, ``*_test.csv`` → ``test``). ``actions`` holds
``CLASS START END`` items in seconds separated by ``;`` (``c092 11.90 21.20;c147 0.00 12.60``): a video's labels
are its actions' classes (multi-label), named from the class list, and every action is a segment. With the
class list, its names and order become classes.txt (classes no video uses included); without one, the
``c###`` codes are the class names. A video without actions is left out and counted. ``length`` (seconds)
clips segments that run past it. Videos are found by id: ``ID.<ext>`` under the video folder
(``Charades_v1_480/ID.mp4``).
"""

from __future__ import annotations

from pathlib import Path

from ..datasets import LABEL_SEPARATOR
from ._common import Entry, ImportOptions, Parsed, SourceSegment, VideoIndex, number, read_csv

CLASS_LIST = "Charades_v1_classes.txt"
SPLIT_OF = {"_train.csv": "train", "_test.csv": "test"}


def parse(src: Path, options: ImportOptions) -> Parsed:
    folder = src.parent if src.is_file() else src
    files = [src] if src.is_file() else [p for end in SPLIT_OF for p in sorted(src.glob(f"*{end}"))]
    parsed = Parsed(entries=[], videos_root=options.videos or folder)
    if not files:
        parsed.problems.append(f"{src}: no *_train.csv or *_test.csv (Charades_v1_train.csv, Charades_v1_test.csv)")
        return parsed
    names = _class_list(options.classes or folder / CLASS_LIST, parsed, given=options.classes is not None)
    index = VideoIndex(parsed.videos_root)
    without_actions = 0
    for path in files:
        split = next((s for end, s in SPLIT_OF.items() if path.name.endswith(end)), "")
        if not split:
            parsed.problems.append(f"{path.name}: the file name says no split (…_train.csv or …_test.csv)")
            continue
        table = read_csv(path, parsed.problems)
        if table is None:
            continue
        header, rows = table
        missing = [c for c in ("id", "actions") if c not in header]
        if missing:
            parsed.problems.append(f"{path.name} line 1: missing column(s) {', '.join(missing)}")
            continue
        for line, row in rows:
            if not row["actions"]:
                without_actions += 1
                continue
            entry = Entry(where=f"{path.name} line {line} ({row['id']})", video=None, labels=[], split=split)
            if row.get("length"):
                entry.duration = number(row["length"])
            for item in row["actions"].split(";"):
                _action(item.strip(), names, entry)
            entry.video, not_found = index.find(row["id"])
            if not_found:
                entry.problems.append(not_found)
            parsed.entries.append(entry)
    if without_actions:
        parsed.notes.append(f"{without_actions} video(s) without actions")
    return parsed


def _action(item: str, names: dict[str, str] | None, entry: Entry) -> None:
    parts = item.split()
    start, end = (number(parts[1]), number(parts[2])) if len(parts) == 3 else (None, None)
    if start is None or end is None:
        entry.problems.append(f"action {item!r}: expected 'CLASS START END' (seconds), e.g. 'c092 11.90 21.20'")
        return
    label = parts[0] if names is None else names.get(parts[0], "")
    if not label:
        entry.problems.append(f"action {item!r}: class {parts[0]!r} is not in the class list")
        return
    if label not in entry.labels:
        entry.labels.append(label)
    entry.segments.append(SourceSegment(label, start, end, f"action {item!r}"))


def _class_list(path: Path, parsed: Parsed, *, given: bool) -> dict[str, str] | None:
    """``c### name`` lines → {code: name}; None without a class list (the codes are the names)."""
    if not path.is_file():
        if given:
            parsed.problems.append(f"{path}: no such class list")
        return None
    names: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        code, _, name = line.strip().partition(" ")
        if not line.strip():
            continue
        if not code or not name.strip():
            parsed.problems.append(f"{path.name} line {n}: expected 'c### class name', got {line.strip()!r}")
        elif LABEL_SEPARATOR in name:
            parsed.problems.append(f"{path.name} line {n}: class name {name.strip()!r} contains {LABEL_SEPARATOR!r}")
        elif code in names or name.strip() in names.values():
            parsed.problems.append(f"{path.name} line {n}: {code} {name.strip()!r} is listed twice")
        else:
            names[code] = name.strip()
    parsed.classes = tuple(names.values())
    return names
