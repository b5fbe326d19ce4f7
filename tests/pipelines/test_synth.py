"""The synthetic long-range activity benchmark: content design, layout contract, determinism."""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import numpy as np
import pytest

from pipelines.datasets import load_dataset
from pipelines.synth import (
    OBJECTS,
    OPPOSITE,
    SynthConfig,
    all_classes,
    design_classes,
    design_structure_classes,
    write_synthetic_dataset,
)

TINY = SynthConfig(videos=12, classes=4, size=64, min_snippets=15, max_snippets=18, seed=3)


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])  # (N, H, W, 3)


def saturated(frame: np.ndarray) -> np.ndarray:
    """Mask of strongly coloured pixels: only event objects are drawn in such colours."""
    f = frame.astype(np.int16)
    return (f.max(axis=-1) - f.min(axis=-1)) > 110  # (H, W)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []
    start = time.perf_counter()
    root = write_synthetic_dataset(tmp_path_factory.mktemp("synth") / "a", TINY,
                                   progress=lambda done, total: calls.append((done, total)))
    return root, time.perf_counter() - start, calls


def test_tiny_set_is_quick_and_reports_progress(tiny: tuple[Path, float, list[tuple[int, int]]]) -> None:
    root, seconds, calls = tiny
    assert seconds < 20
    assert calls == [(i, 12) for i in range(1, 13)]
    for name in ("annotations.csv", "classes.txt", "relevance.json", "README.md"):
        assert (root / name).is_file()
    assert len(list((root / "videos").glob("*.mp4"))) == 12


def test_annotations_load_as_a_dataset(tiny: tuple[Path, float, list[tuple[int, int]]]) -> None:
    root = tiny[0]
    data = load_dataset(root)
    assert data.classes == tuple((root / "classes.txt").read_text().split())
    assert data.classes == tuple(c.name for c in design_classes(4))
    assert not data.multi_label and len(data) == 12
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [8, 2, 2]
    readme = (root / "README.md").read_text()
    assert all(c.name in readme for c in design_classes(4))


def test_segments_say_when_each_event_happens(tiny: tuple[Path, float, list[tuple[int, int]]]) -> None:
    root = tiny[0]
    data = load_dataset(root)
    sidecar = json.loads((root / "relevance.json").read_text())
    for item in data.items:
        entry = sidecar["videos"][str(item.path.relative_to(data.root))]
        segments = data.segments[item.path]
        assert [(s.label, s.start, s.end) for s in segments] == [
            (e["class"], e["seconds"][0], e["seconds"][1]) for e in entry["events"]]
        assert all(s.label in item.labels for s in segments)  # each event belongs to the video's activity


def test_relevance_sidecar_matches_the_videos(tiny: tuple[Path, float, list[tuple[int, int]]]) -> None:
    root = tiny[0]
    sidecar = json.loads((root / "relevance.json").read_text())
    assert sidecar["snippet_frames"] == 8 and "snippet i is frames" in sidecar["layout"]
    events_of = {name: c["events"] for name, c in sidecar["classes"].items()}
    labels = {row.split(",")[0]: row.split(",")[1] for row in (root / "annotations.csv").read_text().split()[1:]}
    assert set(sidecar["videos"]) == set(labels)
    for name, entry in sidecar["videos"].items():
        n, relevant = entry["num_snippets"], entry["relevant"]
        assert TINY.min_snippets <= n <= TINY.max_snippets
        assert entry["frames"] == n * 8
        assert relevant == sorted(set(relevant)) and all(0 <= i < n for i in relevant)
        assert len(relevant) / n <= 0.2
        assert sorted(e["event"] for e in entry["events"]) == sorted(events_of[labels[name]])
        frames = decode(root / name)
        assert len(frames) == n * 8
        # One frame shows where: the centre frames of relevant snippets hold an event object, others none.
        for i in range(n):
            for centre in (8 * i + 3, 8 * i + 4):
                pixels = int(saturated(frames[centre]).sum())
                if i in relevant:
                    assert pixels > 20, (name, i, pixels)
                else:
                    assert pixels < 5, (name, i, pixels)


def test_translations_move_the_stated_way(tiny: tuple[Path, float, list[tuple[int, int]]]) -> None:
    assert _translations_checked(tiny[0]) >= 5


