"""Snippet planning: uniform spread, exact tiling, clamping, and never an index out of range."""

from __future__ import annotations

import itertools

import pytest

from pipelines.errors import OptionsError
from pipelines.planning import Snippet, plan_snippets


def test_exact_tiling_when_the_video_is_count_times_snippet_frames() -> None:
    plan = plan_snippets(64, 8.0, snippet_frames=8, num_snippets=8)
    assert [(s.start_frame, s.end_frame) for s in plan] == [(8 * i, 8 * i + 8) for i in range(8)]
    assert [s.centre_frame for s in plan] == [8 * i + 4 for i in range(8)]
    assert plan[3] == Snippet(index=3, start_frame=24, end_frame=32, centre_frame=28, start=3.0, end=4.0)


def test_long_video_spreads_snippets_with_equal_gaps() -> None:
    plan = plan_snippets(10_000, 25.0, num_snippets=10)
    starts = [s.start_frame for s in plan]
    assert [b - a for a, b in itertools.pairwise(starts)] == [1000] * 9
    assert plan[0].centre_frame == 500 and plan[-1].centre_frame == 9500  # centred in each tenth
    assert all(s.num_frames == 8 for s in plan)


def test_fixed_count_overlaps_on_a_short_video_and_keeps_the_count() -> None:
    plan = plan_snippets(20, 10.0, num_snippets=5)
    assert len(plan) == 5
    assert all(s.num_frames == 8 and s.start_frame >= 0 and s.end_frame <= 20 for s in plan)
    assert plan[0].start_frame == 0 and plan[-1].end_frame == 20
    assert any(a.end_frame > b.start_frame for a, b in itertools.pairwise(plan))  # they overlap


def test_seconds_per_snippet_is_capped_and_never_overlaps() -> None:
    plan = plan_snippets(30 * 600, 30.0, seconds_per_snippet=2.0, max_snippets=1000)  # 10 minutes
    assert len(plan) == 300
    assert len(plan_snippets(30 * 600, 30.0, seconds_per_snippet=2.0, max_snippets=256)) == 256
    # one snippet per 0.1 s would overlap at 30 fps × 8 frames: capped at what fits
    dense = plan_snippets(80, 30.0, seconds_per_snippet=0.1)
    assert len(dense) == 10
    assert all(a.end_frame <= b.start_frame for a, b in itertools.pairwise(dense))


def test_default_is_as_many_as_fit() -> None:
    assert len(plan_snippets(100, 10.0)) == 12
    assert len(plan_snippets(100_000, 10.0, max_snippets=64)) == 64


def test_video_shorter_than_one_snippet() -> None:
    plan = plan_snippets(3, 30.0, snippet_frames=8)
    assert plan == [Snippet(index=0, start_frame=0, end_frame=3, centre_frame=1, start=0.0, end=0.1)]
    assert plan[0].frame_indices(8) == [0, 1, 2, 2, 2, 2, 2, 2]
    assert len(plan_snippets(3, 30.0, num_snippets=4)) == 4  # fixed count: the same clamped snippet 4 times
    assert plan_snippets(1, 30.0)[0].frame_indices() == [0]


@pytest.mark.parametrize("snippet_frames", [1, 8, 16])
@pytest.mark.parametrize("count", [None, 1, 7, 64])
def test_never_out_of_range(snippet_frames: int, count: int | None) -> None:
    for num_frames in [*range(1, 70), 97, 255, 1001, 12_345]:
        plan = plan_snippets(num_frames, 29.97, snippet_frames=snippet_frames, num_snippets=count)
        assert plan and [s.index for s in plan] == list(range(len(plan)))
        for s in plan:
            assert 0 <= s.start_frame <= s.centre_frame < s.end_frame <= num_frames
            assert s.num_frames == min(snippet_frames, num_frames)
            assert s.start == pytest.approx(s.start_frame / 29.97) and s.end > s.start
        starts = [s.start_frame for s in plan]
        assert starts == sorted(starts)


@pytest.mark.parametrize("kwargs", [
    {"num_frames": 0, "fps": 10.0},
    {"num_frames": 10, "fps": 0.0},
    {"num_frames": 10, "fps": 10.0, "snippet_frames": 0},
    {"num_frames": 10, "fps": 10.0, "num_snippets": 0},
    {"num_frames": 10, "fps": 10.0, "seconds_per_snippet": -1.0},
    {"num_frames": 10, "fps": 10.0, "num_snippets": 2, "seconds_per_snippet": 1.0},
])
def test_bad_options(kwargs: dict[str, float]) -> None:
    with pytest.raises(OptionsError):
        plan_snippets(**kwargs)  # type: ignore[arg-type]
