"""Gate recall and precision match snippets to events by frames, whatever the snippet plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.evaluation import load_relevance, relevance_scores


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
