"""Breakfast-style folder layout: ``PXX/CAMERA/PXX_ACTIVITY.avi`` (``BreakfastII_15fps_qvga_sync``: ``P03/cam01/
P03_cereals.avi``; the stereo camera's ``P03/stereo/P03_cereals_ch0.avi`` and ``_ch1``).

The label is the coarse activity from the file name (``cereals``, ``coffee``, ``friedegg``, ``juice``, ``milk``,
``pancake``, ``salat``, ``sandwich``, ``scrambledegg``, ``tea``). The split follows the data set's four person
splits: the fold ``test_fold`` is ``test`` (1: P03–P15, 2: P16–P28, 3: P29–P41, 4: P42–P54), everyone else
``train``. Timed sub-actions, when present, become segments: a ``<video>.labels`` file beside the video, or the
coarse segmentation file ``PXX_CAMERA_PXX_ACTIVITY.txt`` anywhere under SRC (``segmentation_coarse/``; the
stereo camera is ``stereo01`` there). Both hold lines ``START-END ACTION`` in frames, counted from 1 and
inclusive; they become seconds at the video's own frame rate (15 fps in Breakfast). ``SIL`` (nothing
happening) is not a segment.
"""

from __future__ import annotations

import re
from pathlib import Path

import av

from ._common import Entry, ImportOptions, Parsed, SourceSegment, video_files

FOLDS = {1: range(3, 16), 2: range(16, 29), 3: range(29, 42), 4: range(42, 55)}  # test persons P03..P54
NAME = re.compile(r"^(P\d+)_([A-Za-z]+)(?:_ch\d+)?$")
LINE = re.compile(r"^(\d+)\s*-\s*(\d+)\s+(\S+)$")
BACKGROUND = "SIL"


def parse(src: Path, options: ImportOptions) -> Parsed:
    from ..errors import OptionsError

    if options.test_fold not in FOLDS:
        raise OptionsError(f"--test-fold must be one of {', '.join(map(str, FOLDS))}, got {options.test_fold}")
    root = options.videos or src
    parsed = Parsed(entries=[], videos_root=root)
    if not root.is_dir():
        parsed.problems.append(f"{root}: not a folder")
        return parsed
    segmentation = {p.name: p for p in src.rglob("*.txt")}
    videos, _ = video_files(root)
    other, background = [], [0]
    for video in videos:
        match = NAME.match(video.stem)
        person = video.parent.parent.name
        if match is None or match.group(1) != person:
            other.append(video)
            continue
        split = "test" if int(person[1:]) in FOLDS[options.test_fold] else "train"
        entry = Entry(where=str(video.relative_to(root)), video=video, labels=[match.group(2)], split=split)
        camera = "stereo01" if video.parent.name == "stereo" else video.parent.name
        labels = video.with_name(video.name + ".labels")
        found = labels if labels.is_file() else segmentation.get(f"{person}_{camera}_{person}_{match.group(2)}.txt")
        if found is not None:
            _segments(found, entry, background)
        parsed.entries.append(entry)
    if other:
        parsed.notes.append(f"{len(other)} video(s) not named PXX/CAMERA/PXX_ACTIVITY.<ext>, e.g. "
                            f"{other[0].relative_to(root)}")
    if background[0]:
        parsed.notes.append(f"{background[0]} {BACKGROUND} segment(s) (nothing happening)")
    return parsed


def _segments(path: Path, entry: Entry, background: list[int]) -> None:
    """The file's ``START-END ACTION`` lines as segments of ``entry`` in seconds (frames from 1, inclusive)."""
    assert entry.video is not None
    try:
        with av.open(str(entry.video)) as container:
            rate = container.streams.video[0].average_rate
        fps = float(rate) if rate else 0.0
    except (av.FFmpegError, OSError, IndexError, ValueError) as exc:
        entry.problems.append(f"the frame rate, to read {path.name} in seconds, cannot be read ({exc})")
        return
    if fps <= 0:
        entry.problems.append(f"the video states no frame rate, to read {path.name} in seconds")
        return
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        match = LINE.match(line.strip())
        if match is None:
            entry.problems.append(f"{path.name} line {n}: expected 'START-END ACTION' in frames, got {line.strip()!r}")
            continue
        first, last, action = int(match.group(1)), int(match.group(2)), match.group(3)
        if action == BACKGROUND:
            background[0] += 1
            continue
        entry.segments.append(SourceSegment(action, (first - 1) / fps, last / fps, f"{path.name} line {n}"))
