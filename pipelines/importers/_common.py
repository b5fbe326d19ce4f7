"""What every importer shares: the entries it reads, the index it finds videos with, and the one writer.

An importer (one module per format) reads its source into `Parsed`: one `Entry` per video (where in the
source it came from, the file found, labels, split, timed segments) and the problems and notes of the
source as a whole. `write_dataset` checks every entry (the file, labels, segments, duplicates and, when
probing, a decodable first frame) and reports every problem at once, each with its source line or JSON
path. Only then does it write the data set into a temporary folder beside OUT, check it with
`load_dataset` and rename it to OUT: a failed import leaves nothing behind.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..datasets import ANNOTATIONS, CLASSES, LABEL_SEPARATOR, ORIGIN, SEGMENT_COLUMNS, SEGMENTS, SPLITS, load_dataset
from ..errors import DatasetError, OptionsError
from ..videofiles import VIDEO_EXTENSIONS

Progress = Callable[[int, int], None]  # (done, total) while videos are checked
VIDEOS = "videos"  # OUT/videos/: the links (or copies), laid out as under the source's video folder


@dataclass(frozen=True)
class ImportOptions:
    """How to import (the command's flags; each format reads the ones it needs).

    Attributes:
        videos: where the videos are (default: the source folder, or the folder of a source file).
        classes: Charades: the class list (default: ``Charades_v1_classes.txt`` beside the CSVs).
        copy: copy the videos into OUT (default: symbolic links to them, so nothing large is written).
        skip_bad: leave out the videos with problems and list them, instead of failing.
        probe: decode each video's first frame (the check `load_dataset` makes).
        test_fraction: folder-per-class without split folders: the share of each class put in ``test``.
        seed: the seed of that choice.
        test_fold: Breakfast: which of its four person splits is ``test`` (1: P03–P15, 2: P16–P28,
            3: P29–P41, 4: P42–P54).
    """

    videos: Path | None = None
    classes: Path | None = None
    copy: bool = False
    skip_bad: bool = False
    probe: bool = True
    test_fraction: float = 0.2
    seed: int = 0
    test_fold: int = 1


@dataclass
class SourceSegment:
    """A timed annotation as the source states it, in seconds, with where it is stated."""

    label: str
    start: float
    end: float
    where: str


@dataclass
class Entry:
    """One video of the source.

    Attributes:
        where: where the source states it, for messages (``train.csv line 7 (abc)``, ``x.json database["abc"]``;
            a problem starting with ``.`` continues it: ``.subset: ...``).
        video: the file found (None: not found, and ``problems`` says why).
        labels: its class names, in the source's order.
        split: ``train``, ``val`` or ``test``.
        segments: its timed annotations.
        duration: its length in seconds as the source states it (segments past it are clipped), if it does.
        problems: what is wrong with it.
    """

    where: str
    video: Path | None
    labels: list[str]
    split: str
    segments: list[SourceSegment] = field(default_factory=list)
    duration: float | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Parsed:
    """A source read by an importer.

    Attributes:
        entries: its videos, in source order.
        videos_root: the folder the videos were found under (OUT/videos/ repeats its layout).
        problems: problems of the source as a whole (a missing file, a bad header, a bad class list).
        notes: what was left out on purpose, with counts (unlabelled videos, ``SIL`` segments...).
        classes: the class order when the source has a class list (written as classes.txt).
    """

    entries: list[Entry]
    videos_root: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    classes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote."""

    out: Path
    videos: dict[str, int]
    classes: int
    segments: int
    linked: bool
    skipped: tuple[str, ...]
    notes: tuple[str, ...]

    def lines(self) -> list[str]:
        splits = ", ".join(f"{split} {n}" for split, n in self.videos.items())
        how = "symbolic links to the source files" if self.linked else "copies"
        out = [f"wrote {self.out}: {sum(self.videos.values())} videos ({splits}), {self.classes} classes, "
               f"{self.segments} timed segments; {VIDEOS}/ holds {how}"]
        out += [f"left out: {note}" for note in self.notes]
        out += [f"skipped: {problem}" for problem in self.skipped]
        return out


class VideoIndex:
    """Every video file under a folder, by file name without its extension (one walk, for sources that name
    videos by id)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_stem: dict[str, list[Path]] = {}
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = [d for d in subfolders if not skipped_folder(Path(folder) / d)]
            for name in files:
                path = Path(folder) / name
                if path.suffix.lower() in VIDEO_EXTENSIONS:
                    self._by_stem.setdefault(path.stem, []).append(path)

    def find(self, *stems: str) -> tuple[Path | None, str | None]:
        """The one file named ``STEM.<video extension>`` for the first stem that has any; else why not."""
        for stem in stems:
            hits = sorted(self._by_stem.get(stem, ()))
            if len(hits) == 1:
                return hits[0], None
            if hits:
                return None, f"{len(hits)} files are named {stem}.*: {', '.join(str(h) for h in hits[:3])}"
        return None, f"no video file named {' or '.join(s + '.*' for s in stems)} under {self.root}"


def skipped_folder(folder: Path) -> bool:
    """Folders a search for a source's videos leaves out: hidden ones, and vidgate data sets (an earlier import
    written beside the videos links to them: its links are not more videos)."""
    return folder.name.startswith(".") or (folder / ANNOTATIONS).is_file()


def video_files(folder: Path) -> tuple[list[Path], int]:
    """The video files under ``folder`` (sorted) and how many other files it holds."""
    videos, others = [], 0
    for parent, subfolders, files in os.walk(folder):
        subfolders[:] = [d for d in subfolders if not skipped_folder(Path(parent) / d)]
        for name in files:
            if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                videos.append(Path(parent) / name)
            elif not name.startswith("."):
                others += 1
    return sorted(videos), others


def read_csv(path: Path, problems: list[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | None:
    """A CSV's lower-cased header and its rows with their line numbers (the header is line 1); None when unreadable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name}: not readable UTF-8 text ({exc})")
        return None
    reader = csv.reader(text.splitlines(keepends=True))
    header = [h.strip().lower() for h in next(reader, [])]
    rows: list[tuple[int, dict[str, str]]] = []
    first_line = reader.line_num + 1
    for values in reader:
        line, first_line = first_line, reader.line_num + 1
        if any(v.strip() for v in values):
            rows.append((line, {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header)}))
    return header, rows