def test_long_events_stay_in_the_frame_and_move_the_stated_way(tmp_path: Path) -> None:
    config = SynthConfig(videos=4, classes=4, size=64, fps=25, snippet_frames=24, min_snippets=15, max_snippets=16)
    assert _translations_checked(write_synthetic_dataset(tmp_path / "long", config)) >= 4


def _translations_checked(root: Path) -> int:
    """Assert every translating event moves its stated way; returns how many were checked."""
    sidecar = json.loads((root / "relevance.json").read_text())
    checked = 0
    for name, entry in sidecar["videos"].items():
        frames = None
        for event in entry["events"]:
            motion = event["event"].split()[-1]
            if motion in ("cw", "ccw"):
                continue
            frames = decode(root / name) if frames is None else frames
            first, last = event["frames"]
            ys0, xs0 = np.nonzero(saturated(frames[first + 1]))
            ys1, xs1 = np.nonzero(saturated(frames[last - 2]))
            dx, dy = xs1.mean() - xs0.mean(), ys1.mean() - ys0.mean()
            expected = {"left": (dx < -5), "right": (dx > 5), "up": (dy < -5), "down": (dy > 5)}[motion]
            assert expected, (name, event, dx, dy)
            checked += 1
    return checked


def test_same_seed_same_data_set(tmp_path: Path) -> None:
    config = SynthConfig(videos=3, classes=4, size=64, min_snippets=15, max_snippets=18, seed=3)
    again = write_synthetic_dataset(tmp_path / "b", config)
    twice = write_synthetic_dataset(tmp_path / "c", config, workers=2)  # parallel writing changes nothing
    for name in ("annotations.csv", "relevance.json", "classes.txt", "README.md"):
        assert (again / name).read_bytes() == (twice / name).read_bytes()
    for video in sorted((again / "videos").glob("*.mp4")):
        np.testing.assert_array_equal(decode(video), decode(twice / "videos" / video.name))
    other = write_synthetic_dataset(tmp_path / "d", SynthConfig(videos=3, classes=4, size=64, min_snippets=15,
                                                                max_snippets=18, seed=4))
    assert (other / "relevance.json").read_bytes() != (again / "relevance.json").read_bytes()


def test_classes_come_in_pairs_differing_in_one_direction() -> None:
    classes = design_classes(10)
    assert len({frozenset(c.events) for c in classes}) == 10
    by_name = {c.name: c for c in classes}
    paired = [c for c in classes if c.partner is not None]
    assert len(paired) >= len(classes) / 2
    flipped_axes = set()
    for c in paired:
        other = by_name[c.partner or ""]
        assert other.partner == c.name
        only_here, only_there = set(c.events) - set(other.events), set(other.events) - set(c.events)
        assert len(only_here) == len(only_there) == 1
        (a,), (b,) = only_here, only_there
        assert (a.colour, a.shape) == (b.colour, b.shape) and OPPOSITE[a.motion] == b.motion
        # Same objects in both classes: a single frame's object identities cannot separate them.
        assert sorted((e.colour, e.shape) for e in c.events) == sorted((e.colour, e.shape) for e in other.events)
        flipped_axes.add(frozenset((a.motion, b.motion)))
    assert len(flipped_axes) == 3  # left/right, up/down and cw/ccw all decide some pair
    for c in classes:
        assert 2 <= len(c.events) <= 3
        assert all((e.colour, e.shape) in OBJECTS for e in c.events)
    assert design_classes(10) == classes
    assert design_classes(7)[-1].partner is None


@pytest.mark.parametrize("bad", [
    {"min_snippets": 10}, {"size": 63}, {"classes": 1}, {"max_snippets": 20, "min_snippets": 30},
    {"splits": (0.5, 0.5, 0.5)}, {"videos": 0}, {"order_classes": 3}, {"count_classes": -2},
    {"order_classes": 2, "min_gap_s": 30.0}, {"multi_label": True, "min_snippets": 20},
])
def test_config_is_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SynthConfig(**bad)  # type: ignore[arg-type]


