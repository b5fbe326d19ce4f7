"""What decoding a set of frames costs, read from the probe's frame table before anything is decoded.

A frame can only be decoded after the frames it is predicted from, back to the keyframe before it.
The model follows the PyAV decoder's strategy exactly: targets are served in ascending order, one
run per GOP (seek to its keyframe, then decode forward in file order until the last target of that
GOP is out). Within a run every packet up to the last target's is decoded, except, with
``skip_nonref``, the non-reference frames nobody asked for: no other frame is predicted from them,
so leaving them out changes no pixel of any other frame (H.264 marks them in each slice header).

The unit is frames handed to the codec; the decoder's own ``decoded_frames`` counts the same thing,
plus a few frames of look-ahead per run (frame-threaded decoders hold some packets before the
first picture comes out), which the tests bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .probe import FrameTable


@dataclass(frozen=True)
class DecodeCost:
    """Frames to decode for a request, from a :class:`FrameTable`."""

    table: FrameTable

    @property
    def num_frames(self) -> int:
        return self.table.num_frames

    def _gop(self, frame: int) -> tuple[int, int]:
        """``[first, end)`` frame indices of the GOP holding ``frame``."""
        keys = self.table.keyframes
        k = int(np.searchsorted(keys, frame, side="right"))
        first = int(keys[k - 1]) if k > 0 else 0
        end = int(keys[k]) if k < len(keys) else self.num_frames
        return first, end

    def frames(self, targets: Iterable[int], *, skip_nonref: bool = True, keyframes_only: bool = False) -> int:
        """Frames the codec decodes to produce ``targets`` (any order, duplicates allowed)."""
        wanted = sorted({int(t) for t in targets})
        if not wanted:
            return 0
        if keyframes_only:
            return len({self.table.keyframe_before(t) for t in wanted})
        order = self.table.decode_order
        reference = self.table.reference
        have_order = order.shape[0] == self.num_frames
        total, i = 0, 0
        while i < len(wanted):
            first, end = self._gop(wanted[i])
            run = [wanted[i]]
            i += 1
            while i < len(wanted) and wanted[i] < end:
                run.append(wanted[i])
                i += 1
            if not have_order:  # no decode order known: decode forward in display order
                total += run[-1] - first + 1
                continue
            frames = np.arange(first, end)
            # Frames come out in display order: the last target is out once every frame shown before it is in.
            last = int(order[first : run[-1] + 1].max())
            fed = order[first:end] <= last
            if skip_nonref and reference.shape[0] == self.num_frames:
                fed &= reference[first:end] | np.isin(frames, run)
            total += int(fed.sum())
        return total

    def depth(self, frame: int, *, skip_nonref: bool = True) -> int:
        """Frames to decode for ``frame`` alone, starting at its keyframe."""
        return self.frames([frame], skip_nonref=skip_nonref)
