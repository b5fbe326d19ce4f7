"""Retention: finished jobs expire with their files; `vidgate gc` removes uploads that no job points to."""

from __future__ import annotations

import os
import time
from pathlib import Path

from typer.testing import CliRunner

from service.cli import app
from service.jobs import Job, JobStatus
from service.queue.embedded import EmbeddedQueue
from service.retention import collect, expire
from service.storage import Storage, input_key, result_key


def _finished(queue: EmbeddedQueue, storage: Storage) -> Job:
    job = queue.submit(Job.new())
    storage.write_bytes(input_key(job.id), b"video")
    delivery = queue.claim("w", 0.1)
    assert delivery is not None and delivery.job.id == job.id
    assert queue.finish(delivery, JobStatus.SUCCEEDED, result={"labels": []})
    storage.write_json(result_key(job.id), {"labels": []})
    return job


def _age(storage: Storage, job_id: str, seconds: float) -> None:
    then = time.time() - seconds
    for path in Path(storage.path(f"jobs/{job_id}")).rglob("*"):
        os.utime(path, (then, then))


def test_finished_jobs_expire_with_their_files(tmp_path: Path) -> None:
    queue, storage = EmbeddedQueue(tmp_path / "jobs.sqlite3"), Storage(str(tmp_path / "storage"))
    old = _finished(queue, storage)
    waiting = queue.submit(Job.new())
    storage.write_bytes(input_key(waiting.id), b"video")
    assert expire(queue, storage, retention_s=3600) == 0  # finished a moment ago: kept
    assert expire(queue, storage, retention_s=3600, now=time.time() + 7200) == 1
    assert queue.get(old.id) is None and storage.list_prefix(f"jobs/{old.id}") == []
    assert queue.get(waiting.id) is not None and storage.exists(input_key(waiting.id))  # unfinished: never


def test_gc_removes_orphaned_uploads_only_after_a_grace_period(tmp_path: Path) -> None:
    queue, storage = EmbeddedQueue(tmp_path / "jobs.sqlite3"), Storage(str(tmp_path / "storage"))
    kept = _finished(queue, storage)
    for name, age in (("lost-with-redis", 7200.0), ("upload-in-progress", 5.0)):
        storage.write_bytes(input_key(name), b"video")  # files with no job record
        _age(storage, name, age)
    dry = collect(queue, storage, retention_s=0, grace_s=3600, dry_run=True)
    assert dry.orphans == ["lost-with-redis"] and storage.exists(input_key("lost-with-redis"))
    done = collect(queue, storage, retention_s=0, grace_s=3600)
    assert done.orphans == ["lost-with-redis"] and not storage.exists(input_key("lost-with-redis"))
    assert storage.exists(input_key("upload-in-progress")) and storage.exists(input_key(kept.id))


def test_gc_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    queue, storage = EmbeddedQueue(data / "jobs.sqlite3"), Storage(str(data / "storage"))
    storage.write_bytes(input_key("orphan"), b"video")
    _age(storage, "orphan", 7200.0)
    queue.close()
    env = {"VIDGATE_DATA_DIR": str(data), "VIDGATE_REDIS_URL": ""}
    from service.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["gc"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "orphaned uploads: 1" in result.output and not storage.exists(input_key("orphan"))
