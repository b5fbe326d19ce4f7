"""Concept examples: for every concept kernel, the training frames that activate it most, as small JPEGs.

A concept kernel is a vector; what it stands for shows in the frames closest to it. After training,
every training video's centre frames go through the light encoder and the kernels once; each kernel
keeps its ``per_kernel`` most activating frames, at most one per video (so the examples show the
concept in several videos, not one scene three times). A frame is stored as the light encoder saw it
(the centre crop at its input size), scaled to ``size`` pixels, as a JPEG: with the defaults about
1.5 KB each, so 64 kernels × 3 examples stay near 300 KB, inside the checkpoint's budget
(`models.checkpoint.CONCEPT_EXAMPLES_MAX_BYTES`; the weakest examples are dropped if it would be passed).

Used by training (the examples go into the checkpoint it writes) and by ``python -m
pipelines.concept_examples`` to add them to an existing checkpoint from its training data.
"""

from __future__ import annotations

import argparse
import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models import VidGate
from models.checkpoint import CONCEPT_EXAMPLES_MAX_BYTES, Example

from .artifacts import jpeg
from .transforms import light_input

PER_KERNEL = 3
SIZE = 64
QUALITY = 80


@dataclass(frozen=True)
class VideoFrames:
    """One training video's centre frames ``(T, S, S, 3) uint8`` and their times in seconds."""

    name: str
    frames: np.ndarray
    times: list[float]


@torch.no_grad()
def collect_concept_examples(
    model: VidGate,
    videos: Iterable[VideoFrames],
    *,
    per_kernel: int = PER_KERNEL,
    size: int = SIZE,
    max_bytes: int = CONCEPT_EXAMPLES_MAX_BYTES,
    device: str | torch.device = "cpu",
) -> list[list[Example]]:
    """Every kernel's most activating frames, best first: ``[{"jpeg", "video", "time", "activation"}]``."""
    model = model.to(device).eval()
    num_kernels = model.concepts.num_kernels
    best: list[list[tuple[float, int, Example]]] = [[] for _ in range(num_kernels)]  # min-heaps
    order = 0
    for video in videos:
        activations = torch.cat([
            model.concepts(model.encode_frames(light_input(video.frames[i : i + 64], model.config).to(device)))
            for i in range(0, len(video.frames), 64)
        ]).float().cpu()  # (T, K)
        values, rows = activations.max(0)  # (K,): this video's best frame for every kernel
        for k in range(num_kernels):
            value, row = float(values[k]), int(rows[k])
            heap = best[k]
            if len(heap) == per_kernel and value <= heap[0][0]:
                continue
            example: Example = {
                "jpeg": jpeg(video.frames[row], size, quality=QUALITY),
                "video": video.name,
                "time": round(float(video.times[row]), 3),
                "activation": round(value, 4),
            }
            order += 1  # ties broken by arrival, never by comparing dicts
            (heapq.heappush if len(heap) < per_kernel else heapq.heapreplace)(heap, (value, order, example))
    examples = [[e for _, _, e in sorted(heap, key=lambda h: (-h[0], h[1]))] for heap in best]
    return _within(examples, max_bytes)


def _within(examples: list[list[Example]], max_bytes: int) -> list[list[Example]]:
    """Drop the weakest examples (last ranks first, every kernel keeping one) until the bytes fit."""
    total = sum(len(e["jpeg"]) for kernel in examples for e in kernel)
    rank = max((len(k) for k in examples), default=0) - 1
    while total > max_bytes and rank >= 1:
        for kernel in examples:
            if len(kernel) > rank and total > max_bytes:
                total -= len(kernel.pop()["jpeg"])
        rank -= 1
    return examples


def video_frames(path: Path, model: VidGate, *, name: str | None = None, max_snippets: int | None = None,
                 backend: str = "pyav") -> VideoFrames:
    """A video's centre frames, planned and cropped as training saw them (`pipelines.cache`)."""
    from .decoding import open_decoder, probe
    from .planning import plan_video, snippet_times

    info = probe(path)
    plan = plan_video(info.num_frames, info.fps, snippet_frames=model.config.snippet_frames,
                      max_snippets=max_snippets or model.config.max_snippets)
    size = max(model.config.light_size, model.config.heavy_size)
    with open_decoder(path, backend, info=info) as decoder:
        frames = decoder.frames([s.centre_frame for s in plan], size=size)  # (T, S, S, 3)
    return VideoFrames(name or path.name, frames, [(start + end) / 2 for start, end in snippet_times(plan, info)])


def _dataset_frames(data: Path, model: VidGate, split: str, max_snippets: int | None) -> Iterable[VideoFrames]:
    from .datasets import load_dataset

    dataset = load_dataset(data)
    for item in dataset.split(split):
        name = str(item.path.relative_to(dataset.root)) if item.path.is_relative_to(dataset.root) else item.path.name
        yield video_frames(item.path, model, name=name, max_snippets=max_snippets)


def main() -> None:
    from models import load_checkpoint
    from models.checkpoint import add_concept_examples

    parser = argparse.ArgumentParser(description="Add concept examples to a checkpoint from its training data.")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("data", type=Path, help="the data set folder the model was trained on")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-snippets", type=int, default=None, help="default: the model's")
    args = parser.parse_args()
    model, _ = load_checkpoint(args.checkpoint)
    examples = collect_concept_examples(model, _dataset_frames(args.data, model, args.split, args.max_snippets))
    add_concept_examples(args.checkpoint, examples)
    stored = sum(len(e["jpeg"]) for k in examples for e in k)
    print(f"{args.checkpoint}: {sum(map(len, examples))} concept examples, {stored / 1024:.0f} KB")


if __name__ == "__main__":
    main()
