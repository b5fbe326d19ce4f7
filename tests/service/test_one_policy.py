"""One options model, one default policy: `vidgate classify`, the API, and `vidgate batch` (local and
through a server) select the same snippets of the same file, with no options and with an option that
only exists in `pipelines.options.Options` (``seconds_per_snippet``: adding it took no other edit)
together with the light pass that keeps the uniform plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.options import OPTION_NAMES, Options
from service.batch.records import read_records
from service.batch.runner import BatchPlan, run_batch

from .api_support import ROOT, env_for, make_files, post_video, server, settings_for, wait_for


def _selection(result: dict[str, Any]) -> tuple[int, list[int]]:
    return len(result["snippets"]), [s["index"] for s in result["snippets"] if s["selected"]]


@pytest.mark.slow
def test_every_entry_point_selects_the_same_snippets(tmp_path: Path) -> None:
    files = make_files(tmp_path / "files")
    settings = settings_for(tmp_path / "data", files, decoder="pyav")
    choices: dict[str, dict[str, Any]] = {
        "defaults": {},
        "one snippet per 2 s": {"seconds_per_snippet": 2.0, "light_pass": "exact"},  # exact: the uniform plan
    }
    found: dict[str, dict[str, tuple[int, list[int]]]] = {name: {} for name in choices}

    for name, values in choices.items():
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in values.items()]
        cli = subprocess.run(
            [sys.executable, "-m", "service.cli", "classify", str(files.long), "--json", *flags],
            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env_for(settings),
        )
        assert cli.returncode == 0, cli.stderr
        found[name]["classify"] = _selection(json.loads(cli.stdout.strip().splitlines()[-1]))

        out = tmp_path / f"local-{len(values)}.jsonl"
        run_batch([str(files.long)], out, BatchPlan(options=Options(**values), settings=settings,
                                                    checkpoint=files.checkpoint))
        record = read_records(out)[0]
        found[name]["batch"] = (record["compute"]["snippets_total"], [s["index"] for s in record["snippets"]])

    with server(settings, tmp_path / "server.log") as (_, client):
        for name, values in choices.items():
            job = post_video(client, files.long, **values).json()
            done = wait_for(client, job["id"], timeout=120)
            assert done["status"] == "succeeded", done
            assert set(done["options"]) == set(OPTION_NAMES)
            found[name]["api"] = _selection(done["result"])

            out = tmp_path / f"server-{len(values)}.jsonl"
            run_batch([str(files.long)], out, BatchPlan(options=Options(**values), settings=settings,
                                                        checkpoint=files.checkpoint, server=str(client.base_url)))
            record = read_records(out)[0]
            assert record["status"] == "ok", record
            found[name]["batch --server"] = (record["compute"]["snippets_total"],
                                             [s["index"] for s in record["snippets"]])

    for name, by_entry in found.items():
        assert len(set(map(str, by_entry.values()))) == 1, (name, by_entry)
    # files.long: 480 frames at 12 fps = 40 s → 20 snippets at one per 2 s; by default as many as fit (up to 64).
    assert found["one snippet per 2 s"]["api"][0] == 20
    assert found["defaults"]["api"][0] != 20
