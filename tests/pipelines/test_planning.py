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
    assert plan[3] == Snippet(index=3, start_frame=24, end_frame=32, centre_frame=28)


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
    assert len(plan_snippets(80, 30.0, seconds_per_snippet=5e-324)) == 10  # the smallest float: no overflow


def test_default_is_as_many_as_fit() -> None:
    assert len(plan_snippets(100, 10.0)) == 12
    assert len(plan_snippets(100_000, 10.0, max_snippets=64)) == 64


def test_video_shorter_than_one_snippet() -> None:
    plan = plan_snippets(3, 30.0, snippet_frames=8)
    assert plan == [Snippet(index=0, start_frame=0, end_frame=3, centre_frame=1)]
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


# ---- decode-aware planning ----------------------------------------------------------------------


def _layouts() -> list[tuple[int, list[int]]]:
    """(num_frames, keyframes): fixed intervals, scene-cut-like irregular ones, and a single keyframe."""
    import random

    rng = random.Random(0)
    out = [(9000, list(range(0, 9000, gop))) for gop in (30, 60, 140, 250, 300, 1000)]
    out += [(512, list(range(0, 512, 48))), (400, [0]), (17, [0, 8]), (20_000, list(range(0, 20_000, 600)))]
    for _ in range(40):
        n = rng.randint(16, 12_000)
        keys, k = [0], 0
        while True:
            k += rng.randint(1, 400)
            if k >= n:
                break
            keys.append(k)
        out.append((n, keys))
    return out


@pytest.mark.parametrize("max_snippets", [8, 64])
def test_aligned_plan_keeps_its_coverage_bound(max_snippets: int) -> None:
    from pipelines.planning import align_to_keyframes, allowed_gap, largest_gap

    aligned_some = 0
    for num_frames, keyframes in _layouts():
        plan = align_to_keyframes(num_frames, 30.0, keyframes, snippet_frames=8, max_snippets=max_snippets)
        uniform = plan_snippets(num_frames, 30.0, max_snippets=max_snippets)
        if plan is None:
            continue
        aligned_some += 1
        bound = allowed_gap(num_frames, len(uniform), 8)
        # the stated guarantee: never more uncovered than a uniform plan that drops one snippet
        assert largest_gap(plan, num_frames) <= bound
        assert bound <= 2 * num_frames / len(uniform)
        assert 1 <= len(plan) <= len(uniform)
        assert [s.index for s in plan] == list(range(len(plan)))
        assert all(0 <= s.start_frame < s.end_frame <= num_frames and s.num_frames == 8 for s in plan)
        assert all(a.end_frame <= b.start_frame for a, b in itertools.pairwise(plan))
        kept = [k for k in keyframes if k + 8 <= num_frames]
        on_keyframes = sum(s.start_frame in set(keyframes) for s in plan)
        assert on_keyframes >= min(len(plan), len(kept)) // 2  # most snippets start at a keyframe
    assert aligned_some >= 20


def test_aligned_plan_on_a_long_gop_file_takes_every_keyframe() -> None:
    from pipelines.planning import align_to_keyframes, largest_gap

    plan = align_to_keyframes(9000, 30.0, list(range(0, 9000, 250)), snippet_frames=8, max_snippets=64)
    assert plan is not None
    assert [s.start_frame for s in plan] == list(range(0, 9000, 250))  # fewer, better-placed snippets
    assert largest_gap(plan, 9000) == 242
    # keyframes far apart: fillers close the gaps early in their GOP, still within the bound
    sparse = align_to_keyframes(9000, 30.0, list(range(0, 9000, 300)), snippet_frames=8, max_snippets=64)
    assert sparse is not None and largest_gap(sparse, 9000) <= 274
    assert sum(s.start_frame % 300 == 0 for s in sparse) == 30


def test_aligned_plan_refuses_what_it_cannot_cover() -> None:
    from pipelines.planning import align_to_keyframes

    # no gap allowed, and a keyframe 12 frames in: a filler to close [8, 12) would overlap its snippet
    assert align_to_keyframes(64, 12.0, [0, 12], snippet_frames=8, max_snippets=8, max_gap=0) is None
    assert align_to_keyframes(10, 12.0, [0], snippet_frames=8, max_snippets=8) is None  # shorter than two snippets


def test_passed_snippets_and_light_frames() -> None:
    from pipelines.planning import light_frames, passed_snippets

    plan = plan_snippets(320, 16.0, num_snippets=40)
    assert passed_snippets(plan, (0, 160)) == [i for i in range(40) if i not in (0, 20)]
    assert passed_snippets(plan, tuple(range(0, 320, 8))) == []
    assert passed_snippets(plan, None) == []
    assert light_frames(plan[:3], (0, 16)) == [0, 12, 16]  # a snippet starting at a keyframe is seen there
