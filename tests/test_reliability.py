"""The short version of the reliability suite (bench/reliability), as CI runs it: real processes, a private
redis-server, hostile files and requests, schemathesis, a frozen worker and a Redis outage."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("redis-server") is None,
                                                   reason="needs redis-server (the suite starts its own)")]


def test_reliability_short_run(tmp_path: Path) -> None:
    out = tmp_path / "reliability.md"
    done = subprocess.run([sys.executable, "-m", "bench.reliability", "--quick", "--out", str(out), "--work",
                           str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    figures = json.loads(out.with_suffix(".json").read_text())
    assert "errors" not in figures
    files, requests = figures["bad_files"], figures["bad_requests"]
    assert len(files["rows"]) >= 30 and all(r["ok"] and 400 <= r["status"] < 500 for r in files["rows"])
    assert len(requests["rows"]) >= 30 and all(r["ok"] for r in requests["rows"])
    assert files["healthy_after"] and requests["healthy_after"]
    assert requests["tracebacks_in_log"] == 0 and requests["partial_files_left"] == 0
    st = figures["schemathesis"]
    assert st["cases"] > 0 and st["errors"] == 0, st
    assert st["server_errors"] == 0 and st["contract_failures"] == 0, st["failures"]
    memory = figures["memory"]
    assert memory["all_4xx"] and abs(memory["growth_pct"]) < 10
    assert figures["frozen"]["stale_write_refused"] and figures["frozen"]["result_written_by_survivor"]
    for row in figures["broker"]:
        assert row["lost"] == 0 and row["duplicated"] == 0 and row["consuming_after"]
        assert row["workers_alive"] == "2/2"
    text = out.read_text()
    assert "| scenario | figures |" in text and "self_concat.mp4" in text
