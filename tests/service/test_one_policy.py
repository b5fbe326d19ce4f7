"""One options model, one default policy, one shape: `vidgate classify`, the API, and `vidgate batch` (local and
through a server) select the same snippets of the same file, with no options and with an option that
only exists in `pipelines.options.Options` (``seconds_per_snippet``: adding it took no other edit)
together with the light pass that keeps the uniform plan; and they write one record: a batch record is
`classify --json`'s line with the batch's bookkeeping around it, the same keys with the same types as the
API's result, and evidence only when it was asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.options import OPTION_NAMES, Options
from service.batch.records import BOOKKEEPING, read_records
from service.batch.runner import BatchPlan, run_batch

from .api_support import ROOT, env_for, make_files, post_video, server, settings_for, wait_for


def _selection(result: dict[str, Any]) -> tuple[int, list[int]]:
    return len(result["snippets"]), [s["index"] for s in result["snippets"] if s["selected"]]


def _shape(value: Any) -> Any:
    """Keys and JSON types, recursively (a list: the set of its items' shapes)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(_shape(v), sort_keys=True) for v in value})
    return {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}[type(value)]


def _line(record: dict[str, Any]) -> dict[str, Any]:
    """A batch record without its bookkeeping: what `classify --json` prints for the file (less its error)."""
    return {k: v for k, v in record.items() if k not in BOOKKEEPING}


def _flags(values: dict[str, Any]) -> list[str]:
    return [f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')}={v}" for k, v in values.items()]


@pytest.mark.slow
def test_every_entry_point_selects_the_same_snippets(tmp_path: Path) -> None:
    files = make_files(tmp_path / "files")
    settings = settings_for(tmp_path / "data", files, decoder="pyav")
    choices: dict[str, dict[str, Any]] = {
        "defaults": {},
        "one snippet per 2 s": {"seconds_per_snippet": 2.0, "light_pass": "exact"},  # exact: the uniform plan
        "evidence": {"evidence": True},
    }
    found: dict[str, dict[str, tuple[int, list[int]]]] = {name: {} for name in choices}
    lines: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in choices}  # name -> entry -> classify line
    failed: dict[str, dict[str, Any]] = {}  # entry -> the not-a-video file's line

    for name, values in choices.items():
        cli = subprocess.run(
            [sys.executable, "-m", "service.cli", "classify", str(files.text), str(files.long), "--json",
             *_flags(values)],
            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env_for(settings),
        )
        assert cli.returncode == 1, cli.stderr  # the text file failed, the video did not
        failed["classify"], lines[name]["classify"] = (json.loads(x) for x in cli.stdout.strip().splitlines())
        found[name]["classify"] = _selection(lines[name]["classify"])

        out = tmp_path / f"local-{name}.jsonl"
        run_batch([str(files.text), str(files.long)], out, BatchPlan(options=Options(**values), settings=settings,
                                                                     checkpoint=files.checkpoint))
        records = {Path(r["source"]).name: r for r in read_records(out)}
        assert records["long.mp4"]["status"] == "ok" and records["notes.mp4"]["status"] == "error", records
        lines[name]["batch"], failed["batch"] = records["long.mp4"], records["notes.mp4"]
        found[name]["batch"] = _selection(records["long.mp4"])

    with server(settings, tmp_path / "server.log") as (_, client):
        for name, values in choices.items():
            job = post_video(client, files.long, **values).json()
            done = wait_for(client, job["id"], timeout=120)
            assert done["status"] == "succeeded", done
            assert set(done["options"]) == set(OPTION_NAMES)
            lines[name]["api"] = done["result"]
            found[name]["api"] = _selection(done["result"])

            out = tmp_path / f"server-{name}.jsonl"
            run_batch([str(files.text), str(files.long)], out, BatchPlan(
                options=Options(**values), settings=settings, checkpoint=files.checkpoint, server=str(client.base_url)))
            records = {Path(r["source"]).name: r for r in read_records(out)}
            assert records["long.mp4"]["status"] == "ok", records
            lines[name]["batch --server"], failed["batch --server"] = records["long.mp4"], records["notes.mp4"]
            found[name]["batch --server"] = _selection(records["long.mp4"])

    for name, by_entry in found.items():
        assert len(set(map(str, by_entry.values()))) == 1, (name, by_entry)
    # One shape: the same keys with the same types everywhere; batch adds only its bookkeeping.
    for name, written in lines.items():
        for entry in ("batch", "batch --server"):
            record = written[entry]
            assert set(BOOKKEEPING) <= set(record) and record["status"] == "ok" and record["error"] is None
            written[entry] = _line(record)
        shapes = {entry: _shape(line) for entry, line in written.items()}
        assert all(shape == shapes["classify"] for shape in shapes.values()), (name, shapes)
        assert all(line["video"] == "long.mp4" for line in written.values())
        for entry, line in written.items():
            evidence = [s["evidence"] for s in line["snippets"]]
            if name == "evidence":  # asked for: each selected snippet's terms for the returned labels
                labels = [label["label"] for label in line["labels"]]
                assert all([e["label"] for e in ev] == (labels if s["selected"] else [])
                           for ev, s in zip(evidence, line["snippets"], strict=True)), (entry, evidence)
            else:
                assert evidence == [None] * len(evidence), (name, entry)  # not asked for: not computed
    assert failed["classify"]["video"] == "notes.mp4" and set(failed["classify"]) == {"video", "error"}
    for entry in ("batch", "batch --server"):
        assert _line(failed[entry]) == {"video": "notes.mp4"}, failed[entry]
        assert failed[entry]["status"] == "error" and set(failed[entry]["error"]) == {"code", "message"}
        assert failed[entry]["error"]["code"] == failed["classify"]["error"]["code"] == "not_a_video"
    # files.long: 480 frames at 12 fps = 40 s → 20 snippets at one per 2 s; by default as many as fit (up to 64).
    assert found["one snippet per 2 s"]["api"][0] == 20
    assert found["defaults"]["api"][0] != 20
