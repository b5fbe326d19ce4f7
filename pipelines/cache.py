"""On-disk caches for training: decoded snippet frames per video, then per-snippet features.

Both are resumable: a video whose file already exists is skipped, files are written atomically.
The frame cache holds every snippet of a video as ``(T, L, S, S, 3) uint8`` (centre-cropped squares),
read back memory-mapped, so training never holds the data set in memory.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decoding import Decoder, DecoderPool, IsolatedDecoder, open_decoder, probe
from .errors import VidgateError
from .planning import plan_video

DECODE_TIMEOUT_S = 600.0  # one request decodes a whole video's snippets


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


def _decode(path: Path, target: Path, size: int, snippet_frames: int, max_snippets: int, backend: str,
            pool: DecoderPool | None) -> str | None:
    """Decode one video's snippets into ``target`` (in a child of ``pool`` when given, else in this process);
    the failure's ``code: message``, or None."""
    try:
        decoder: Decoder = (open_decoder(path, backend, info=probe(path)) if pool is None else
                            IsolatedDecoder(path, backend, timeout_s=DECODE_TIMEOUT_S, pool=pool))
        with decoder:
            info = decoder.info
            plan = plan_video(info.num_frames, info.fps, snippet_frames=snippet_frames, max_snippets=max_snippets)
            indices = [f for s in plan for f in s.frame_indices(snippet_frames)]
            frames = decoder.frames(indices, size=size)  # (T·L, S, S, 3)
        snippets = frames.reshape(len(plan), snippet_frames, size, size, 3)
        tmp = target.with_suffix(f".{threading.get_ident()}.tmp.npy")
        np.save(tmp, snippets)
        os.replace(tmp, target)
    except VidgateError as exc:
        return f"{exc.code}: {exc.message}"
    return None


def cache_frames(
    videos: Sequence[Path],
    folder: Path,
    *,
    size: int,
    snippet_frames: int,
    max_snippets: int,
    backend: str = "pyav",
    on_video: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> tuple[list[CachedVideo], list[tuple[Path, str]]]:
    """Decode every snippet of every video once; returns the cached videos (in the order given) and the failures.

    Videos not cached yet decode ``workers`` at a time (default: one per core), each in a decoding child
    (`DecoderPool`): decoding is most of a training's first stage, and one decoder keeps one core busy.
    """
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / f"{_key(path)}.npy" for path in videos]
    todo = [i for i, target in enumerate(targets) if not target.exists()]
    errors: dict[int, str] = {}
    done = len(videos) - len(todo)
    if on_video and done:
        on_video(done, len(videos))
    workers = min(len(todo), workers or os.cpu_count() or 1)
    args = (size, snippet_frames, max_snippets, backend)
    if workers <= 1:
        for i in todo:
            if (error := _decode(videos[i], targets[i], *args, None)) is not None:
                errors[i] = error
            done += 1
            if on_video:
                on_video(done, len(videos))
    else:
        with DecoderPool(workers) as pool, ThreadPoolExecutor(max_workers=workers) as threads:
            futures = {threads.submit(_decode, videos[i], targets[i], *args, pool): i for i in todo}
            for future in as_completed(futures):
                if (error := future.result()) is not None:
                    errors[futures[future]] = error
                done += 1
                if on_video:
                    on_video(done, len(videos))
    cached: list[CachedVideo] = []
    failed: list[tuple[Path, str]] = []
    for i, (path, target) in enumerate(zip(videos, targets, strict=True)):
        if i in errors:
            failed.append((path, errors[i]))
            continue
        shape = np.load(target, mmap_mode="r").shape
        cached.append(CachedVideo(path=path, frames_file=target, snippets=shape[0]))
    return cached, failed


def load_snippets(video: CachedVideo) -> np.ndarray:
    """All snippets of a cached video, memory-mapped: ``(T, L, S, S, 3) uint8``."""
    frames: np.ndarray = np.load(video.frames_file, mmap_mode="r")
    return frames


def centre_frames(video: CachedVideo) -> np.ndarray:
    """The centre frame of every snippet: ``(T, S, S, 3) uint8``."""
    snippets = load_snippets(video)
    return np.ascontiguousarray(snippets[:, snippets.shape[1] // 2])
