"""Concept examples: each kernel's most activating training frames, one per video, within the size budget."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from models import ModelConfig, VidGate
from pipelines.concept_examples import VideoFrames, _within, collect_concept_examples
from pipelines.transforms import light_input


def _videos(n: int, frames: int = 6, size: int = 32) -> list[VideoFrames]:
    rng = np.random.default_rng(0)
    return [VideoFrames(f"v{i}.mp4", rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8),
                        [0.5 + t for t in range(frames)]) for i in range(n)]


@torch.no_grad()
def test_a_kernel_set_to_a_frame_finds_that_frame_first() -> None:
    torch.manual_seed(0)
    model = VidGate(ModelConfig(classes=("a", "b"), light="tiny2d", heavy="tiny3d", light_size=32, heavy_size=32,
                                num_kernels=4)).eval()
    videos = _videos(5)
    target = videos[3].frames[4]
    # Kernel 2 is the light feature of one frame: that frame is its most activating example (cosine 1).
    feature = model.encode_frames(light_input(target[None], model.config))[0]
    kernels = model.concepts.kernels.detach().clone()
    kernels[2] = feature
    model.concepts.initialise(kernels)
    examples = collect_concept_examples(model, videos, per_kernel=3, size=24)
    assert len(examples) == 4 and all(len(k) == 3 for k in examples)
    best = examples[2][0]
    assert best["video"] == "v3.mp4" and best["time"] == 4.5
    for kernel in examples:
        assert [e["activation"] for e in kernel] == sorted((e["activation"] for e in kernel), reverse=True)
        assert len({e["video"] for e in kernel}) == len(kernel)  # one example per video
    image = Image.open(io.BytesIO(best["jpeg"]))
    assert image.format == "JPEG" and image.size == (24, 24)


def test_the_weakest_examples_go_first_when_over_budget() -> None:
    examples = [[{"jpeg": b"x" * 100, "rank": r} for r in range(3)] for _ in range(4)]  # 1200 bytes
    kept = _within(examples, 700)
    assert [len(k) for k in kept] == [1, 2, 2, 2] and all(k[0]["rank"] == 0 for k in kept)
    assert sum(len(e["jpeg"]) for k in kept for e in k) <= 700
    tight = _within([[{"jpeg": b"x" * 100} for _ in range(2)] for _ in range(3)], 10)
    assert [len(k) for k in tight] == [1, 1, 1]  # every kernel keeps one, whatever the budget
