"""Data set folders: parsing, validation with every problem reported at once, skip_bad."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pipelines.datasets import Dataset, Segment, load_dataset, probe_video
from pipelines.encoding import write_video
from pipelines.errors import DatasetError


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real, tiny H.264 file, copied wherever a test needs a video."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    rng = np.random.default_rng(0)
    write_video(path, [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(8)])
    return path


def make(root: Path, csv_text: str, clip: Path, videos: tuple[str, ...] = (), classes: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "annotations.csv").write_text(csv_text)
    for name in videos:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / name)
    if classes is not None:
        (root / "classes.txt").write_text(classes)
    return root


def problems_of(root: Path, *, skip_bad: bool = False) -> list[str]:
    with pytest.raises(DatasetError) as info:
        load_dataset(root, skip_bad=skip_bad)
    assert info.value.code == "bad_dataset"
    return info.value.problems


def test_single_label_dataset(tmp_path: Path, clip: Path) -> None:
    root = make(tmp_path, "video,label,split\nv/a.mp4,stir,train\nv/b.mp4,pour,val\n\nv/c.mp4,stir,test\n", clip,
                ("v/a.mp4", "v/b.mp4", "v/c.mp4"))
    data = load_dataset(root)
    assert isinstance(data, Dataset)
    assert data.classes == ("pour", "stir")  # sorted unique labels without classes.txt
    assert not data.multi_label
    assert [it.row for it in data.items] == [2, 3, 5]  # the blank line 4 still counts
    assert [it.path for it in data.split("train")] == [root.resolve() / "v/a.mp4"]
    assert data.label_index(data.split("val")[0]) == [0]
    assert data.skipped == ()


def test_segments_are_read_per_video_and_every_bad_row_is_reported(tmp_path: Path, clip: Path) -> None:
    root = make(tmp_path / "good", "video,label,split\nv/a.mp4,stir,train\nv/b.mp4,pour,val\n", clip,
                ("v/a.mp4", "v/b.mp4"))
    (root / "segments.csv").write_text("video,label,start,end\nv/a.mp4,crack egg,2.5,4\nv/a.mp4,stir,0.5,1.0\n")
    data = load_dataset(root)
    assert data.segments == {root.resolve() / "v/a.mp4": (Segment("stir", 0.5, 1.0), Segment("crack egg", 2.5, 4.0))}
    (root / "segments.csv").write_text("video,label,start,end\nv/c.mp4,stir,1,2\nv/a.mp4,,1,2\n"
                                       "v/a.mp4,stir,3,2\nv/b.mp4,pour,one,2\nv/b.mp4,pour,-1,2\n")
    problems = problems_of(root)
    assert problems == [
        "segments.csv line 2: v/c.mp4: not a video of annotations.csv",
        "segments.csv line 3: v/a.mp4: empty label",
        "segments.csv line 4: v/a.mp4: needs 0 ≤ start < end, got 3 to 2",
        "segments.csv line 5: v/b.mp4: start and end must be seconds, got 'one' and '2'",
        "segments.csv line 6: v/b.mp4: needs 0 ≤ start < end, got -1 to 2",
    ], problems
    (root / "segments.csv").write_text("video,label,begin\n")
    assert problems_of(root) == ["segments.csv line 1: missing column(s) start, end (expected: video,label,start,end)"]


def test_multi_label_and_classes_txt_order(tmp_path: Path, clip: Path) -> None:
    root = make(tmp_path, "split,video,label,notes\ntrain,a.mp4, stir | pour ,x\ntrain,b.mp4,wait,\n", clip,
                ("a.mp4", "b.mp4"), classes="wait\nstir\npour\nunused\n")
    data = load_dataset(root)
    assert data.classes == ("wait", "stir", "pour", "unused")
    assert data.multi_label
    assert data.items[0].labels == ("stir", "pour")
    assert data.label_index(data.items[0]) == [1, 2]
    assert data.label_index(data.items[1]) == [0]


def test_every_problem_reported_at_once(tmp_path: Path, clip: Path) -> None:
    (tmp_path / "garbage.mp4").write_bytes(b"this is not a video" * 50)
    (tmp_path / "empty.mp4").write_bytes(b"")
    csv_text = "\n".join([
        "video,label,split",           # 1
        "ok.mp4,stir,train",           # 2
        "missing.mp4,stir,train",      # 3
        "../outside.mp4,stir,train",   # 4
        "/etc/passwd,stir,train",      # 5
        "ok2.mp4,stir,holdout",        # 6
        "ok3.mp4,,train",              # 7
        "ok4.mp4,dance,val",           # 8
        "ok.mp4,stir,test",            # 9
        "garbage.mp4,stir,train",      # 10
        "empty.mp4,stir,train",        # 11
        "ok5.mp4,stir||pour,train",    # 12
    ]) + "\n"
    root = make(tmp_path, csv_text, clip, ("ok.mp4", "ok2.mp4", "ok3.mp4", "ok4.mp4", "ok5.mp4"),
                classes="stir\npour\n")
    problems = problems_of(root)
    expected = {
        3: "file not found", 4: "outside the data set folder", 5: "outside the data set folder",
        6: "unknown split 'holdout'", 7: "empty label", 8: "'dance' not in classes.txt",
        9: "duplicate of line 2", 10: "not a video", 11: "empty", 12: "empty label in",
    }
    assert len(problems) == len(expected)
    for line, fragment in expected.items():
        assert any(f"line {line}:" in p and fragment in p for p in problems), (line, fragment, problems)
    assert not any("line 2:" in p for p in problems)


def test_missing_columns(tmp_path: Path, clip: Path) -> None:
    root = make(tmp_path, "file,class\na.mp4,stir\n", clip, ("a.mp4",))
    (problem,) = problems_of(root)
    assert "line 1" in problem and "video, label, split" in problem


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "is empty"),
    ("video,label,split\n", "no rows"),
    ("video,label,split\na.mp4,stir,val\n", "no video in split 'train'"),
])
def test_empty_data_sets(tmp_path: Path, clip: Path, text: str, fragment: str) -> None:
    root = make(tmp_path, text, clip, ("a.mp4",))
    assert any(fragment in p for p in problems_of(root))


def test_missing_annotations_and_bad_classes_txt(tmp_path: Path, clip: Path) -> None:
    (tmp_path / "classes.txt").write_text("stir\nstir\n")
    problems = problems_of(tmp_path)
    assert any("annotations.csv not found" in p for p in problems)
    assert any("duplicate class 'stir'" in p for p in problems)


def test_skip_bad_keeps_good_rows(tmp_path: Path, clip: Path) -> None:
    root = make(tmp_path, "video,label,split\na.mp4,stir,train\nnope.mp4,stir,train\nb.mp4,pour,weird\n"
                "c.mp4,pour,test\n", clip, ("a.mp4", "b.mp4", "c.mp4"))
    data = load_dataset(root, skip_bad=True)
    assert [it.row for it in data.items] == [2, 5]
    assert len(data.skipped) == 2
    assert "line 3" in data.skipped[0] and "file not found" in data.skipped[0]
    assert "line 4" in data.skipped[1] and "unknown split" in data.skipped[1]
    assert data.classes == ("pour", "stir")


def test_skip_bad_without_usable_train_rows_fails(tmp_path: Path, clip: Path) -> None:
    root = make(tmp_path, "video,label,split\nnope.mp4,stir,train\nc.mp4,pour,test\n", clip, ("c.mp4",))
    problems = problems_of(root, skip_bad=True)
    assert any("file not found" in p for p in problems)
    assert any("no usable video in split 'train'" in p for p in problems)


def test_probe_can_be_skipped(tmp_path: Path, clip: Path) -> None:
    (tmp_path / "garbage.mp4").write_bytes(b"not a video")
    make(tmp_path, "video,label,split\ngarbage.mp4,stir,train\n", clip)
    assert problems_of(tmp_path)
    assert len(load_dataset(tmp_path, probe=False)) == 1


def test_probe_video(tmp_path: Path, clip: Path) -> None:
    assert probe_video(clip) is None
    (tmp_path / "x.mp4").write_bytes(clip.read_bytes()[:200])  # truncated before any frame
    assert probe_video(tmp_path / "x.mp4") is not None
