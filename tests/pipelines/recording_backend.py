"""A PyAV decoder that records which frames each request handed to the codec (used in-process by tests)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import ClassVar

import av
import numpy as np

from pipelines.decoding import PyAVDecoder


class RecordingDecoder(PyAVDecoder):
    """``requests``: per ``frames`` call, the frames asked for and the frames the codec was handed."""

    slow_s = 0.0  # tests set it to keep a request running while something else happens
    instances: ClassVar[list[RecordingDecoder]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.requests: list[tuple[list[int], set[int]]] = []
        self.closed = False
        self.used_after_close = False
        RecordingDecoder.instances.append(self)

    def frames(self, indices: Sequence[int], *, size: int | None = None, skip_nonref: bool = True,
               deblock: bool = True, crop: bool = True) -> np.ndarray:
        self.requests.append(([int(i) for i in indices], set()))
        out = super().frames(indices, size=size, skip_nonref=skip_nonref, deblock=deblock, crop=crop)
        time.sleep(self.slow_s)
        self.used_after_close |= self.closed
        return out

    def _decode(self) -> Iterator[av.VideoFrame]:
        for frame in super()._decode():
            if self.requests and frame.pts is not None:
                index = self._table.index_of(frame.pts)
                if index is not None:
                    self.requests[-1][1].add(index)
            yield frame

    def close(self) -> None:
        self.closed = True
        super().close()
