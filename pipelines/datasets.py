"""Data set folders: ``annotations.csv`` (+ optional ``classes.txt``) next to ordinary video files.

Format (the public contract, see docs/datasets.md)::

    root/
      annotations.csv   columns video, label, split (other columns are ignored)
      classes.txt       optional: one class per line, fixing the class order
      dataset.json      optional: how the data set was made (``synthetic``, ``made_by``, ``generator``)
      segments.csv      optional: when things happen, columns video, label, start, end (seconds)
      videos...         any layout; ``video`` is a path relative to root

``label`` is one class name, or several separated by ``|`` (multi-label). ``split`` is ``train``,
``val`` or ``test``. A ``segments.csv`` row says that ``label`` (any name: an activity, or one of its
steps) happens in ``video`` from ``start`` to ``end`` seconds; training learns where events are from
them and evaluation scores the selection against them. :func:`load_dataset` checks everything before
anything else runs and reports every problem at once, each with the CSV line a user sees in an editor
(the header is line 1).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import av

from .errors import DatasetError, VidgateError

SPLITS = ("train", "val", "test")
REQUIRED_COLUMNS = ("video", "label", "split")
LABEL_SEPARATOR = "|"
ANNOTATIONS = "annotations.csv"
CLASSES = "classes.txt"
SEGMENTS = "segments.csv"
SEGMENT_COLUMNS = ("video", "label", "start", "end")
ORIGIN = "dataset.json"  # how the data set was made: `vidgate synth` writes it; a model card records it


@dataclass(frozen=True)
class DatasetItem:
    """One annotated video.

    Attributes:
        row: line of ``annotations.csv`` it came from (the header is line 1).
        path: the video file (the data set root joined with the relative path).
        labels: its class names (one unless the data set is multi-label).
        split: ``train``, ``val`` or ``test``.
    """

    row: int
    path: Path
    labels: tuple[str, ...]
    split: str


@dataclass(frozen=True)
class Segment:
    """A timed annotation: ``label`` happens from ``start`` to ``end`` seconds into the video."""

    label: str
    start: float
    end: float


@dataclass(frozen=True)
class Dataset:
    """A validated data set.

    Attributes:
        root: the data set folder.
        classes: class names in model output order.
        multi_label: whether any video has more than one label.
        items: the usable videos in file order.
        skipped: problems of rows left out by ``load_dataset(..., skip_bad=True)``.
        origin: how it was made, from ``dataset.json`` (`read_origin`); empty when the folder does not say.
        segments: timed annotations per video path, from ``segments.csv`` (empty without one).
    """

    root: Path
    classes: tuple[str, ...]
    multi_label: bool
    items: tuple[DatasetItem, ...]
    skipped: tuple[str, ...] = ()
    origin: dict[str, Any] = field(default_factory=dict)
    segments: dict[Path, tuple[Segment, ...]] = field(default_factory=dict)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.classes)})

    def split(self, name: str) -> list[DatasetItem]:
        """The items of one split (``train``, ``val`` or ``test``), in file order."""
        return [item for item in self.items if item.split == name]

    def label_index(self, item: DatasetItem) -> list[int]:
        """The class indices of an item's labels."""
        return [self._index[label] for label in item.labels]

    def __len__(self) -> int:
        return len(self.items)


Probe = Callable[[Path], "str | None"]


def read_origin(root: Path, problems: list[str] | None = None) -> dict[str, Any]:
    """``dataset.json``: ``synthetic`` (bool), ``made_by`` (how, e.g. the command) and, for generated data,
    ``generator`` (its parameters). Empty when the file is absent; a malformed one is a problem."""
    path = root / ORIGIN
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        (problems if problems is not None else []).append(f"{ORIGIN}: not readable JSON ({exc})")
        return {}
    if not isinstance(raw, dict) or not isinstance(raw.get("synthetic"), bool) or not isinstance(
            raw.get("made_by", ""), str) or not isinstance(raw.get("generator") or {}, dict):
        (problems if problems is not None else []).append(
            f"{ORIGIN}: needs an object with 'synthetic' (true/false), optional 'made_by' (text) and 'generator' "
            "(object)")
        return {}
    return {k: raw[k] for k in ("synthetic", "made_by", "generator") if k in raw}


