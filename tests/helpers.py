"""Shared test helpers: small real videos and small locally initialised models."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from models import ModelConfig, VidGate, save_checkpoint
from pipelines.encoding import write_video

T = TypeVar("T")


def moving_square_frames(frames: int, size: tuple[int, int] = (64, 64), seed: int = 0) -> list[np.ndarray]:
    """A textured background with a bright square moving across it."""
    rng = np.random.default_rng(seed)
    h, w = size
    background = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
    out = []
    for i in range(frames):
        frame = background.copy()
        x = (i * 3) % max(1, w - 12)
        y = (i * 2) % max(1, h - 12)
        frame[y : y + 12, x : x + 12] = (230, 40, 40)
        out.append(frame)
    return out


def write_test_video(
    path: Path, *, frames: int = 96, fps: float = 12.0, size: tuple[int, int] = (64, 64), gop: int = 48
) -> Path:
    write_video(path, moving_square_frames(frames, size), fps=fps, gop=gop)
    return path


def tiny_checkpoint(path: Path, *, classes: tuple[str, ...] = ("pour", "stir", "wait"), seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = ModelConfig(
        classes=classes,
        light="tiny2d",
        heavy="tiny3d",
        light_size=64,
        heavy_size=64,
        num_kernels=8,
        gate_hidden=32,
        name="tiny-test",
    )
    return save_checkpoint(VidGate(config), path)


def add_concept_examples(checkpoint: Path, videos: list[Path]) -> Path:
    """Store concept examples in a checkpoint, collected from ``videos`` as training would."""
    from models import load_checkpoint
    from models.checkpoint import add_concept_examples as store
    from pipelines.concept_examples import collect_concept_examples, video_frames

    model, _ = load_checkpoint(checkpoint)
    return store(checkpoint, collect_concept_examples(model, [video_frames(v, model) for v in videos]))


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An AAC audio file with no video stream."""
    import av

    rate = 16000
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = np.sin(np.linspace(0, 2 * np.pi * 440 * seconds, int(rate * seconds))).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_truncated(source: Path, path: Path) -> Path:
    """The first half of a real MP4 (its index is lost with the rest)."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_huge_frame_video(path: Path, size: tuple[int, int] = (2304, 4096)) -> Path:
    """Two frames of 4096×2304: more pixels than the default limit (3840×2160)."""
    frame = np.zeros((*size, 3), dtype=np.uint8)
    write_video(path, [frame, frame], fps=2, preset="ultrafast", gop=2, bframes=0)
    return path


def wait_until(condition: Callable[[], T], *, timeout: float, what: str, every: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail after ``timeout`` seconds.

    Tests wait on the condition itself, never on a clock: a slower machine waits longer, not wrongly."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(every)
