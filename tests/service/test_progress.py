"""Progress a person can follow: every stage and heavy chunk is recorded, and a job is never "done" early."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.options import Options
from pipelines.recognizer import Recognizer
from service.handlers import RecognizerHandler
from service.jobs import Job, JobStatus
from service.queue.embedded import EmbeddedQueue
from service.storage import Storage, artifact_key, input_key, result_key
from service.worker import Report, process

from ..helpers import tiny_checkpoint, write_test_video


def _recording(queue: EmbeddedQueue) -> list[tuple[str, float]]:
    calls: list[tuple[str, float]] = []
    real = queue.progress

    def progress(job_id: str, stage: str, fraction: float, *, lease: str | None = None) -> None:
        calls.append((stage, fraction))
        real(job_id, stage, fraction, lease=lease)

    queue.progress = progress  # type: ignore[method-assign]
    return calls


def test_report_records_every_new_stage_and_throttles_repeats(tmp_path: Path) -> None:
    queue = EmbeddedQueue(tmp_path / "jobs.sqlite3", max_queue=10, max_deliveries=2)
    queue.submit(Job.new(owner="a", input={}))
    delivery = queue.claim("w", 0.1)  # running: its progress is recorded
    assert delivery is not None
    job = delivery.job
    calls = _recording(queue)
    report = Report(queue, delivery, every_s=60)
    for stage, fraction in [("probe", 0.0), ("light", 0.05), ("light", 0.06), ("gate", 0.2), ("heavy 1/2", 0.6),
                            ("heavy 1/2", 0.61), ("heavy 2/2", 0.95)]:
        report.progress(stage, fraction)
    assert calls == [("probe", 0.0), ("light", 0.05), ("gate", 0.2), ("heavy 1/2", 0.6), ("heavy 2/2", 0.95)]
    assert queue.get(job.id).progress == {"stage": "heavy 2/2", "fraction": 0.95}  # type: ignore[union-attr]
    queue.close()


def test_a_job_reports_its_stages_and_stores_thumbnails_with_its_outcome(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path / "storage"))
    handler = RecognizerHandler(Recognizer(tiny_checkpoint(tmp_path / "tiny.safetensors"), isolate=False,
                                           heavy_batch=4), storage)
    queue = EmbeddedQueue(tmp_path / "jobs.sqlite3", max_queue=10, max_deliveries=2)
    video = write_test_video(tmp_path / "v.mp4", frames=96, fps=12)
    results: dict[str, Any] = {}
    for mode in ("gated", "dense"):
        job = Job.new(owner="a", input={"filename": "v.mp4", "key": input_key(mode)},
                      options=Options(mode=mode, budget=0.5 if mode == "gated" else None))
        storage.write_bytes(input_key(mode), video.read_bytes())
        queue.submit(job)
        delivery = queue.claim("w", 0.1)
        assert delivery is not None and delivery.job.id == job.id
        calls = _recording(queue)
        assert process(queue, delivery, handler, storage=storage) is JobStatus.SUCCEEDED
        done = queue.get(job.id)
        assert done is not None and done.result is not None
        results[mode] = done.result
        stages = [stage for stage, _ in calls]
        assert stages[0] == "probe" and stages[-2:] == ["thumbnails", "saving"], stages
        assert "done" not in stages and all(f < 1.0 for _, f in calls)
        assert [f for _, f in calls] == sorted(f for _, f in calls)
        heavy = [s for s in stages if s.startswith("heavy ")]
        assert heavy[-1] == f"heavy {len(heavy) - 1}/{len(heavy) - 1}" and len(heavy) >= 2
        if mode == "gated":
            assert stages[1:3] == ["light", "gate"]
        # A thumbnail for every snippet whose centre frame was decoded: all (light pass), or the selected; the
        # worker writes them with the outcome (a worker that lost its lease would write none).
        stored = [i for i in range(12) if storage.exists(artifact_key(job.id, i, "thumbnail"))]
        assert stored == list(range(12)), (mode, stored)
        assert storage.read_json(result_key(job.id)) == done.result
    assert all(s["gate_score"] is None for s in results["dense"]["snippets"])
    queue.close()