def number(text: object) -> float | None:
    """A finite number from a source's cell or JSON value, else None."""
    if isinstance(text, bool):
        return None
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _check(entry: Entry, clipped: list[int]) -> None:
    """The entry's own problems: labels and segments (``clipped`` counts segments cut to the video's duration)."""
    for label in entry.labels:
        if not label.strip():
            entry.problems.append("an empty label")
        elif LABEL_SEPARATOR in label:
            entry.problems.append(f"label {label!r} contains {LABEL_SEPARATOR!r} (vidgate's multi-label separator)")
    if not entry.labels:
        entry.problems.append("no label")
    if entry.split and entry.split not in SPLITS:  # "": the importer could not tell, and said why
        entry.problems.append(f"split {entry.split!r} is not one of {', '.join(SPLITS)}")
    for seg in entry.segments:
        if not seg.label.strip() or LABEL_SEPARATOR in seg.label:
            entry.problems.append(f"{seg.where}: segment label {seg.label!r} is empty or contains {LABEL_SEPARATOR!r}")
        elif not 0 <= seg.start < seg.end:
            entry.problems.append(f"{seg.where}: a segment needs 0 ≤ start < end, got {seg.start:g} to {seg.end:g}")
        elif entry.duration is not None and seg.start >= entry.duration:
            entry.problems.append(f"{seg.where}: the segment starts at {seg.start:g} s, at or after the video's "
                                  f"end ({entry.duration:g} s)")
        elif entry.duration is not None and seg.end > entry.duration:
            seg.end = entry.duration
            clipped[0] += 1


