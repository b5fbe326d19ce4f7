"""`vidgate data import`: each format read from small files written in its layout (with real tiny videos); the
result is a data set `load_dataset` accepts; a bad source gives every problem at once and writes nothing."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from pipelines.datasets import Segment, load_dataset
from pipelines.errors import DatasetError, OptionsError
from pipelines.importers import ImportOptions, import_dataset

from ..helpers import write_test_video

FPS = 15.0  # Breakfast's frame rate: its label files count frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny real video per container the tests name files with (32 frames at 15 fps)."""
    root = tmp_path_factory.mktemp("clip")
    return {ext: write_test_video(root / f"clip{ext}", frames=32, fps=FPS, size=(32, 32)) for ext in (".mp4", ".avi")}


def put(clip: dict[str, Path], root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip[Path(name).suffix], root / name)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def problems(fmt: str, src: Path, out: Path, **options: object) -> list[str]:
    """The problems an import reports; it must leave nothing behind."""
    with pytest.raises(DatasetError) as info:
        import_dataset(fmt, src, out, ImportOptions(**options))  # type: ignore[arg-type]
    assert info.value.code == "bad_dataset"
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.*")), "a failed import writes nothing"
    return info.value.problems


def test_folders_per_class_with_a_seeded_test_share(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(clip, src, "pour/a.mp4", "pour/b.mp4", "pour/day2/c.mp4", "pour/d.mp4", "stir/e.mp4", "stir/f.mp4")
    (src / "stir" / "notes.txt").write_text("not a video")
    report = import_dataset("folders", src, tmp_path / "out", ImportOptions(test_fraction=0.25))
    assert report.videos == {"train": 4, "test": 2} and report.classes == 2 and report.segments == 0
    assert report.notes == ("1 file(s) in class folders that are not videos by their extension",)
    table = rows(tmp_path / "out" / "annotations.csv")
    assert [r["video"] for r in table] == ["videos/pour/a.mp4", "videos/pour/b.mp4", "videos/pour/d.mp4",
                                           "videos/pour/day2/c.mp4", "videos/stir/e.mp4", "videos/stir/f.mp4"]
    assert {r["label"] for r in table if r["split"] == "test"} == {"pour", "stir"}  # each class keeps one to test
    link = tmp_path / "out" / "videos" / "pour" / "a.mp4"
    assert link.is_symlink() and link.resolve() == (src / "pour" / "a.mp4").resolve()
    data = load_dataset(tmp_path / "out")
    assert data.classes == ("pour", "stir") and len(data) == 6 and not data.segments
    assert data.origin == {"synthetic": False, "made_by": f"vidgate data import folders {src.resolve()}"}
    again = import_dataset("folders", src, tmp_path / "again", ImportOptions(test_fraction=0.25))
    assert (tmp_path / "again" / "annotations.csv").read_text() == (tmp_path / "out" / "annotations.csv").read_text()
    assert again.videos == report.videos
    copied = import_dataset("folders", src, tmp_path / "copied", ImportOptions(copy=True))
    assert not copied.linked and not (tmp_path / "copied" / "videos" / "stir" / "e.mp4").is_symlink()


def test_folders_with_split_folders(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(clip, src, "train/pour/a.mp4", "train/stir/b.mp4", "val/pour/c.mp4", "test/stir/d.mp4")
    import_dataset("folders", src, tmp_path / "out")
    table = rows(tmp_path / "out" / "annotations.csv")
    assert [(r["video"], r["label"], r["split"]) for r in table] == [
        ("videos/test/stir/d.mp4", "stir", "test"), ("videos/train/pour/a.mp4", "pour", "train"),
        ("videos/train/stir/b.mp4", "stir", "train"), ("videos/val/pour/c.mp4", "pour", "val")]


def test_a_bad_folder_source_gives_every_problem_and_writes_nothing(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(clip, src, "train/pour/a.mp4", "train/a|b/c.mp4", "extra/d.mp4")
    (src / "train" / "pour" / "broken.mp4").write_text("not a video at all\n" * 20)
    found = problems("folders", src, tmp_path / "out")
    assert len(found) == 3, found
    assert found[0].startswith(f"{src.resolve()}: split folders (train) beside other folders (extra)")
    assert found[1] == "train/a|b/c.mp4: label 'a|b' contains '|' (vidgate's multi-label separator)"
    assert found[2].startswith("train/pour/broken.mp4: ") and "not_a_video" in found[2]


def _activitynet(src: Path) -> Path:
    database = {
        "abc": {"subset": "training", "duration": 2.0, "url": "https://www.youtube.com/watch?v=abc",
                "annotations": [{"label": "Making tea", "segment": [0.2, 0.9]},
                                {"label": "Making tea", "segment": [1.1, 1.8]}]},
        "def": {"subset": "validation", "duration": 2.0, "annotations": [{"label": "Pouring", "segment": [0.5, 2.5]}]},
        "ghi": {"subset": "testing", "duration": 2.0, "annotations": []},
    }
    path = src / "activity_net.v1-3.min.json"
    path.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": database}))
    return path


def test_activitynet_json(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "anet"
    put(clip, src, "videos/v_abc.mp4", "videos/def.mp4", "videos/v_ghi.mp4")
    report = import_dataset("activitynet", _activitynet(src), tmp_path / "out")
    assert report.videos == {"train": 1, "val": 1} and report.segments == 3
    assert report.notes == ("1 video(s) of subset 'testing' without annotations",
                            "1 segment(s) ended after their video's stated duration: clipped to it")
    data = load_dataset(tmp_path / "out")
    assert [(it.path.name, it.labels, it.split) for it in data.items] == [
        ("v_abc.mp4", ("Making tea",), "train"), ("def.mp4", ("Pouring",), "val")]
    assert data.segments[data.items[0].path] == (Segment("Making tea", 0.2, 0.9), Segment("Making tea", 1.1, 1.8))
    assert data.segments[data.items[1].path] == (Segment("Pouring", 0.5, 2.0),)  # clipped to the duration


def test_a_bad_activitynet_json_gives_every_problem_with_its_path(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "anet"
    put(clip, src, "v_a.mp4", "v_b.mp4")
    (src / "a.json").write_text(json.dumps({"database": {
        "a": {"subset": "train", "annotations": [{"label": "x", "segment": [5]}]},
        "b": {"subset": "training", "annotations": [{"label": "y", "segment": [3.0, 1.0]}, {"segment": [0, 1]}]},
        "c": {"subset": "training", "annotations": [{"label": "z", "segment": [0, 1]}]},
    }}))
    assert problems("activitynet", src, tmp_path / "out") == [
        'a.json database["a"].subset: \'train\' is not one of training, validation, testing',
        'a.json database["a"].annotations[0].segment: expected [start, end] in seconds, got [5]',
        'a.json database["b"].annotations[1].label: None is not a class name',
        'a.json database["b"].annotations[0].segment: a segment needs 0 ≤ start < end, got 3 to 1',
        f'a.json database["c"]: no video file named v_c.* or c.* under {src.resolve()}',
    ]


def _charades(src: Path) -> None:
    header = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
    (src / "Charades_v1_train.csv").write_text(
        header + 'AB12C,HR43,Kitchen,6,7,Yes,"A person holds clothes.",clothes,"They hold clothes.",'
        '"c000 0.00 1.20;c002 0.80 1.90;c000 1.50 3.00",2.13\n'
        "ZZ9,HR43,Bedroom,5,7,Yes,script,,,,2.0\n")
    (src / "Charades_v1_test.csv").write_text(header + "XY34Z,HR44,Hallway,6,7,Yes,s,,,c002 0.10 1.00,2.13\n")
    (src / "Charades_v1_classes.txt").write_text("c000 Holding some clothes\nc001 Putting clothes somewhere\n"
                                                 "c002 Taking a cup from somewhere\n")


def test_charades_csv(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "charades"
    put(clip, src, "Charades_v1_480/AB12C.mp4", "Charades_v1_480/XY34Z.mp4")
    _charades(src)
    report = import_dataset("charades", src, tmp_path / "out")
    assert report.videos == {"train": 1, "test": 1} and report.classes == 3 and report.segments == 4
    assert report.notes == ("1 video(s) without actions",
                            "1 segment(s) ended after their video's stated duration: clipped to it")
    data = load_dataset(tmp_path / "out")
    assert data.classes == ("Holding some clothes", "Putting clothes somewhere", "Taking a cup from somewhere")
    assert data.multi_label and data.items[0].labels == ("Holding some clothes", "Taking a cup from somewhere")
    assert data.segments[data.items[0].path] == (Segment("Holding some clothes", 0.0, 1.2),
                                                 Segment("Taking a cup from somewhere", 0.8, 1.9),
                                                 Segment("Holding some clothes", 1.5, 2.13))
    assert [it.split for it in data.items] == ["train", "test"]


def test_a_bad_charades_source_gives_every_problem(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "charades"
    put(clip, src, "AB12C.mp4")
    _charades(src)
    with (src / "Charades_v1_train.csv").open("a") as f:
        f.write("QQ1,HR1,Kitchen,6,7,Yes,s,,,c999 0.00 1.00;c001 1.0,5\n")
    with (src / "Charades_v1_classes.txt").open("a") as f:
        f.write("c003 Holding some clothes\n")
    assert problems("charades", src, tmp_path / "out") == [
        "Charades_v1_classes.txt line 4: c003 'Holding some clothes' is listed twice",
        "Charades_v1_train.csv line 4 (QQ1): action 'c999 0.00 1.00': class 'c999' is not in the class list",
        "Charades_v1_train.csv line 4 (QQ1): action 'c001 1.0': expected 'CLASS START END' (seconds), "
        "e.g. 'c092 11.90 21.20'",
        "Charades_v1_train.csv line 4 (QQ1): no video file named QQ1.* under " + str(src.resolve()),
        "Charades_v1_train.csv line 4 (QQ1): no label",
        "Charades_v1_test.csv line 2 (XY34Z): no video file named XY34Z.* under " + str(src.resolve()),
    ]


def test_kinetics_csv(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "kinetics"
    put(clip, src, "train/abseiling/aaa_000010_000020.mp4", "train/air drumming/bbb.mp4",
        "val/abseiling/ccc_000003_000013.mp4")
    (src / "train.csv").write_text("label,youtube_id,time_start,time_end,split,is_cc\n"
                                   "abseiling,aaa,10,20,train,0\n\"air drumming\",bbb,0,10,train,0\n")
    (src / "validate.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,ccc,3,13,val\n")
    (src / "test.csv").write_text("youtube_id,time_start,time_end,split\nddd,0,10,test\n")
    report = import_dataset("kinetics", src, tmp_path / "out")
    assert report.videos == {"train": 2, "val": 1} and report.segments == 0
    assert report.notes == ("1 row(s) without a label",) and not (tmp_path / "out" / "segments.csv").exists()
    data = load_dataset(tmp_path / "out")
    assert [(it.path.name, it.labels[0], it.split) for it in data.items] == [
        ("aaa_000010_000020.mp4", "abseiling", "train"), ("bbb.mp4", "air drumming", "train"),
        ("ccc_000003_000013.mp4", "abseiling", "val")]


def test_a_bad_kinetics_source_gives_every_problem_and_skip_bad_keeps_the_rest(
        clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "kinetics"
    put(clip, src, "aaa_000010_000020.mp4", "bbb_000000_000010.mp4")
    (src / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,aaa,10,20,train\n"
                                   "abseiling,aaa,10,20,train\nbowling,bbb,0,10,holdout\nbowling,eee,0,10,train\n"
                                   "bowling,fff,x,10,train\n")
    (src / "other.csv").write_text("name,start\nq,1\n")
    found = problems("kinetics", src, tmp_path / "out")
    assert found == [
        "other.csv line 1: missing column(s) youtube_id, time_start, time_end (expected "
        "label,youtube_id,time_start,time_end,split)",
        "train.csv line 3 (aaa): the same video as train.csv line 2 (aaa)",
        "train.csv line 4 (bbb): split 'holdout' is not one of train, val, validate, validation, test",
        f"train.csv line 5 (eee): no video file named eee_000000_000010.* or eee.* under {src.resolve()}",
        "train.csv line 6 (fff): time_start 'x' and time_end '10' must be seconds",
        f"train.csv line 6 (fff): no video file named fff.* under {src.resolve()}",
    ]
    (src / "other.csv").unlink()
    report = import_dataset("kinetics", src, tmp_path / "out", ImportOptions(skip_bad=True))
    assert report.videos == {"train": 1} and report.skipped == tuple(found[1:])


def _breakfast(clip: dict[str, Path], src: Path) -> None:
    put(clip, src, "P03/cam01/P03_cereals.avi", "P03/stereo/P03_cereals_ch1.avi", "P16/webcam01/P16_tea.avi",
        "P16/webcam01/notes.avi")
    (src / "P03" / "cam01" / "P03_cereals.avi.labels").write_text("1-5 SIL\n6-20 take_bowl\n21-32 pour_milk\n")
    (src / "segmentation_coarse").mkdir()
    (src / "segmentation_coarse" / "P16_webcam01_P16_tea.txt").write_text("1-15 take_cup  \n16-30 pour_water\n")
    (src / "segmentation_coarse" / "P03_stereo01_P03_cereals.txt").write_text("3-9 take_bowl\n")


def test_breakfast_layout(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "breakfast"
    _breakfast(clip, src)
    report = import_dataset("breakfast", src, tmp_path / "out")
    assert report.videos == {"train": 1, "test": 2} and report.segments == 5
    assert report.notes == ("1 video(s) not named PXX/CAMERA/PXX_ACTIVITY.<ext>, e.g. P16/webcam01/notes.avi",
                            "1 SIL segment(s) (nothing happening)")
    data = load_dataset(tmp_path / "out")
    by_name = {str(it.path.relative_to(data.root)): it for it in data.items}
    assert {name: (it.labels, it.split) for name, it in by_name.items()} == {
        "videos/P03/cam01/P03_cereals.avi": (("cereals",), "test"),
        "videos/P03/stereo/P03_cereals_ch1.avi": (("cereals",), "test"),
        "videos/P16/webcam01/P16_tea.avi": (("tea",), "train")}
    frames = data.segments[by_name["videos/P03/cam01/P03_cereals.avi"].path]  # frames 6-20 at 15 fps: 5/15 to 20/15
    assert frames == (Segment("take_bowl", 0.333, 1.333), Segment("pour_milk", 1.333, 2.133))
    assert data.segments[by_name["videos/P03/stereo/P03_cereals_ch1.avi"].path] == (Segment("take_bowl", 0.133, 0.6),)
    other_fold = import_dataset("breakfast", src, tmp_path / "fold2", ImportOptions(test_fold=2))
    assert other_fold.videos == {"train": 2, "test": 1}


def test_a_bad_breakfast_source_gives_every_problem(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "breakfast"
    _breakfast(clip, src)
    (src / "P03" / "cam01" / "P03_cereals.avi.labels").write_text("1-5 SIL\n20-6 take_bowl\nstir\n")
    found = problems("breakfast", src, tmp_path / "out")
    assert found == [
        "P03/cam01/P03_cereals.avi: P03_cereals.avi.labels line 3: expected 'START-END ACTION' in frames, got 'stir'",
        "P03/cam01/P03_cereals.avi: P03_cereals.avi.labels line 2: a segment needs 0 ≤ start < end, got 1.26667 to "
        "0.4",
    ]
    with pytest.raises(OptionsError, match="--test-fold must be one of 1, 2, 3, 4"):
        import_dataset("breakfast", src, tmp_path / "out", ImportOptions(test_fold=5))


def test_the_output_folder_and_the_format_are_checked_first(clip: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(clip, src, "pour/a.mp4")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(OptionsError, match="exists and is not empty"):
        import_dataset("folders", src, tmp_path / "full")
    with pytest.raises(OptionsError, match="unknown format 'ucf101'; known: folders, activitynet"):
        import_dataset("ucf101", src, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    import_dataset("folders", src, tmp_path / "empty", ImportOptions(test_fraction=0))
    assert load_dataset(tmp_path / "empty").classes == ("pour",)
    import_dataset("folders", src, src / "pour" / "dataset", ImportOptions(test_fraction=0))  # beside its videos
    again = import_dataset("folders", src, tmp_path / "again", ImportOptions(test_fraction=0))
    assert again.videos == {"train": 1}, "an earlier import's links are not more videos"