def test_layout_matches_the_recognizer_plan(tiny: tuple[Path, float, list[tuple[int, int]]]) -> None:
    from pipelines.planning import plan_video

    sidecar = json.loads((tiny[0] / "relevance.json").read_text())
    for entry in sidecar["videos"].values():
        plan = plan_video(entry["frames"], entry["fps"], snippet_frames=8, max_snippets=64)
        tiles = [(8 * i, 8 * i + 8) for i in range(entry["num_snippets"])]
        assert [(s.start_frame, s.end_frame) for s in plan] == tiles
        for event in entry["events"]:
            first, last = event["frames"]
            centre = plan[event["snippet"]].centre_frame
            assert first <= centre < last
            assert all(not first <= s.centre_frame < last for s in plan if s.index != event["snippet"])


STRUCTURE = SynthConfig(videos=12, classes=2, order_classes=2, count_classes=2, size=64, min_snippets=16,
                        max_snippets=18, min_gap_s=4.0, seed=5)


def test_order_and_count_pairs_are_designed_apart_from_the_other_classes() -> None:
    base = design_classes(6)
    structure = design_structure_classes(4, 4, base)
    assert [c.group for c in structure] == ["order"] * 4 + ["count"] * 4
    by_name = {c.name: c for c in structure}
    for c in structure:
        partner = by_name[c.partner or ""]
        assert partner.partner == c.name
        if c.group == "order":
            assert len(c.events) == 2 and c.events == partner.events[::-1] and c.ordered
            assert (c.events[0].colour, c.events[0].shape) != (c.events[1].colour, c.events[1].shape)
        else:
            assert {len(c.events), len(partner.events)} == {1, 3} and len(set(c.events + partner.events)) == 1
    # no two classes show the same events regardless of order, except the two classes of an order pair
    first_of_pair = [c for c in structure if int(c.name[-2:]) % 2 == 0]
    sets = [frozenset(c.events) for c in (*base, *first_of_pair)]
    assert len(sets) == len(set(sets))
    assert design_structure_classes(4, 4, base) == structure
    assert all_classes(SynthConfig(classes=6, order_classes=4, count_classes=4)) == base + structure


def test_order_and_count_videos_keep_their_structure(tmp_path: Path) -> None:
    root = write_synthetic_dataset(tmp_path / "structure", STRUCTURE)
    sidecar = json.loads((root / "relevance.json").read_text())
    classes = sidecar["classes"]
    assert {c["group"] for c in classes.values()} == {"other", "order", "count"}
    labels = {row.split(",")[0]: row.split(",")[1] for row in (root / "annotations.csv").read_text().split()[1:]}
    assert {classes[label]["group"] for label in labels.values()} == {"other", "order", "count"}
    gap = STRUCTURE.gap_snippets
    for name, entry in sidecar["videos"].items():
        spec = classes[labels[name]]
        events = entry["events"]  # sorted by snippet: the order they happen in
        # truth keeps every event's interval, repetitions included
        assert [e["event"] for e in sorted(events, key=lambda e: e["snippet"])] == [e["event"] for e in events]
        assert sorted(e["event"] for e in events) == sorted(spec["events"])
        for e in events:
            assert e["class"] == labels[name]
            assert e["seconds"] == [round(f / STRUCTURE.fps, 4) for f in e["frames"]]
        if spec["group"] == "order":
            assert [e["event"] for e in events] == spec["events"]
            assert events[1]["snippet"] - events[0]["snippet"] >= gap
        if spec["group"] == "count":
            assert len({e["event"] for e in events}) == 1 and len(events) in (1, 3)
    assert "| order_00 | order |" in (root / "README.md").read_text()


def test_multi_label_videos_show_both_classes(tmp_path: Path) -> None:
    config = SynthConfig(videos=8, classes=4, size=64, min_snippets=30, max_snippets=32, multi_label=True, seed=2)
    root = write_synthetic_dataset(tmp_path / "multi", config)
    data = load_dataset(root)
    assert data.multi_label
    sidecar = json.loads((root / "relevance.json").read_text())
    pairs = 0
    for item in data.items:
        entry = sidecar["videos"][str(item.path.relative_to(root))]
        assert {e["class"] for e in entry["events"]} == set(item.labels)
        expected = sorted(e for label in item.labels for e in sidecar["classes"][label]["events"])
        assert sorted(e["event"] for e in entry["events"]) == expected
        pairs += len(item.labels) == 2
    assert 0 < pairs < len(data.items)
