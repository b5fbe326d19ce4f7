"""The two decoding passes of one video (they report into a `pipelines.timing.StageTimer`).

The light pass decodes one frame per snippet in the way its ``light_pass`` mode says (and, on long
GOPs, finishes the snippets it passes through so the heavy pass never decodes them again); the heavy pass
decodes the selected snippets chunk by chunk, the next chunk while the current one is computed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import torch

from models import ModelConfig

from .decoding import Decoder, TorchCodecDecoder, VideoInfo, centre_crop
from .device_loop import DeviceLoop, Frames
from .errors import Cancelled
from .planning import Snippet, light_frames, passed_snippets
from .timing import StageTimer

Progress = Callable[[str, float], None]  # (stage, fraction done) as a video moves through the stages
def host_frames(frames: Frames) -> np.ndarray:
    """Frames as a host array (for a `FrameSink`: frames a GPU decoder made come back for thumbnails only)."""
    return frames.cpu().numpy() if isinstance(frames, torch.Tensor) else frames


def decode(decoder: Decoder, indices: Sequence[int], **options: Any) -> Frames:
    """``decoder.frames(indices, **options)``, left where the decoder made them: a GPU decoder's frames stay on
    its device (`TorchCodecDecoder.tensors`), every other decoder's come as host arrays."""
    if isinstance(decoder, TorchCodecDecoder) and decoder.on_device:
        return decoder.tensors(indices, size=options.get("size"), crop=options.get("crop", True))
    return decoder.frames(indices, **options)


def _stack(clips: list[Frames]) -> Frames:
    if clips and isinstance(clips[0], torch.Tensor):
        return torch.stack(clips)  # type: ignore[arg-type]
    return np.stack(clips)


def cancel_check(should_cancel: Callable[[], bool] | None) -> None:
    if should_cancel is not None and should_cancel():
        raise Cancelled("cancelled")


def light_pass_frames(
    decoder: Decoder, plan: list[Snippet], info: VideoInfo, light_pass: str, c: ModelConfig, *, retain: bool = True,
    whole: bool = False,
) -> tuple[Frames, dict[int, Frames]]:
    """The light frames ``(T, S, S, 3)``, plus the snippet frames worth keeping (see `passed_snippets`).

    ``whole``: the light frames come whole, their shorter side ``S`` (``(T, S, W, 3)``; the network's
    input is their centre, `centre_crop`), for thumbnails of the whole frame at no extra decoding. The
    keyframe light pass ignores it (its frames lie outside their snippets: no thumbnails are made of them).

    With long keyframe intervals, reaching a centre frame decodes most of the first half of its
    snippet anyway; decoding the rest now (about ``snippet_frames / 2`` frames) is far cheaper than
    seeking back after the gate. Kept snippet frames are at the model's input size and at most
    ``max_snippets`` of them exist, whatever the video's length; the heavy pass uses those of
    selected snippets and decodes nothing twice. Unselected kept snippet frames are dropped without reaching
    the heavy network. Frames stay where the decoder made them (`decode`).
    """
    if light_pass == "keyframe":
        keyframes, _ = decoder.keyframe_near([s.centre_frame for s in plan], size=c.light_size)
        return keyframes, {}
    skip_nonref = light_pass != "exact"
    crop = {"crop": False} if whole else {}  # asked only when wanted: a backend may not know the option
    if light_pass == "fast":  # inexact pixels: nothing kept for the heavy network
        return decode(decoder, [s.centre_frame for s in plan], size=c.light_size, deblock=False, **crop), {}
    wanted_light = light_frames(plan, info.keyframes) if light_pass == "aligned" else [s.centre_frame for s in plan]
    passed = passed_snippets(plan, info.keyframes) if retain else []
    if not passed:
        return decode(decoder, wanted_light, size=c.light_size, skip_nonref=skip_nonref, **crop), {}
    wanted = sorted(set(wanted_light) | {f for i in passed for f in plan[i].frame_indices(c.snippet_frames)})
    size = max(c.light_size, c.heavy_size)
    frames = decode(decoder, wanted, size=size, skip_nonref=skip_nonref, **crop)  # (N, S, S or W, 3)
    row = {f: r for r, f in enumerate(wanted)}
    light = frames[[row[f] for f in wanted_light]]
    square = centre_crop(frames, size, axes=(1, 2)) if whole else frames  # (N, S, S, 3): what the heavy pass takes
    kept = {i: square[[row[f] for f in plan[i].frame_indices(c.snippet_frames)]] for i in passed}
    return light, kept


def heavy_pass_features(
    decoder: Decoder,
    snippets: list[Snippet],
    retained: dict[int, Frames],
    c: ModelConfig,
    *,
    chunk: int,
    loop: DeviceLoop,
    executor: Executor,
    timer: StageTimer,
    report: Progress,
    should_cancel: Callable[[], bool] | None,
    centre_frames: Callable[[dict[int, np.ndarray]], None] | None = None,
) -> tuple[list[torch.Tensor], list[int]]:
    """Encode the selected snippets chunk by chunk through the device loop: those the light pass retained
    first, then the rest, decoding chunk i+1 while chunk i is computed. Returns each chunk's features
    ``(S_i, F)``, on the loop's device (for the loop's passes only: they are ordered on its stream), and the
    snippet indices they belong to, in the same order.

    Reports ``heavy i/n`` after each chunk; ``centre_frames`` receives each decoded snippet's centre frame, whole
    (its shorter side the heavy input size; the network sees its centre)."""
    order = [s for s in snippets if s.index in retained] + [s for s in snippets if s.index not in retained]
    chunks = [order[i : i + chunk] for i in range(0, len(order), chunk)]

    def decode_chunk(chunk: list[Snippet]) -> tuple[Frames, float]:
        if all(s.index in retained for s in chunk):
            return _stack([retained[s.index] for s in chunk]), 0.0  # (S, L, H, W, 3), nothing decoded
        start = time.perf_counter()
        indices = [f for s in chunk for f in s.frame_indices(c.snippet_frames)]
        whole = {"crop": False} if centre_frames is not None else {}  # whole frames for thumbnails
        frames = decode(decoder, indices, size=c.heavy_size, **whole)  # (S·L, H, W, 3)
        return frames.reshape(len(chunk), c.snippet_frames, *frames.shape[1:]), time.perf_counter() - start

    outputs = []
    pending = executor.submit(decode_chunk, chunks[0]) if chunks else None
    report(f"heavy 0/{len(chunks)}", 0.25)
    try:
        for i in range(len(chunks)):
            assert pending is not None
            with timer.stage("decode_wait"):
                batch, seconds = pending.result()
            pending = None
            timer.add("decode_heavy", seconds)
            if i + 1 < len(chunks):
                pending = executor.submit(decode_chunk, chunks[i + 1])
            cancel_check(should_cancel)
            if centre_frames is not None:
                middle = c.snippet_frames // 2
                centre_frames({s.index: host_frames(clip[middle]) for s, clip in zip(chunks[i], batch, strict=True)})
                if batch.shape[2] != batch.shape[3]:  # whole frames: the network sees their centre
                    batch = centre_crop(batch, c.heavy_size, axes=(2, 3))  # (S, L, H', W', 3)
            outputs.append(loop.heavy(batch, timer=timer))
            report(f"heavy {i + 1}/{len(chunks)}", 0.25 + 0.7 * (i + 1) / len(chunks))
    finally:
        if pending is not None:  # never leave a decode running on a decoder that is about to close
            pending.cancel()
            if not pending.cancelled():
                pending.exception()
    return outputs, [s.index for s in order]
