"""Server mode: `run_batch` against a real `vidgate serve`, with idempotency keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipelines.options import Options
from service.batch.records import read_records
from service.batch.runner import BatchPlan, run_batch

from ...helpers import write_test_video
from ..api_support import make_files, server, settings_for


@pytest.mark.slow
def test_server_mode_collects_results_and_never_submits_twice(tmp_path: Path) -> None:
    files = make_files(tmp_path / "files")
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(3):
        write_test_video(folder / f"v{i}.mp4", frames=24 + 8 * i)
    (folder / "notes.mp4").write_text("not a video at all\n" * 20)
    settings = settings_for(tmp_path / "data", files, decoder="pyav")
    out = tmp_path / "results.jsonl"
    with server(settings, tmp_path / "server.log") as (_, client):
        plan = BatchPlan(options=Options(budget=0.5), settings=settings, checkpoint=files.checkpoint,
                         server=str(client.base_url), concurrency=2)
        summary = run_batch([str(folder)], out, plan)
        assert summary.ok == 3 and dict(summary.failures) == {"not_a_video": 1}
        records = {Path(r["source"]).name: r for r in read_records(out)}
        assert records["v2.mp4"]["compute"]["snippets_total"] == 5 and records["v2.mp4"]["labels"]
        # Retrying the failure re-submits with the same idempotency key: still one job per video on the server.
        again = run_batch([str(folder)], out, dataclasses.replace(plan, retry_failed=True))
        assert again.already_done == 3 and again.total == 1
        jobs = client.get("/v1/jobs", params={"limit": 50}).json()["jobs"]
        assert len(jobs) == 3  # the non-video was refused at upload (415), the rest submitted once
