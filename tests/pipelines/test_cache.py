"""The training frame cache: decoded in parallel children, the same bytes as one decoder in this process."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.cache import cache_frames

from ..helpers import write_test_video


def test_parallel_decoding_caches_the_same_frames_in_the_given_order_and_lists_failures(tmp_path: Path) -> None:
    videos = [write_test_video(tmp_path / f"v{i}.mp4", frames=40 + 8 * i, gop=12) for i in range(4)]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"x" * 100)
    videos.insert(2, bad)
    ticks: list[int] = []
    one, failed_one = cache_frames(videos, tmp_path / "one", size=32, snippet_frames=8, max_snippets=8, workers=1)
    two, failed_two = cache_frames(videos, tmp_path / "two", size=32, snippet_frames=8, max_snippets=8, workers=2,
                                   on_video=lambda done, total: ticks.append(done))
    assert [v.path for v in one] == [v.path for v in two] == [v for v in videos if v != bad]
    assert all(np.array_equal(np.load(a.frames_file), np.load(b.frames_file)) for a, b in zip(one, two, strict=True))
    assert [p for p, _ in failed_one] == [p for p, _ in failed_two] == [bad]
    assert failed_two[0][1].startswith("not_a_video:") and ticks == [1, 2, 3, 4, 5]
    again, _ = cache_frames(videos, tmp_path / "two", size=32, snippet_frames=8, max_snippets=8, workers=2)
    assert [v.frames_file for v in again] == [v.frames_file for v in two]  # cached: nothing decoded again
