"""Folder per class: ``SRC/CLASS/*.mp4``, or with a split level, ``SRC/{train,val,test}/CLASS/*.mp4``.

A class is a folder's name; videos may sit deeper inside it (``SRC/pour/day1/a.mp4`` is a ``pour`` video).
Without split folders, ``test_fraction`` of each class goes to ``test`` (chosen with ``seed``; at least one
video stays in ``train``) and training carves its validation videos from ``train``.
"""

from __future__ import annotations

import random
from pathlib import Path

from ..datasets import SPLITS
from ..errors import OptionsError
from ._common import Entry, ImportOptions, Parsed, skipped_folder, video_files


def parse(src: Path, options: ImportOptions) -> Parsed:
    if not 0 <= options.test_fraction < 1:
        raise OptionsError(f"--test-fraction must be in [0, 1), got {options.test_fraction}")
    parsed = Parsed(entries=[], videos_root=src)
    if not src.is_dir():
        parsed.problems.append(f"{src}: not a folder")
        return parsed
    folders = sorted(p for p in src.iterdir() if p.is_dir() and not skipped_folder(p))
    loose = [p for p in src.iterdir() if p.is_file() and not p.name.startswith(".")]
    split_folders = [p for p in folders if p.name in SPLITS]
    others = 0
    if split_folders:
        if len(split_folders) < len(folders):
            parsed.problems.append(
                f"{src}: split folders ({', '.join(p.name for p in split_folders)}) beside other folders "
                f"({', '.join(p.name for p in folders if p.name not in SPLITS)}): put every class folder under "
                f"{', '.join(SPLITS)}")
        for split_folder in split_folders:
            loose += [p for p in split_folder.iterdir() if p.is_file() and not p.name.startswith(".")]
            for folder in sorted(p for p in split_folder.iterdir() if p.is_dir() and not skipped_folder(p)):
                videos, other = video_files(folder)
                others += other
                parsed.entries += [_entry(src, v, folder.name, split_folder.name) for v in videos]
    else:
        for folder in folders:
            videos, other = video_files(folder)
            others += other
            test = _test_choice(videos, folder.name, options)
            parsed.entries += [_entry(src, v, folder.name, "test" if v in test else "train") for v in videos]
    if loose:
        parsed.notes.append(f"{len(loose)} file(s) outside any class folder, e.g. {loose[0].relative_to(src)}")
    if others:
        parsed.notes.append(f"{others} file(s) in class folders that are not videos by their extension")
    return parsed


def _entry(src: Path, video: Path, label: str, split: str) -> Entry:
    return Entry(where=str(video.relative_to(src)), video=video, labels=[label], split=split)


def _test_choice(videos: list[Path], label: str, options: ImportOptions) -> set[Path]:
    """The class's videos put in ``test``: a seeded choice that depends only on the class's own file names."""
    if len(videos) < 2 or options.test_fraction == 0:
        return set()
    count = min(len(videos) - 1, max(1, round(len(videos) * options.test_fraction)))
    return set(random.Random(f"{options.seed}:{label}").sample(videos, count))