def write_dataset(parsed: Parsed, out: Path, *, made_by: str, options: ImportOptions,
                  progress: Progress | None = None) -> ImportReport:
    """Check every entry, then write the data set folder ``out`` at once (see the module docstring).

    Raises:
        DatasetError: every problem of the source (with ``skip_bad``: those that leave no ``train`` video).
        OptionsError: ``out`` exists and is not an empty folder, or videos cannot be linked.
    """
    from ..datasets import _default_probe

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OptionsError(f"{out} exists and is not empty: give a new folder to write the data set into")
    clipped = [0]
    seen: dict[Path, str] = {}
    check = _default_probe() if options.probe else None
    for done, entry in enumerate(parsed.entries, start=1):
        _check(entry, clipped)
        if entry.video is not None:
            key = entry.video.resolve()
            if key in seen:
                entry.problems.append(f"the same video as {seen[key]}")
            else:
                seen[key] = entry.where
                if check is not None and not entry.problems:
                    reason = check(entry.video)
                    if reason:
                        entry.problems.append(f"{entry.video}: {reason}")
        if progress is not None:
            progress(done, len(parsed.entries))
    bad = [f"{entry.where}{'' if problem.startswith('.') else ': '}{problem}" for entry in parsed.entries
           for problem in entry.problems]  # a problem starting with "." continues the entry's JSON path
    good = [entry for entry in parsed.entries if not entry.problems]
    problems = list(parsed.problems) + ([] if options.skip_bad else bad)
    if not problems and not any(entry.split == "train" for entry in good):
        problems = [*bad, "no usable video in split 'train'" if parsed.entries else "the source lists no video"]
    if problems:
        raise DatasetError(problems)
    notes = list(parsed.notes)
    if clipped[0]:
        notes.append(f"{clipped[0]} segment(s) ended after their video's stated duration: clipped to it")
    segments = _write(parsed, good, out, made_by=made_by, copy=options.copy)
    videos = {split: n for split in SPLITS if (n := sum(1 for e in good if e.split == split))}
    classes = len(parsed.classes) if parsed.classes else len({label for e in good for label in e.labels})
    return ImportReport(out=out, videos=videos, classes=classes, segments=segments, linked=not options.copy,
                        skipped=tuple(bad) if options.skip_bad else (), notes=tuple(notes))


def _write(parsed: Parsed, entries: list[Entry], out: Path, *, made_by: str, copy: bool) -> int:
    """Write the folder beside ``out`` and rename it into place; returns the number of segments written."""
    tmp = out.with_name(f".{out.name}.importing")
    if tmp.exists():
        shutil.rmtree(tmp)  # what an interrupted import left
    rows: list[tuple[str, str, str]] = []
    segment_rows: list[tuple[str, str, str, str]] = []
    try:
        tmp.mkdir(parents=True)
        for entry in entries:
            assert entry.video is not None
            name = PurePosixPath(VIDEOS, *entry.video.relative_to(parsed.videos_root).parts).as_posix()
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if copy:
                shutil.copy2(entry.video, target)
            else:
                try:
                    target.symlink_to(entry.video.resolve())
                except OSError as exc:
                    raise OptionsError(f"cannot link {target} to {entry.video} ({exc}); --copy copies the videos "
                                       "instead") from None
            rows.append((name, LABEL_SEPARATOR.join(dict.fromkeys(label.strip() for label in entry.labels)),
                         entry.split))
            segment_rows += [(name, seg.label.strip(), _seconds(seg.start), _seconds(seg.end))
                             for seg in entry.segments]
        _write_csv(tmp / ANNOTATIONS, ("video", "label", "split"), rows)
        if segment_rows:
            _write_csv(tmp / SEGMENTS, SEGMENT_COLUMNS, segment_rows)
        if parsed.classes:
            (tmp / CLASSES).write_text("".join(f"{name}\n" for name in parsed.classes), encoding="utf-8")
        (tmp / ORIGIN).write_text(json.dumps({"synthetic": False, "made_by": made_by}, indent=1) + "\n",
                                  encoding="utf-8")
        load_dataset(tmp, probe=False)  # the contract, checked on what was written
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(segment_rows)


def _seconds(value: float) -> str:
    """Seconds to the millisecond, without trailing zeros (``12.5``, ``0.333``)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _write_csv(path: Path, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
