"""Gate recall and precision match snippets to events by frames, whatever the snippet plan; settings are
compared with dense video by video."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines.evaluation import _group_figures, load_class_groups, load_relevance, relevance_scores
from pipelines.evaluation_report import bootstrap_interval, group_table, paired_table, paired_with_dense


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


def _result(item_labels: tuple[str, ...], scores: dict[str, float]) -> tuple[SimpleNamespace, SimpleNamespace]:
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    labels = [SimpleNamespace(label=c, score=v) for c, v in ranked]
    return SimpleNamespace(labels=item_labels), SimpleNamespace(labels=labels)


def test_accuracy_per_class_group_shows_chance_inside_order_pairs(tmp_path: Path) -> None:
    classes = {"a": {"partner": "b", "group": "order"}, "b": {"partner": "a", "group": "order"},
               "c": {"partner": "d"}, "d": {"partner": "c"}}
    (tmp_path / "relevance.json").write_text(json.dumps({"classes": classes, "videos": {}}))
    groups = load_class_groups(tmp_path)
    assert groups == {"a": ("order", "b"), "b": ("order", "a"), "c": ("other", "d"), "d": ("other", "c")}
    names = ("a", "b", "c", "d")
    # a model that ignores order: always says "a" for order videos; right on every other video
    results = [_result(("a",), {"a": 0.6, "b": 0.4}), _result(("b",), {"a": 0.6, "b": 0.4}),
               _result(("c",), {"c": 0.9}), _result(("d",), {"d": 0.9}), _result(("c",), {"d": 0.6, "c": 0.4})]
    figures = _group_figures(SimpleNamespace(multi_label=False), results, groups, names)  # type: ignore[arg-type]
    assert figures["order"] == {"accuracy": 0.5, "pair_accuracy": 1.0, "videos": 2}
    assert figures["other"]["accuracy"] == pytest.approx(2 / 3) and figures["other"]["pair_accuracy"] == 1.0
    table = group_table({"settings": {"dense": {"groups": figures}}})
    assert "| setting | order (2 videos) | other (3 videos) |" in table and "| dense | 0.500 (1.000) |" in table
    multi = _group_figures(SimpleNamespace(multi_label=True), results, groups, names)  # type: ignore[arg-type]
    assert set(multi) == {"order", "other"} and multi["order"]["mAP"] == pytest.approx(0.75)
    assert group_table({"settings": {"dense": {"groups": {"other": figures["other"]}}}}) == ""
