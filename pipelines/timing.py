"""Seconds per stage of one video, and what a pass of the device loop took (`StageTimer`, `DeviceSpan`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# What a pass of the device loop took: seconds (CPU), or the CUDA events around it, read once they have passed.
DeviceSpan = float | tuple[torch.cuda.Event, torch.cuda.Event]


class StageTimer:
    """Seconds per stage of one video.

    Host stages (probe, decoding, waiting for a decode) are wall time. The networks' stages (light, gate, heavy,
    head, evidence) are the time of the device loop's passes that carried the video (`add_pass`): CUDA events
    on a GPU, read in `resolve` once the video is done, so timing never synchronises the device; perf_counter
    around the pass on the CPU. A pass shared by several videos counts in full for each of them.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._events: list[tuple[str, torch.cuda.Event, torch.cuda.Event]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def add_pass(self, name: str, span: DeviceSpan) -> None:
        if isinstance(span, tuple):
            self._events.append((name, *span))
        else:
            self.add(name, span)

    def resolve(self) -> dict[str, float]:
        """The seconds, the device passes' included (waits for each pass's own end event, which a video's last
        result has already passed)."""
        for name, begin, end in self._events:
            end.synchronize()
            self.add(name, begin.elapsed_time(end) / 1000.0)
        self._events.clear()
        return self.seconds
