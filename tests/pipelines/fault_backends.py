"""Decoder backends that fail for real inside the isolated child (imported there by ``module:Class`` path)."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from pipelines.decoding import PyAVDecoder


class HangingDecoder(PyAVDecoder):
    """Opens fine, then never answers a request."""

    def frames(self, indices: Sequence[int], *, size: int | None = None, **hints: bool) -> np.ndarray:
        while True:
            time.sleep(3600)


class AbortingDecoder(PyAVDecoder):
    """Dies with SIGABRT, like a failed assertion inside a C library."""

    def frames(self, indices: Sequence[int], *, size: int | None = None, **hints: bool) -> np.ndarray:
        os.abort()


class SegfaultingDecoder(PyAVDecoder):
    """Dies with SIGSEGV: reads address 0."""

    def frames(self, indices: Sequence[int], *, size: int | None = None, **hints: bool) -> np.ndarray:
        ctypes.string_at(0)
        raise AssertionError("unreachable")


class GreedyDecoder(PyAVDecoder):
    """Touches 3 GiB: fine without a limit on this machine, MemoryError under a 1 GiB RLIMIT_AS."""

    def frames(self, indices: Sequence[int], *, size: int | None = None, **hints: bool) -> np.ndarray:
        hog = np.ones(3 << 30, dtype=np.uint8)
        return np.zeros((len(indices), 1, 1, 3), dtype=np.uint8) + hog[:1]


class FileHoggingDecoder(PyAVDecoder):
    """Opens 200 files per request and keeps them (a demuxer that follows references without end)."""

    kept: ClassVar[list[object]] = []

    def frames(self, indices: Sequence[int], *, size: int | None = None, skip_nonref: bool = True,
               deblock: bool = True, crop: bool = True) -> np.ndarray:
        for _ in range(200):
            self.kept.append(open(self.path, "rb"))  # noqa: SIM115 — kept open on purpose
        return super().frames(indices, size=size, skip_nonref=skip_nonref, deblock=deblock, crop=crop)


class SlowDecoder(PyAVDecoder):
    """Answers, but takes 30 s per frame: longer than the tests' decode timeout, so only a cancel that stops
    the request in flight ends it with ``Cancelled`` (a test needs no clock to tell)."""

    def frames(self, indices: Sequence[int], *, size: int | None = None, skip_nonref: bool = True,
               deblock: bool = True, crop: bool = True) -> np.ndarray:
        time.sleep(30.0 * len(indices))
        return super().frames(indices, size=size, skip_nonref=skip_nonref, deblock=deblock, crop=crop)
