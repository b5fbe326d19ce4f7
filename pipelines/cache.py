"""On-disk caches for training: decoded snippet frames per video, then per-snippet features.

Both are resumable: a video whose file already exists is skipped, files are written atomically.
The frame cache holds every snippet of a video as ``(T, L, S, S, 3) uint8`` (centre-cropped squares),
read back memory-mapped, so training never holds the data set in memory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decoding import open_decoder, probe
from .errors import VidgateError
from .planning import plan_video


@dataclass(frozen=True)
class CachedVideo:
    """Where one video's snippet frames live in the cache."""

    path: Path
    frames_file: Path
    snippets: int


def _key(path: Path) -> str:
    """Names a video's cached frames: its path, size and modification time (a changed file is decoded again)."""
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def cache_frames(
    videos: Sequence[Path],
    folder: Path,
    *,
    size: int,
    snippet_frames: int,
    max_snippets: int,
    backend: str = "pyav",
    on_video: Callable[[int, int], None] | None = None,
) -> tuple[list[CachedVideo], list[tuple[Path, str]]]:
    """Decode every snippet of every video once; returns the cached videos and the failures."""
    folder.mkdir(parents=True, exist_ok=True)
    cached: list[CachedVideo] = []
    failed: list[tuple[Path, str]] = []
    for i, path in enumerate(videos):
        target = folder / f"{_key(path)}.npy"
        if not target.exists():
            try:
                info = probe(path)
                plan = plan_video(info.num_frames, info.fps, snippet_frames=snippet_frames, max_snippets=max_snippets)
                indices = [f for s in plan for f in s.frame_indices(snippet_frames)]
                with open_decoder(path, backend, info=info) as decoder:
                    frames = decoder.frames(indices, size=size)  # (T·L, S, S, 3)
                snippets = frames.reshape(len(plan), snippet_frames, size, size, 3)
                tmp = target.with_suffix(".tmp.npy")
                np.save(tmp, snippets)
                os.replace(tmp, target)
            except VidgateError as exc:
                failed.append((path, f"{exc.code}: {exc.message}"))
                if on_video:
                    on_video(i + 1, len(videos))
                continue
        shape = np.load(target, mmap_mode="r").shape
        cached.append(CachedVideo(path=path, frames_file=target, snippets=shape[0]))
        if on_video:
            on_video(i + 1, len(videos))
    return cached, failed


def load_snippets(video: CachedVideo) -> np.ndarray:
    """All snippets of a cached video, memory-mapped: ``(T, L, S, S, 3) uint8``."""
    frames: np.ndarray = np.load(video.frames_file, mmap_mode="r")
    return frames


def centre_frames(video: CachedVideo) -> np.ndarray:
    """The centre frame of every snippet: ``(T, S, S, 3) uint8``."""
    snippets = load_snippets(video)
    return np.ascontiguousarray(snippets[:, snippets.shape[1] // 2])
