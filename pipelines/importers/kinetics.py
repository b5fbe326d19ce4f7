"""Kinetics-style CSV: ``label, youtube_id, time_start, time_end, split`` (Kinetics-400/600/700's ``train.csv``,
``validate.csv``/``val.csv``, ``test.csv``; other columns such as ``is_cc`` are ignored).

``split`` ``train`` / ``val`` (or ``validate``) / ``test`` is the split; a file without that column takes it from
its name. The videos are the trimmed 10-second clips, so there are no segments. They are found by name under
the video folder: ``ID_START_END.<ext>`` with six-digit seconds (``abc_000010_000020.mp4``, what the
ActivityNet crawler and the CVDF downloads write), else ``ID.<ext>``. Rows without a label (the unlabelled
test list) are left out and counted.
"""

from __future__ import annotations

from pathlib import Path

from ._common import Entry, ImportOptions, Parsed, VideoIndex, number, read_csv

SPLITS = {"train": "train", "val": "val", "validate": "val", "validation": "val", "test": "test"}


def parse(src: Path, options: ImportOptions) -> Parsed:
    folder = src.parent if src.is_file() else src
    files = [src] if src.is_file() else sorted(src.glob("*.csv"))
    parsed = Parsed(entries=[], videos_root=options.videos or folder)
    if not files:
        parsed.problems.append(f"{src}: no CSV file (label,youtube_id,time_start,time_end,split)")
        return parsed
    index = VideoIndex(parsed.videos_root)
    unlabelled = 0
    for path in files:
        table = read_csv(path, parsed.problems)
        if table is None:
            continue
        header, rows = table
        missing = [c for c in ("youtube_id", "time_start", "time_end") if c not in header]
        if missing:
            parsed.problems.append(f"{path.name} line 1: missing column(s) {', '.join(missing)} (expected "
                                   "label,youtube_id,time_start,time_end,split)")
            continue
        named = next((SPLITS[w] for w in path.stem.lower().replace("-", "_").split("_") if w in SPLITS), "")
        for line, row in rows:
            if not row.get("label"):
                unlabelled += 1
                continue
            vid = row["youtube_id"]
            split = SPLITS.get(row.get("split", "").lower(), "") if "split" in header else named
            entry = Entry(where=f"{path.name} line {line} ({vid})", video=None, labels=[row["label"]], split=split)
            if not split:
                entry.problems.append(f"split {row.get('split', '')!r} is not one of {', '.join(SPLITS)}" if
                                      "split" in header else "no split column, and the file name says no split")
            start, end = number(row["time_start"]), number(row["time_end"])
            if start is None or end is None:
                entry.problems.append(f"time_start {row['time_start']!r} and time_end {row['time_end']!r} must be "
                                      "seconds")
                stems = [vid]
            else:
                stems = [f"{vid}_{int(start):06d}_{int(end):06d}", vid]
            entry.video, not_found = index.find(*stems)
            if not_found:
                entry.problems.append(not_found)
            parsed.entries.append(entry)
    if unlabelled:
        parsed.notes.append(f"{unlabelled} row(s) without a label")
    return parsed
