"""Import a data set from the formats public data sets come in (``vidgate data import FORMAT SRC OUT``).

One module per format reads its source into entries (``folders``, ``activitynet``, ``charades``, ``kinetics``,
``breakfast``; their docstrings say exactly which layout each reads); ``_common.write_dataset`` checks them
all, reports every problem at once with its source line or JSON path, and writes OUT in one step:
``annotations.csv``, ``segments.csv`` when the source has timed segments, ``classes.txt`` when it has a class
list, ``dataset.json``, and ``videos/`` with symbolic links to the source's files (or copies). docs/datasets.md
describes each format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..errors import OptionsError
from . import activitynet, breakfast, charades, folders, kinetics
from ._common import ImportOptions, ImportReport, Parsed, Progress, write_dataset

FORMATS: dict[str, Callable[[Path, ImportOptions], Parsed]] = {
    "folders": folders.parse,
    "activitynet": activitynet.parse,
    "charades": charades.parse,
    "kinetics": kinetics.parse,
    "breakfast": breakfast.parse,
}

__all__ = ["FORMATS", "ImportOptions", "ImportReport", "import_dataset"]


def import_dataset(format: str, src: str | Path, out: str | Path, options: ImportOptions | None = None, *,
                   progress: Progress | None = None) -> ImportReport:
    """Read ``src`` in ``format`` and write the data set folder ``out`` (new or empty); returns what was written.

    Raises:
        OptionsError: an unknown format, a source that does not exist, ``out`` not empty, a bad option.
        DatasetError: every problem of the source, each with where it is (nothing is written).
    """
    if format not in FORMATS:
        raise OptionsError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    options = options or ImportOptions()
    src, out = Path(src).resolve(), Path(out).resolve()
    if not src.exists():
        raise OptionsError(f"{src} does not exist")
    if options.videos is not None and not options.videos.is_dir():
        raise OptionsError(f"--videos {options.videos} is not a folder")
    if out == src or src.is_relative_to(out):
        raise OptionsError(f"{out}: write the data set beside its source, not over it")
    if options.videos is not None:
        options = dataclasses.replace(options, videos=options.videos.resolve())
    parsed = FORMATS[format](src, options)
    return write_dataset(parsed, out, made_by=f"vidgate data import {format} {src}", options=options,
                         progress=progress)
