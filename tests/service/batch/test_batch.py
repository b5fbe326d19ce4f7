"""`vidgate batch`: sources and archives (hostile ones too), resume after a kill, CSV/JSONL, report, server mode."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import zstandard

from pipelines.options import Options
from service.batch.records import CSV_FIELDS, read_records
from service.batch.report import write_html_report
from service.batch.runner import BatchPlan, run_batch
from service.batch.sources import ArchiveLimits, expand
from service.config import Settings

from ...helpers import tiny_checkpoint, write_test_video


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batch")
    videos = root / "videos"
    (videos / "nested").mkdir(parents=True)
    write_test_video(videos / "a.mp4", frames=32)
    write_test_video(videos / "nested" / "b.mkv", frames=40)
    write_test_video(root / "tmp.mp4", frames=24)
    (root / "tmp.mp4").rename(videos / "no_extension")  # found by probing, not by its name
    (videos / "readme.txt").write_text("not a video")
    (videos / "broken.mp4").write_bytes(b"")
    return {"root": root, "videos": videos, "checkpoint": tiny_checkpoint(root / "tiny.safetensors")}


def _plan(checkpoint: Path, options: Options | None = None, **choices: object) -> BatchPlan:
    return BatchPlan(options=options or Options(), settings=Settings(), checkpoint=checkpoint, **choices)  # type: ignore[arg-type]


def _sources(items: list) -> dict[str, str | None]:  # type: ignore[type-arg]
    out = {item.source: (item.error[0] if item.error else None) for item in items}
    for item in items:
        item.release()
    return out


def _skips(items: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {item.source: item.skipped[0] for item in items if item.skipped}


def test_directory_glob_and_list_file(assets: dict[str, Path]) -> None:
    videos = assets["videos"]
    items = list(expand([str(videos)]))
    assert _skips(items) == {str(videos / "readme.txt"): "not_a_video"}  # named, with why: never left out silently
    found = _sources([i for i in items if not i.skipped])
    assert set(found) == {str(videos / p) for p in ("a.mp4", "nested/b.mkv", "no_extension", "broken.mp4")}
    globbed = _sources(list(expand([str(videos / "**" / "*.m*")])))
    assert globbed == {str(videos / "a.mp4"): None, str(videos / "nested" / "b.mkv"): None,
                       str(videos / "broken.mp4"): None}  # read fine; it fails later, when decoded
    listing = assets["root"] / "list.txt"
    listing.write_text("# my videos\nvideos/a.mp4\nvideos/missing.mp4\n")
    assert _sources(list(expand([str(listing)]))) == {"videos/a.mp4": None, "videos/missing.mp4": "file_missing"}


def _archives(root: Path, video: Path) -> dict[str, Path]:
    data = video.read_bytes()
    out = {"zip": root / "set.zip", "tar": root / "set.tar", "tar.gz": root / "set.tar.gz",
           "tar.zst": root / "set.tar.zst"}
    with zipfile.ZipFile(out["zip"], "w") as z:
        z.writestr("clips/one.mp4", data)
        z.writestr("notes.txt", "ignored")
    for kind in ("tar", "tar.gz"):
        with tarfile.open(out[kind], "w:gz" if kind == "tar.gz" else "w") as t:
            info = tarfile.TarInfo("clips/one.mp4")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        info = tarfile.TarInfo("clips/one.mp4")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    out["tar.zst"].write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return out


def test_every_archive_type_streams_its_members(assets: dict[str, Path], tmp_path: Path) -> None:
    for kind, archive in _archives(tmp_path, assets["videos"] / "a.mp4").items():
        items = list(expand([str(archive)]))
        assert _skips(items) == ({f"{archive}!notes.txt": "not_a_video"} if kind == "zip" else {}), kind
        items = [i for i in items if not i.skipped]
        assert [i.source for i in items] == [f"{archive}!clips/one.mp4"], kind
        item = items[0]
        assert item.error is None and item.path is not None and item.path.read_bytes()[:8]
        item.release()
        assert not item.path.exists()  # the temporary copy is gone once released


def _hostile(root: Path, video: Path, other: Path) -> tuple[Path, Path]:
    data = video.read_bytes()
    zpath, tpath = root / "evil.zip", root / "evil.tar"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("../../escape.mp4", data)
        z.writestr("/etc/absolute.mp4", data)
        link = zipfile.ZipInfo("link.mp4")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, "/etc/passwd")
        z.writestr("bomb.mp4", b"\0" * (1536 * 1024))  # compresses about 1000:1
        z.writestr("good.mp4", data)
    with tarfile.open(tpath, "w") as t:
        for name, kind in (("sym.mp4", tarfile.SYMTYPE), ("hard.mp4", tarfile.LNKTYPE), ("fifo.mp4", tarfile.FIFOTYPE),
                           ("dev.mp4", tarfile.CHRTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, "/etc/passwd"
            t.addfile(info)
        big = tarfile.TarInfo("huge.mp4")
        big.size = 2 * 1024 * 1024
        t.addfile(big, io.BytesIO(b"\1" * big.size))
        other_data = other.read_bytes()  # other content: records are keyed by content
        info = tarfile.TarInfo("good.mp4")
        info.size = len(other_data)
        t.addfile(info, io.BytesIO(other_data))
    return zpath, tpath


def test_hostile_archives_are_refused_member_by_member_and_the_batch_goes_on(assets: dict[str, Path],
                                                                               tmp_path: Path) -> None:
    zpath, tpath = _hostile(tmp_path, assets["videos"] / "a.mp4", assets["videos"] / "nested" / "b.mkv")
    out = tmp_path / "results.jsonl"
    plan = _plan(assets["checkpoint"], Options(budget=0.5),
                 archive_limits=ArchiveLimits(member_bytes=1800 * 1024, ratio=50, ratio_floor_bytes=256 * 1024))
    summary = run_batch([str(zpath), str(tpath)], out, plan)
    records = {r["source"].split("!")[1]: r for r in read_records(out)}
    codes = {name: (r["error"] or {}).get("code") for name, r in records.items()}
    assert codes == {
        "../../escape.mp4": "unsafe_member", "/etc/absolute.mp4": "unsafe_member", "link.mp4": "unsafe_member",
        "bomb.mp4": "archive_bomb", "good.mp4": None,
        "sym.mp4": "unsafe_member", "hard.mp4": "unsafe_member", "fifo.mp4": "unsafe_member",
        "dev.mp4": "unsafe_member", "huge.mp4": "member_too_large",
    } | {"good.mp4": None}
    assert sum(1 for r in read_records(out) if r["status"] == "ok") == 2  # good.mp4 of each archive
    assert summary.ok == 2 and sum(summary.failures.values()) == 9
    assert not (tmp_path.parent / "escape.mp4").exists()


def _batch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "service.cli", "batch", *args]


@pytest.mark.slow
def test_resume_after_a_kill_gives_one_record_per_video(assets: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(6):
        write_test_video(folder / f"v{i}.mp4", frames=24 + 8 * i)
    (folder / "zero.mp4").write_bytes(b"")
    out = tmp_path / "results.jsonl"
    args = _batch_command(str(folder), "--out", str(out), "--checkpoint", str(assets["checkpoint"]))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not out.exists() or out.read_text().count("\n") < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with out.open("a") as f:
        f.write('{"source": "torn')  # what a crash in the middle of a write would have left
    done_before = out.read_text().count("\n")
    assert done_before < 7
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 1  # zero.mp4 failed
    assert f"{done_before} already done" in resumed.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 7 and len({r["key"] for r in lines}) == 7
    retried = subprocess.run([*args, "--retry-failed"], capture_output=True, text=True, timeout=300)
    assert "1 processed (0 ok, 1 failed), 0 skipped, 6 already done" in retried.stderr
    final = read_records(out)
    assert len(final) == 7 and [r["error"]["code"] for r in final if r["status"] == "error"] == ["empty_file"]


def test_csv_output_and_html_report(assets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    summary = run_batch([str(assets["videos"])], out, _plan(assets["checkpoint"], format="csv",
                                                           artifacts=tmp_path / "artifacts"))
    assert summary.ok == 3 and summary.failures == {"empty_file": 1}
    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == CSV_FIELDS
        rows = list(reader)
    assert len(rows) == 5 and {r["status"] for r in rows} == {"ok", "error", "skipped"}
    ok = next(r for r in rows if r["status"] == "ok")
    assert int(ok["selected"]) >= 1 and float(ok["gflops"]) < float(ok["gflops_dense"])
    jsonl = tmp_path / "results.jsonl"
    run_batch([str(assets["videos"])], jsonl, _plan(assets["checkpoint"], artifacts=tmp_path / "artifacts"))
    thumbs = list((tmp_path / "artifacts").rglob("*.jpg"))
    assert thumbs and all(t.with_suffix(".mp4").exists() for t in thumbs)
    page = write_html_report(jsonl, tmp_path / "report" / "index.html", artifacts=tmp_path / "artifacts")
    text = page.read_text()
    assert "4 videos: 3 recognised, 1 failed; 1 inputs skipped" in text and "empty_file" in text and "<svg" in text
    assert "readme.txt: not a video" in text
    records = [r for r in read_records(jsonl) if r["status"] != "skipped"]
    segments = sum(s["selected"] for r in records for s in r.get("snippets", []))
    assert segments >= 3 and text.count("<img ") == segments  # every selected segment links its thumbnail
    ok_records = [r for r in records if r["status"] == "ok"]
    assert all(len(r["snippets"]) == r["compute"]["snippets_total"] for r in ok_records)  # the result, as it is


def test_symlinks_and_duplicates_are_skipped_by_name_and_links_inside_the_folder_can_be_followed(
        assets: dict[str, Path], tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.mp4"
    write_test_video(outside, frames=28)
    folder = tmp_path / "links"
    (folder / "real").mkdir(parents=True)
    write_test_video(folder / "real" / "one.mp4", frames=32)
    (folder / "copy.mp4").write_bytes((folder / "real" / "one.mp4").read_bytes())  # the same content again
    (folder / "inside.mp4").symlink_to(folder / "real" / "one.mp4")
    (folder / "outside.mp4").symlink_to(outside)
    (folder / "linked_dir").symlink_to(folder / "real")
    out = tmp_path / "results.jsonl"
    summary = run_batch([str(folder)], out, _plan(assets["checkpoint"]))

    def name(source: str) -> str:
        return str(Path(source).relative_to(folder))

    skipped = {name(s): reason for s, reason in summary.skipped}
    assert set(skipped) == {"real/one.mp4", "inside.mp4", "outside.mp4", "linked_dir"}, skipped
    assert skipped["real/one.mp4"].endswith(str(folder / "copy.mp4"))  # names the input it duplicates
    assert summary.ok == 1 and summary.total == 1
    records = {name(r["source"]): r for r in read_records(out)}
    assert {n: r["error"]["code"] for n, r in records.items() if r["status"] == "skipped"} == {
        "real/one.mp4": "duplicate", "inside.mp4": "symlink", "outside.mp4": "symlink", "linked_dir": "symlink"}
    assert any(line.startswith(f"skipped: {folder / 'outside.mp4'}: a symbolic link") for line in summary.lines())
    assert "1 processed (1 ok, 0 failed), 4 skipped" in summary.lines()[0]
    # Followed, a link inside the folder is one more path to content seen already; the one outside never is.
    followed = run_batch([str(folder)], tmp_path / "followed.jsonl", _plan(assets["checkpoint"], follow_symlinks=True))
    reasons = {name(s): r for s, r in followed.skipped}
    assert followed.ok == 1 and set(reasons) == {"inside.mp4", "linked_dir/one.mp4", "real/one.mp4", "outside.mp4"}
    assert reasons["outside.mp4"].startswith("a symbolic link to a place outside")
    assert all(r.startswith("the same content") for n, r in reasons.items() if n != "outside.mp4"), reasons
    # Run again: nothing new to do, and skipped inputs are not recorded twice.
    again = run_batch([str(folder)], out, _plan(assets["checkpoint"]))
    assert again.total == 0 and again.already_done == 5 and not again.skipped
    assert len(out.read_text().splitlines()) == 5
