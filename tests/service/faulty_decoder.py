"""A decoder backend that misbehaves on marked videos (imported by path inside the isolated decoding child)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipelines.decoding import PyAVDecoder

POISON_WIDTH = 66  # videos this wide crash the decoder, like a decoder bug triggered by one file
SLOW_WIDTH = 70  # videos this wide take SLOW_S per decode request (to catch a job while it runs)
KILLER_WIDTH = 74  # videos this wide SIGKILL the worker process itself (the decoder child's parent)
SLOW_S = float(os.environ.get("VIDGATE_TEST_SLOW_S", "1.0"))


class FaultyDecoder(PyAVDecoder):
    """PyAV, except on marked videos (runs in the isolated decoding child).

    Videos `POISON_WIDTH` pixels wide kill it with SIGSEGV; videos `SLOW_WIDTH` wide make every request slow;
    videos `KILLER_WIDTH` wide kill the worker that asked (like a decoder bug that takes its host down, or the
    kernel's OOM killer choosing the worker).
    """

    def frames(self, indices: Sequence[int], *, size: int | None = None, skip_nonref: bool = True,
               deblock: bool = True, crop: bool = True) -> np.ndarray:
        if self.info.width == KILLER_WIDTH:
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(5)
        if self.info.width == POISON_WIDTH:
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.info.width == SLOW_WIDTH:
            mark = os.environ.get("VIDGATE_TEST_SLOW_MARK")
            if mark:  # tell the test that a slow request is under way (it waits on this file, not on a clock)
                Path(mark).touch()
            time.sleep(SLOW_S)  # read at import, in the decoding child: tests can set it per server
        return super().frames(indices, size=size, skip_nonref=skip_nonref, deblock=deblock, crop=crop)
