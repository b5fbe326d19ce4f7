"""Decoder backends that fail for real inside the isolated child (imported there by ``module:Class`` path)."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Sequence

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
