"""The embedded queue (SQLite job store + in-process workers), and storage."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from service.jobs import Job, JobStatus
from service.queue import QueueFull
from service.queue.embedded import EmbeddedQueue
from service.storage import FileTooLarge, Storage
from service.worker import Report, run_worker


def _wait(queue: EmbeddedQueue, job_id: str, timeout: float = 10) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get(job_id)
        if job is not None and job.finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {queue.get(job_id)}")


def _handler(job: Job, report: Report) -> dict[str, Any]:
    for i in range(int(job.input.get("steps", 1))):
        if report.should_cancel():
            from pipelines.errors import Cancelled

            raise Cancelled("cancelled")
        report.progress("work", i / 10)
        time.sleep(0.05)
    if job.input.get("flaky"):
        raise RuntimeError("transient")
    return {"done": job.id}


def test_submit_run_restart_cancel_delete(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    queue = EmbeddedQueue(path, max_queue=10, max_deliveries=2)
    first = queue.submit(Job.new(owner="a", input={"steps": 2}))
    running = queue.submit(Job.new(owner="a", input={"steps": 2}))
    assert queue.claim("w", 0.1) is not None  # `first` is now running... and the process "dies"
    queue.close()

    reader = EmbeddedQueue(path)  # opening the store (vidgate gc, vidgate dead) changes no job
    assert reader.get(first.id).status is JobStatus.RUNNING  # type: ignore[union-attr]
    reader.close()
    queue = EmbeddedQueue(path, max_queue=10, max_deliveries=2)  # restart: nothing lost
    assert queue.recover() == [first.id]  # what the server does at start, before its workers claim
    assert queue.get(first.id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(queue, _handler), kwargs={"stop": stop, "poll_s": 0.1})
    worker.start()
    try:
        for job in (first, running):
            done = _wait(queue, job.id)
            assert done.status is JobStatus.SUCCEEDED and done.result == {"done": job.id}
        slow = queue.submit(Job.new(owner="a", input={"steps": 200}))
        while queue.get(slow.id).status is not JobStatus.RUNNING:  # type: ignore[union-attr]
            time.sleep(0.02)
        assert queue.cancel(slow.id)
        assert _wait(queue, slow.id).status is JobStatus.CANCELLED
        flaky = queue.submit(Job.new(owner="a", input={"flaky": True}))
        failed = _wait(queue, flaky.id)
        assert failed.status is JobStatus.FAILED and failed.error["code"] == "retries_exhausted"  # type: ignore[index]
        assert failed.attempts == 2
    finally:
        stop.set()
        worker.join(5)
    assert queue.delete(first.id) and queue.get(first.id) is None
    assert not queue.cancel(running.id)  # finished jobs cannot be cancelled


def test_idempotency_listing_and_limits(tmp_path: Path) -> None:
    queue = EmbeddedQueue(tmp_path / "jobs.sqlite3", max_queue=3)
    a = queue.submit(Job.new(owner="x", idempotency_key="k1"))
    assert queue.submit(Job.new(owner="x", idempotency_key="k1")).id == a.id
    b = queue.submit(Job.new(owner="y", idempotency_key="k1"))  # other owner: other job
    assert b.id != a.id
    queue.submit(Job.new(owner="x"))
    with pytest.raises(QueueFull):
        queue.submit(Job.new(owner="x"))
    assert queue.cancel(a.id) and queue.get(a.id).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    page, cursor = queue.list(owner="x", limit=1)
    assert len(page) == 1 and cursor is not None
    rest, end = queue.list(owner="x", limit=5, cursor=cursor)
    ids = [j.id for j in page + rest]
    assert end is None and len(ids) == len(set(ids)) == 2 and ids[-1] == a.id  # newest first, no repeats
    assert [j.id for j in queue.list(status=JobStatus.CANCELLED)[0]] == [a.id]
    assert queue.stats()["queued"] == 2 and queue.depth() == 2


def test_storage_streams_with_a_limit_and_refuses_hostile_keys(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path / "store"))
    size, digest = storage.write_stream("jobs/1/input", (b"x" * 1000 for _ in range(5)), 10_000)
    assert size == 5000 and len(digest) == 64 and storage.read_bytes("jobs/1/input") == b"x" * 5000
    consumed = []

    def chunks() -> Any:
        for i in range(100):
            consumed.append(i)
            yield b"y" * 1000

    with pytest.raises(FileTooLarge):
        storage.write_stream("jobs/2/input", chunks(), 3500)
    assert len(consumed) == 4  # stopped as soon as the limit was passed, not after reading everything
    assert not storage.exists("jobs/2/input") and storage.list_prefix("jobs/2") == []
    storage.write_json("jobs/1/result.json", {"a": 1})
    assert storage.read_json("jobs/1/result.json") == {"a": 1}
    with storage.local_path("jobs/1/input") as path:
        assert path.read_bytes() == b"x" * 5000
    for key in ("../etc/passwd", "/etc/passwd", "jobs/../../x", "jobs//x", ""):
        with pytest.raises(ValueError):
            storage.path(key)
    storage.delete_prefix("jobs/1")
    assert not storage.exists("jobs/1/input")
    with pytest.raises(FileNotFoundError):
        storage.read_json("jobs/1/result.json")