def probe_video(path: Path) -> str | None:
    """A cheap decodability check; returns why the file is unusable, or None when it is fine.

    Opens the container, checks there is a video stream and decodes its first frame.
    """
    try:
        if path.stat().st_size == 0:
            return "empty file"
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "no video stream"
            for _ in container.decode(video=0):
                return None
            return "no decodable frame"
    except (av.FFmpegError, OSError, ValueError, IndexError, RuntimeError) as exc:
        # FFmpeg errors carry the file name again; their strerror alone reads better after "line N: file:".
        return f"not a decodable video ({getattr(exc, 'strerror', None) or exc})"


def _default_probe() -> Probe:
    """The decoding package's full probe (it also catches truncated files), else the minimal check."""
    try:
        from .decoding import probe
    except ImportError:
        return probe_video

    def check(path: Path) -> str | None:
        try:
            probe(path)
        except VidgateError as exc:
            # Its messages start with the file name, which the row problem already shows.
            return f"{exc.message.removeprefix(path.name + ': ')} ({exc.code})"
        return None

    return check


def _read_classes(path: Path, problems: list[str]) -> tuple[str, ...] | None:
    if not path.exists():
        return None
    classes: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if LABEL_SEPARATOR in name:
            problems.append(f"{CLASSES} line {n}: class name {name!r} contains {LABEL_SEPARATOR!r}")
        elif name in classes:
            problems.append(f"{CLASSES} line {n}: duplicate class {name!r}")
        else:
            classes.append(name)
    if not classes:
        problems.append(f"{CLASSES} lists no classes")
    return tuple(classes)


def _escapes(relative: str) -> bool:
    """Whether a relative path is absolute or climbs out of the data set folder."""
    for flavour in (PurePosixPath, PureWindowsPath):
        p = flavour(relative)
        if p.is_absolute() or p.drive or p.root or ".." in p.parts:
            return True
    return False


@dataclass
class _Row:
    line: int
    video: str
    labels: tuple[str, ...]
    split: str
    problems: list[str]


def _parse_rows(path: Path, problems: list[str]) -> list[_Row] | None:
    """Rows of annotations.csv with their own problems; None when the file cannot be read at all."""
    if not path.is_file():
        problems.append(f"{ANNOTATIONS} not found")
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{ANNOTATIONS} is not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    reader = csv.reader(text.splitlines(keepends=True))
    header = next(reader, None)
    if header is None:
        problems.append(f"{ANNOTATIONS} is empty (expected a header: {','.join(REQUIRED_COLUMNS)})")
        return None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(f"{ANNOTATIONS} line 1: missing column(s) {', '.join(missing)} "
                        f"(found: {', '.join(h.strip() for h in header) or 'nothing'})")
        return None
    at = {c: columns.index(c) for c in REQUIRED_COLUMNS}
    rows: list[_Row] = []
    first_line = reader.line_num + 1
    for values in reader:
        line, first_line = first_line, reader.line_num + 1
        if not any(v.strip() for v in values):
            continue

        def cell(name: str, values: list[str] = values) -> str:
            i = at[name]
            return values[i].strip() if i < len(values) else ""

        video, label, split = cell("video"), cell("label"), cell("split")
        labels = tuple(part.strip() for part in label.split(LABEL_SEPARATOR))
        row_problems = []
        if not video:
            row_problems.append("empty video path")
        elif _escapes(video):
            row_problems.append(f"video path {video!r} is outside the data set folder (use a relative path)")
        if not label:
            row_problems.append("empty label")
        elif any(not part for part in labels):
            row_problems.append(f"empty label in {label!r}")
        if split not in SPLITS:
            row_problems.append(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
        unique = tuple(dict.fromkeys(p for p in labels if p))  # order kept, repeats dropped
        rows.append(_Row(line, video, unique, split, row_problems))
    return rows


def _video_key(video: str) -> str:
    """One spelling of a row's video path (``a\\b.mp4`` and ``a/b.mp4`` are one video)."""
    return PurePosixPath(video.replace("\\", "/")).as_posix()


def _read_segments(path: Path, videos: dict[str, int], problems: list[str]) -> dict[str, list[Segment]]:
    """Rows of segments.csv by the video's key (its posix path relative to root); each bad row is a problem."""
    out: dict[str, list[Segment]] = {}
    if not path.is_file():
        return out
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{SEGMENTS} is not UTF-8 text ({exc.reason} at byte {exc.start})")
        return out
    reader = csv.reader(text.splitlines(keepends=True))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in SEGMENT_COLUMNS if c not in header]
    if missing:
        problems.append(f"{SEGMENTS} line 1: missing column(s) {', '.join(missing)} (expected: "
                        f"{','.join(SEGMENT_COLUMNS)})")
        return out
    at = {c: header.index(c) for c in SEGMENT_COLUMNS}
    first_line = reader.line_num + 1
    for values in reader:
        line, first_line = first_line, reader.line_num + 1
        if not any(v.strip() for v in values):
            continue
        cell = {c: (values[i].strip() if i < len(values) else "") for c, i in at.items()}
        key = _video_key(cell["video"])
        where = f"{SEGMENTS} line {line}: {cell['video'] or '(no video)'}"
        try:
            start, end = float(cell["start"]), float(cell["end"])
        except ValueError:
            problems.append(f"{where}: start and end must be seconds, got {cell['start']!r} and {cell['end']!r}")
            continue
        if key not in videos:
            problems.append(f"{where}: not a video of {ANNOTATIONS}")
        elif not cell["label"]:
            problems.append(f"{where}: empty label")
        elif not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            problems.append(f"{where}: needs 0 ≤ start < end, got {start:g} to {end:g}")
        else:
            out.setdefault(key, []).append(Segment(cell["label"], start, end))
    return out


