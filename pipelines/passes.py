"""The two decoding passes of one video, and the stage timer they report into.

The light pass decodes one frame per snippet in the way its ``light_pass`` mode says (and, on long
GOPs, finishes the snippets it passes through so the heavy pass never decodes them again); the heavy pass
decodes the selected snippets chunk by chunk, the next chunk while the current one is computed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np
import torch

from models import ModelConfig

from .decoding import Decoder, VideoInfo, centre_crop
from .errors import Cancelled
from .planning import Snippet, light_frames, passed_snippets
from .transforms import heavy_input

Progress = Callable[[str, float], None]  # (stage, fraction done) as a video moves through the stages


class StageTimer:
    """Wall time per stage; on a GPU each stage waits for its kernels, so the time lands where it is spent."""

    def __init__(self, device: torch.device) -> None:
        self.seconds: dict[str, float] = {}
        self.cuda = device.type == "cuda"

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.cuda:
                torch.cuda.synchronize()
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


def cancel_check(should_cancel: Callable[[], bool] | None) -> None:
    if should_cancel is not None and should_cancel():
        raise Cancelled("cancelled")


def light_pass_frames(
    decoder: Decoder, plan: list[Snippet], info: VideoInfo, light_pass: str, c: ModelConfig, *, retain: bool = True,
    whole: bool = False,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The light frames ``(T, S, S, 3)``, plus the snippet frames worth keeping (see `passed_snippets`).

    ``whole``: the light frames come whole, their shorter side ``S`` (``(T, S, W, 3)``; the network's
    input is their centre, `centre_crop`), for thumbnails of the whole frame at no extra decoding. The
    keyframe light pass ignores it (its frames lie outside their snippets: no thumbnails are made of them).

    With long keyframe intervals, reaching a centre frame decodes most of the first half of its
    snippet anyway; decoding the rest now (about ``snippet_frames / 2`` frames) is far cheaper than
    seeking back after the gate. Kept snippet frames are at the model's input size and at most
    ``max_snippets`` of them exist, whatever the video's length; the heavy pass uses those of
    selected snippets and decodes nothing twice. Unselected kept snippet frames are dropped without reaching
    the heavy network.
    """
    if light_pass == "keyframe":
        frames, _ = decoder.keyframe_near([s.centre_frame for s in plan], size=c.light_size)
        return frames, {}
    skip_nonref = light_pass != "exact"
    crop = {"crop": False} if whole else {}  # asked only when wanted: a backend may not know the option
    if light_pass == "fast":  # inexact pixels: nothing kept for the heavy network
        return decoder.frames([s.centre_frame for s in plan], size=c.light_size, deblock=False, **crop), {}
    wanted_light = light_frames(plan, info.keyframes) if light_pass == "aligned" else [s.centre_frame for s in plan]
    passed = passed_snippets(plan, info.keyframes) if retain else []
    if not passed:
        return decoder.frames(wanted_light, size=c.light_size, skip_nonref=skip_nonref, **crop), {}
    wanted = sorted(set(wanted_light) | {f for i in passed for f in plan[i].frame_indices(c.snippet_frames)})
    size = max(c.light_size, c.heavy_size)
    frames = decoder.frames(wanted, size=size, skip_nonref=skip_nonref, **crop)  # (N, S, S or W, 3)
    row = {f: r for r, f in enumerate(wanted)}
    light = frames[[row[f] for f in wanted_light]]
    square = centre_crop(frames, size, axes=(1, 2)) if whole else frames  # (N, S, S, 3): what the heavy pass takes
    kept = {i: square[[row[f] for f in plan[i].frame_indices(c.snippet_frames)]] for i in passed}
    return light, kept


def heavy_pass_features(
    decoder: Decoder,
    snippets: list[Snippet],
    retained: dict[int, np.ndarray],
    c: ModelConfig,
    *,
    chunk: int,
    encode: Callable[[torch.Tensor], torch.Tensor],
    batcher: AbstractContextManager[Any] | None,
    executor: Executor,
    device: torch.device,
    timer: StageTimer,
    report: Progress,
    should_cancel: Callable[[], bool] | None,
    num_features: int,
    centre_frames: Callable[[dict[int, np.ndarray]], None] | None = None,
) -> torch.Tensor:
    """Encode the selected snippets chunk by chunk: those the light pass retained first, then the rest,
    decoding chunk i+1 while chunk i is computed. Returns features in the order of ``snippets``.

    Reports ``heavy i/n`` after each chunk; ``centre_frames`` receives each decoded snippet's centre frame, whole
    (its shorter side the heavy input size; the network sees its centre)."""
    order = [s for s in snippets if s.index in retained] + [s for s in snippets if s.index not in retained]
    chunks = [order[i : i + chunk] for i in range(0, len(order), chunk)]

    def decode(chunk: list[Snippet]) -> tuple[np.ndarray, float]:
        if all(s.index in retained for s in chunk):
            return np.stack([retained[s.index] for s in chunk]), 0.0  # (S, L, H, W, 3), nothing decoded
        start = time.perf_counter()
        indices = [f for s in chunk for f in s.frame_indices(c.snippet_frames)]
        whole = {"crop": False} if centre_frames is not None else {}  # whole frames for thumbnails
        frames = decoder.frames(indices, size=c.heavy_size, **whole)  # (S·L, H, W, 3)
        return frames.reshape(len(chunk), c.snippet_frames, *frames.shape[1:]), time.perf_counter() - start

    autocast = torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()
    outputs = []
    pending = executor.submit(decode, chunks[0]) if chunks else None
    report(f"heavy 0/{len(chunks)}", 0.25)
    try:
        with batcher if batcher is not None else nullcontext():
            for i in range(len(chunks)):
                assert pending is not None
                with timer.stage("decode_wait"):
                    batch, seconds = pending.result()
                pending = None
                timer.add("decode_heavy", seconds)
                if i + 1 < len(chunks):
                    pending = executor.submit(decode, chunks[i + 1])
                cancel_check(should_cancel)
                if centre_frames is not None:
                    middle = c.snippet_frames // 2
                    centre_frames({s.index: frames[middle] for s, frames in zip(chunks[i], batch, strict=True)})
                    if batch.shape[2] != batch.shape[3]:  # whole frames: the network sees their centre
                        batch = centre_crop(batch, c.heavy_size, axes=(2, 3))  # (S, L, H', W', 3)
                with timer.stage("heavy"), autocast:
                    outputs.append(encode(heavy_input(batch, c).to(device)).float())
                report(f"heavy {i + 1}/{len(chunks)}", 0.25 + 0.7 * (i + 1) / len(chunks))
    finally:
        if pending is not None:  # never leave a decode running on a decoder that is about to close
            pending.cancel()
            if not pending.cancelled():
                pending.exception()
    if not outputs:
        return torch.zeros(0, num_features, device=device)
    features = torch.cat(outputs)  # (S, F) in ``order``
    position = {s.index: row for row, s in enumerate(order)}
    return features[[position[s.index] for s in snippets]]
