"""Dead letters in both modes: one contract (`JobQueue.dead_letters`, `requeue_dead`, `drop_dead`), and a poison
job dead-lettered, its cause fixed, requeued through `vidgate dead` and through ``/v1/dead``, then succeeding."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.deps import owner_of
from service.config import Settings
from service.jobs import Job, JobStatus
from service.queue import BadCursor, JobQueue, QueueFull
from service.queue.embedded import EmbeddedQueue
from service.queue.redis_streams import RedisQueue
from service.storage import input_key

from ..helpers import tiny_checkpoint, write_test_video
from .api_support import ROOT, env_for
from .redis_server import REDIS_URL

KEY, OTHER_KEY = "dead-letter-key", "another-key"
OWNER = owner_of(KEY)
HANDLER = "tests.service.handlers:make_sleep_handler"


@pytest.fixture(params=["embedded", "redis"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobQueue]:
    limits: dict[str, Any] = {"max_deliveries": 2, "lease_s": 0.2}
    if request.param == "embedded":
        opened: JobQueue = EmbeddedQueue(tmp_path / "jobs.sqlite3", **limits)
    else:
        opened = RedisQueue(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"), **limits)
    yield opened
    opened.close()


def _exhaust(queue: JobQueue, job: Job) -> None:
    """Submit ``job`` and hand it out, failing each delivery, until it is a dead letter (one job at a time)."""
    queue.submit(job)
    deadline = time.monotonic() + 20
    while (current := queue.get(job.id)) is not None and current.status is not JobStatus.FAILED:
        assert time.monotonic() < deadline, current
        delivery = queue.claim("w", 0.05)
        if delivery is not None:
            assert delivery.job.id == job.id
            queue.release(delivery, {"code": "worker_error", "message": "RuntimeError: boom"})


def test_one_contract_list_requeue_drop(queue: JobQueue) -> None:
    dead = [Job.new(owner="o") for _ in range(3)]
    other = Job.new(owner="p")
    for job in [*dead, other]:
        _exhaust(queue, job)

    page, cursor = queue.dead_letters(limit=2)
    assert [d.job.id for d in page] == [dead[0].id, dead[1].id] and cursor is not None  # oldest first
    rest, end = queue.dead_letters(limit=2, cursor=cursor)
    assert [d.job.id for d in rest] == [dead[2].id, other.id] and end is None
    assert [d.job.id for d in queue.dead_letters(owner="p")[0]] == [other.id]
    for letter in page + rest:
        assert letter.since.endswith("Z") and letter.job.status is JobStatus.FAILED and letter.job.attempts == 2
        assert letter.job.error is not None and letter.job.error["code"] == "retries_exhausted"
    with pytest.raises(BadCursor):
        queue.dead_letters(cursor="not-a-cursor")

    assert queue.requeue_dead(other.id, owner="o") is None  # another owner's: not found, nothing changes
    requeued = queue.requeue_dead(dead[0].id)
    assert requeued is not None and requeued.status is JobStatus.QUEUED and requeued.attempts == 0
    assert requeued.error is None and requeued.finished_at is None
    assert [(h["attempts"], h["error"]["code"]) for h in requeued.history] == [(2, "retries_exhausted")]
    assert queue.requeue_dead(dead[0].id) is None  # not a dead letter any more
    stored = queue.get(dead[0].id)
    assert stored is not None and stored.status is JobStatus.QUEUED and stored.history == requeued.history
    assert dead[0].id not in queue.expired(before=time.time() + 60)  # no longer a finished job
    delivery = queue.claim("w", 1.0)
    assert delivery is not None and delivery.job.id == dead[0].id
    assert delivery.deliveries == 1 and delivery.job.attempts == 1  # the delivery count started over
    assert queue.finish(delivery, JobStatus.SUCCEEDED, result={"ok": True})

    assert queue.drop_dead(dead[1].id) and not queue.drop_dead(dead[1].id)
    kept = queue.get(dead[1].id)  # the record stays, failed
    assert kept is not None and kept.status is JobStatus.FAILED and kept.error["code"] == "retries_exhausted"  # type: ignore[index]
    assert [d.job.id for d in queue.dead_letters()[0]] == [dead[2].id, other.id]

    queue.max_queue = 0
    with pytest.raises(QueueFull):
        queue.requeue_dead(dead[2].id)
    queue.max_queue = 100
    assert [d.job.id for d in queue.dead_letters()[0]] == [dead[2].id, other.id]  # the refusal changed nothing

    assert queue.delete(other.id)  # a deleted job is no dead letter any more
    queue.maintain()
    assert [d.job.id for d in queue.dead_letters()[0]] == [dead[2].id]
    assert not queue.drop_dead(other.id)


# ---- real processes ----------------------------------------------------------------------------------------


def _vidgate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


def _until(what: str, check: Callable[[], bool], timeout: float = 60.0,
           tick: Callable[[], None] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        if tick is not None:
            tick()
        time.sleep(0.05)


def _status(queue: JobQueue, job_id: str) -> JobStatus | None:
    job = queue.get(job_id)
    return job.status if job is not None else None


def _check_api_auth(client: TestClient, job_id: str) -> None:
    assert client.get("/v1/dead").status_code == 401
    assert client.get("/v1/dead", headers={"X-API-Key": OTHER_KEY}).json()["dead_letters"] == []
    for method, path in (("POST", f"/v1/dead/{job_id}/requeue"), ("DELETE", f"/v1/dead/{job_id}")):
        r = client.request(method, path, headers={"X-API-Key": OTHER_KEY})  # another key's job: not found
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text


def _requeue_through_the_api(client: TestClient, job_id: str) -> None:
    mine = {"X-API-Key": KEY}
    listed = client.get("/v1/dead", headers=mine).json()["dead_letters"]
    assert job_id in [d["job"]["id"] for d in listed]
    r = client.post(f"/v1/dead/{job_id}/requeue", headers=mine)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/jobs/{job_id}" and r.json()["status"] in ("queued", "running", "succeeded")
    again = client.post(f"/v1/dead/{job_id}/requeue", headers=mine)  # no longer a dead letter
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found", again.text


def _succeeded_with_history(client: TestClient, job_id: str) -> dict[str, Any]:
    _until(f"job {job_id} succeeds", lambda: client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": KEY})
           .json()["status"] in ("succeeded", "failed"))
    body: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": KEY}).json()
    assert body["status"] == "succeeded", body
    assert body["attempts"] == 1 and len(body["history"]) == 1, body  # the earlier round, kept
    earlier = body["history"][0]
    assert earlier["attempts"] == 2 and earlier["error"]["code"] == "retries_exhausted" and earlier["requeued_at"]
    return body


@pytest.mark.redis
def test_redis_poison_job_requeued_through_the_cli_and_the_api(redis_prefix: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=REDIS_URL, redis_prefix=redis_prefix, lease_s=1.0, max_deliveries=2,
                        data_dir=tmp_path / "data", storage_url=str(tmp_path / "storage"), api_keys=[KEY, OTHER_KEY],
                        retention_s=0)
    env = env_for(settings)
    queue = RedisQueue(REDIS_URL, prefix=redis_prefix, lease_s=1.0, max_deliveries=2)
    poison = queue.submit(Job.new(owner=OWNER, input={"poison_until": str(tmp_path / "poison-fixed")}))
    failing = queue.submit(Job.new(owner=OWNER, input={"fail_until": str(tmp_path / "failing-fixed")}))
    doomed = queue.submit(Job.new(owner=OWNER, input={"fail_until": str(tmp_path / "never")}))
    workers: list[subprocess.Popen[bytes]] = []

    def supervise() -> None:  # the poison kills its worker: keep one alive, as a supervisor would
        if not any(w.poll() is None for w in workers):
            command = [sys.executable, "-m", "service.cli", "worker", "--handler", HANDLER]
            with (tmp_path / f"worker-{len(workers)}.log").open("wb") as log:
                workers.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))

    try:
        supervise()
        _until("three dead letters", lambda: all(_status(queue, j.id) is JobStatus.FAILED
                                                   for j in (poison, failing, doomed)), tick=supervise)
        assert sum(w.poll() is not None for w in workers) >= 2  # the poison took its worker down each time

        listed = _vidgate(env, "dead", "list")
        assert listed.returncode == 0, listed.stderr
        assert [line.split()[0] for line in listed.stdout.splitlines()] == [poison.id, failing.id, doomed.id]
        assert "3 dead letter(s)" in listed.stderr
        (tmp_path / "poison-fixed").touch()  # the cause is fixed
        requeued = _vidgate(env, "dead", "requeue", poison.id)
        assert requeued.returncode == 0 and f"requeued {poison.id}" in requeued.stdout, requeued.stderr
        _until("the requeued poison job runs to the end", lambda: _status(queue, poison.id) is JobStatus.SUCCEEDED,
               tick=supervise)

        with TestClient(create_app(settings)) as client:
            _succeeded_with_history(client, poison.id)
            _check_api_auth(client, failing.id)
            (tmp_path / "failing-fixed").touch()
            _requeue_through_the_api(client, failing.id)
            _succeeded_with_history(client, failing.id)
            assert client.delete(f"/v1/dead/{doomed.id}", headers={"X-API-Key": KEY}).status_code == 204
            assert client.get("/v1/dead", headers={"X-API-Key": KEY}).json()["dead_letters"] == []
            kept = client.get(f"/v1/jobs/{doomed.id}", headers={"X-API-Key": KEY}).json()
            assert kept["status"] == "failed" and kept["error"]["code"] == "retries_exhausted"
        again = _vidgate(env, "dead", "drop", doomed.id)
        assert again.returncode == 1 and f"error: {doomed.id}: not a dead letter" in again.stderr
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(20)
        queue.close()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dead-files")
    return tiny_checkpoint(root / "tiny.safetensors"), write_test_video(root / "clip.mp4", frames=48, fps=12)


def test_embedded_job_requeued_through_the_cli_and_the_api(video: tuple[Path, Path], tmp_path: Path) -> None:
    """The cause: a job's stored upload is missing (say, a storage mount was down), so every delivery fails
    until the file is back."""
    checkpoint, clip = video
    settings = Settings(data_dir=tmp_path / "data", checkpoint=checkpoint, device="cpu", threads=1, workers=1,
                        max_deliveries=2, api_keys=[KEY, OTHER_KEY], redis_url=None, retention_s=0)
    env = env_for(settings)
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        queue, storage = services.queue, services.storage
        jobs = [Job.new(owner=OWNER) for _ in range(3)]
        for job in jobs:
            job.input = {"key": input_key(job.id), "filename": "clip.mp4", "size": clip.stat().st_size}
            queue.submit(job)
        _until("three dead letters", lambda: all(_status(queue, j.id) is JobStatus.FAILED for j in jobs))
        by_cli, by_api, dropped = (j.id for j in jobs)

        listed = _vidgate(env, "dead", "list")
        assert listed.returncode == 0, listed.stderr
        assert [line.split()[0] for line in listed.stdout.splitlines()] == [by_cli, by_api, dropped]
        assert "2 attempts" in listed.stdout and "FileNotFoundError" in listed.stdout
        storage.write_bytes(input_key(by_cli), clip.read_bytes())  # the cause is fixed
        requeued = _vidgate(env, "dead", "requeue", by_cli)
        assert requeued.returncode == 0, requeued.stderr
        _succeeded_with_history(client, by_cli)

        _check_api_auth(client, by_api)
        storage.write_bytes(input_key(by_api), clip.read_bytes())
        _requeue_through_the_api(client, by_api)
        _succeeded_with_history(client, by_api)

        assert _vidgate(env, "dead", "drop", dropped).returncode == 0
        assert client.get("/v1/dead", headers={"X-API-Key": KEY}).json()["dead_letters"] == []
        kept = client.get(f"/v1/jobs/{dropped}", headers={"X-API-Key": KEY}).json()
        assert kept["status"] == "failed" and kept["error"]["code"] == "retries_exhausted"
        again = _vidgate(env, "dead", "requeue", dropped)
        assert again.returncode == 1 and f"error: {dropped}: not a dead letter" in again.stderr