def load_dataset(root: str | Path, *, skip_bad: bool = False, probe: bool = True,
                 prober: Probe | None = None) -> Dataset:
    """Read and validate a data set folder.

    Every problem is collected before anything is reported: missing columns, empty rows, paths that
    leave the folder, missing files, unknown splits, empty or unknown labels, duplicate videos,
    undecodable videos (when probing) and an empty ``train`` split.

    Args:
        root: the data set folder.
        skip_bad: keep the good rows and list the bad ones in ``Dataset.skipped`` instead of failing.
        probe: open every video and decode one frame (cheap, but reads every file).
        prober: the decodability check, returning a reason or None (default: the decoding module's
            ``probe`` if present, else :func:`probe_video`).

    Returns:
        The data set.

    Raises:
        DatasetError: listing every problem (with ``skip_bad``: problems that leave no usable data).
    """
    root = Path(root).resolve()
    problems: list[str] = []
    if not root.is_dir():
        raise DatasetError([f"{root}: not a folder"])
    fixed_classes = _read_classes(root / CLASSES, problems)
    origin = read_origin(root, problems)
    rows = _parse_rows(root / ANNOTATIONS, problems)
    if rows is None:
        raise DatasetError(problems)
    if not rows:
        raise DatasetError([*problems, f"{ANNOTATIONS} has a header but no rows"])
    check = (prober or _default_probe()) if probe else None
    first_seen: dict[str, int] = {}
    for row in rows:
        if row.problems:
            continue
        key = _video_key(row.video)
        if key in first_seen:
            row.problems.append(f"duplicate of line {first_seen[key]} (each video may be listed once)")
            continue
        first_seen[key] = row.line
        if fixed_classes is not None:
            unknown = [label for label in row.labels if label not in fixed_classes]
            if unknown:
                row.problems.append(f"label(s) {', '.join(map(repr, unknown))} not in {CLASSES}")
        path = root / row.video
        if not path.exists():
            row.problems.append("file not found")
        elif not path.is_file():
            row.problems.append("not a file")
        elif check is not None:
            reason = check(path)
            if reason:
                row.problems.append(reason)
    keys = {_video_key(row.video): row.line for row in rows}
    segments = _read_segments(root / SEGMENTS, keys, problems)
    bad = [f"{ANNOTATIONS} line {row.line}: {row.video or '(no video)'}: {p}" for row in rows for p in row.problems]
    good = [row for row in rows if not row.problems]
    if not skip_bad:
        problems += bad
        if not any(row.split == "train" for row in rows):
            problems.append(f"{ANNOTATIONS}: no video in split 'train'")
    elif not good:
        problems += [*bad, f"{ANNOTATIONS}: no usable rows"]
    elif not any(row.split == "train" for row in good):
        problems += [*bad, f"{ANNOTATIONS}: no usable video in split 'train'"]
    if problems:
        raise DatasetError(problems)
    classes = fixed_classes if fixed_classes is not None else tuple(sorted({lab for r in good for lab in r.labels}))
    items = tuple(DatasetItem(row.line, root / row.video, row.labels, row.split) for row in good)
    timed = {root / row.video: tuple(sorted(segments[key], key=lambda seg: seg.start)) for row in good
             if (key := _video_key(row.video)) in segments}
    return Dataset(root=root, classes=classes, multi_label=any(len(it.labels) > 1 for it in items), items=items,
                   skipped=tuple(bad), origin=origin, segments=timed)
