"""What the API serves for a snippet (thumbnail, clip, context clip) lies in the snippet's reported times,
on variable frame rate, a stream starting at 10 s and an MP4 edit list (decoded in the limited child)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipelines.decoding import probe
from pipelines.planning import plan_video, snippet_times
from service.artifacts import render_artifact
from tests.pipelines.timed_videos import TIMINGS, read_code, write_timed_video

EPS = 1e-6  # seconds: float rounding between the written times and the probed ones


def _codes(data: bytes) -> list[int]:
    with av.open(io.BytesIO(data), mode="r") as container:
        return [read_code(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


@pytest.mark.parametrize("timing", TIMINGS)
def test_served_artifacts_lie_in_the_snippets_times(timing: str, tmp_path: Path) -> None:
    timed = write_timed_video(tmp_path, timing)
    info = probe(timed.path)
    plan = plan_video(info.num_frames, info.fps, snippet_frames=8, max_snippets=64)
    s = plan[len(plan) // 2]  # in the 12 fps stretch, where index / fps is furthest off
    start, end = snippet_times(plan, info)[s.index]
    snippet = {"index": s.index, "frames": [s.start_frame, s.end_frame], "start": start, "end": end}

    thumbnail = np.asarray(Image.open(io.BytesIO(render_artifact(timed.path, snippet, "thumbnail"))).convert("RGB"))
    assert start - EPS <= timed.times[read_code(thumbnail)] < end
    assert _codes(render_artifact(timed.path, snippet, "clip")) == list(timed.shown[s.start_frame : s.end_frame])
    context = _codes(render_artifact(timed.path, snippet, "context", context_s=1.0))
    first, last = timed.shown.index(context[0]), timed.shown.index(context[-1])
    assert context == list(timed.shown[first : last + 1])
    assert timed.time_of_index(first) <= start - 1.0 + EPS < timed.time_of_index(first + 1)  # a second before
    assert timed.time_of_index(last) < end + 1.0 - EPS <= timed.time_of_index(last + 1)  # and after
