"""Gate recall and precision match snippets to events by frames, whatever the snippet plan; settings are
compared with dense video by video."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.evaluation import (
    bootstrap_interval,
    load_relevance,
    paired_table,
    paired_with_dense,
    relevance_scores,
)


def test_snippets_are_matched_to_events_by_frames() -> None:
    events = [(216, 242), (1198, 1225)]  # two events of about a second at 25 fps
    assert relevance_scores([(224, 232)], events) == (0.5, 1.0)  # inside the first event
    assert relevance_scores([(240, 248)], events) == (0.0, 0.0)  # two frames of it: not shown
    assert relevance_scores([(210, 218), (1190, 1200)], events) == (0.0, 0.0)  # edges only
    assert relevance_scores([(214, 222), (1200, 1208), (500, 508)], events) == pytest.approx((1.0, 2 / 3))
    assert relevance_scores([(200, 240)], [(216, 224)]) == (1.0, 1.0)  # a long snippet holding a short event
    assert relevance_scores([], events) == (0.0, 0.0)


def test_relevance_from_events_or_from_snippet_indices(tmp_path: Path) -> None:
    sidecar = {
        "format": "vidgate-relevance/1",
        "snippet_frames": 8,
        "videos": {
            "videos/a.mp4": {"relevant": [2], "events": [{"snippet": 2, "event": "x", "frames": [15, 25]}]},
            "videos/b.mp4": {"relevant": [0, 3]},
        },
    }
    (tmp_path / "relevance.json").write_text(json.dumps(sidecar))
    relevance = load_relevance(tmp_path)
    assert relevance == {"videos/a.mp4": [(15, 25)], "videos/b.mp4": [(0, 8), (24, 32)]}
    assert load_relevance(tmp_path / "missing") == {}


def _row(correct: dict[str, bool]) -> dict[str, object]:
    return {"per_video": [{"video": v, "labels": ["a"], "predicted": "a" if ok else "b"} for v, ok in correct.items()]}


def test_paired_with_dense_counts_the_videos_that_differ() -> None:
    videos = [f"v{i}.mp4" for i in range(40)]
    dense = {v: i % 10 != 0 for i, v in enumerate(videos)}  # wrong on v0, v10, v20, v30
    gated = {**dense, "v0.mp4": True, "v1.mp4": False, "v2.mp4": False}
    report = {"settings": {"dense": _row(dense), "gated 25%": _row(gated), "same": _row(dense)}}
    paired = paired_with_dense(report)
    assert paired["gated 25%"]["only_here"] == ["v0.mp4"]
    assert paired["gated 25%"]["only_dense"] == ["v1.mp4", "v2.mp4"]
    assert paired["gated 25%"]["difference"] == pytest.approx(-1 / 40)
    low, high = paired["gated 25%"]["interval"]
    # close to the normal approximation: mean ± 1.96 · sd / √n, sd of the differences (+1, -1, -1, 0 × 37)
    se = ((3 / 40 - (1 / 40) ** 2) / 40) ** 0.5
    assert low == pytest.approx(-1 / 40 - 1.96 * se, abs=0.03) and high == pytest.approx(-1 / 40 + 1.96 * se, abs=0.03)
    assert paired["same"] == {"difference": 0.0, "interval": [0.0, 0.0], "only_here": [], "only_dense": []}
    table = paired_table({"paired_with_dense": paired})
    assert "| gated 25% | -2.5 pts |" in table and "| 1 | 2 |" in table


def test_bootstrap_interval_narrows_with_more_videos() -> None:
    few = bootstrap_interval([1.0, 0.0, 0.0, -1.0] * 5)
    many = bootstrap_interval([1.0, 0.0, 0.0, -1.0] * 100)
    assert few[0] < many[0] < 0 < many[1] < few[1]
    assert bootstrap_interval([0.5] * 7) == (0.5, 0.5)
    assert bootstrap_interval([]) == (0.0, 0.0)
