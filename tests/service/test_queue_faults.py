"""Queue faults: stale lease holders, retry caps across restarts, broker loss, cursors, idempotency, retention.

Everything that stops or restarts Redis does it to a private ``redis-server`` (tests/service/redis_server.py);
the rest runs against the shared test Redis under a private key prefix.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from service.jobs import Job, JobStatus
from service.queue import BadCursor, QueueFull
from service.queue.embedded import EmbeddedQueue
from service.queue.redis_streams import GROUP, RedisQueue

from .redis_server import REDIS_URL, RedisServer


def _queue(prefix: str, url: str = REDIS_URL, **kwargs: object) -> RedisQueue:
    values: dict[str, object] = {"lease_s": 0.5, "max_deliveries": 3, **kwargs}
    return RedisQueue(url, prefix=prefix, **values)


# ---- fencing -----------------------------------------------------------------------------------------


@pytest.mark.redis
def test_a_worker_that_lost_its_lease_cannot_write_the_outcome(prefix: str) -> None:
    queue = _queue(prefix)
    job = queue.submit(Job.new())
    stale = queue.claim("a", 0.1)
    assert stale is not None and stale.lease
    time.sleep(0.7)  # past the lease: "a" is frozen
    fresh = queue.claim("b", 0.1)
    assert fresh is not None and fresh.job.id == job.id and fresh.lease != stale.lease
    # The frozen worker wakes up first and tries to record its outcome: refused, and it acks nothing.
    assert not queue.finish(stale, JobStatus.SUCCEEDED, result={"by": "a"})
    queue.progress(job.id, "late", 0.9, lease=stale.lease)
    current = queue.get(job.id)
    assert current is not None and current.status is JobStatus.RUNNING and current.progress["stage"] != "late"
    assert queue.redis.xpending(queue.keys.stream, GROUP)["pending"] == 1  # b's delivery still held
    assert queue.finish(fresh, JobStatus.SUCCEEDED, result={"by": "b"})
    done = queue.get(job.id)
    assert done is not None and done.result == {"by": "b"}
    assert queue.redis.xpending(queue.keys.stream, GROUP)["pending"] == 0


@pytest.mark.redis
@pytest.mark.slow
def test_a_frozen_worker_cannot_overwrite_the_result(prefix: str, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    queue = _queue(prefix, lease_s=1.0)
    frozen = _sleep_worker(REDIS_URL, prefix, "frozen", tmp_path / "frozen.log", storage=storage, lease=1.0)
    survivor = None
    try:
        job = queue.submit(Job.new(input={"sleep": 2.0}))
        while (current := queue.get(job.id)) is None or current.status is not JobStatus.RUNNING:
            time.sleep(0.02)
        frozen.send_signal(signal.SIGSTOP)  # frozen past its lease, mid-job
        survivor = _sleep_worker(REDIS_URL, prefix, "survivor", tmp_path / "survivor.log", storage=storage,
                                 lease=1.0)
        done = _wait(queue, job.id)
        assert done.status is JobStatus.SUCCEEDED and done.result == {"worker": survivor.pid, "job": job.id}
        frozen.send_signal(signal.SIGCONT)  # wakes up and finishes its copy of the job
        deadline = time.monotonic() + 20
        # Either its heartbeat notices first and it stops, or its outcome write is refused.
        while not any(m in (log := (tmp_path / "frozen.log").read_text()) for m in ("not recorded", "stopped:")):
            assert time.monotonic() < deadline, log
            time.sleep(0.1)
        assert f"job {job.id}: succeeded" not in log
        stored = json.loads((storage / "jobs" / job.id / "result.json").read_text())
        assert stored["worker"] == survivor.pid  # the stale worker wrote nothing
        assert queue.get(job.id).result == done.result  # type: ignore[union-attr]
    finally:
        for proc in (frozen, survivor):
            if proc is not None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)


@pytest.mark.redis
def test_heartbeat_of_a_stale_worker_neither_steals_nor_refreshes(prefix: str) -> None:
    queue = _queue(prefix)
    queue.submit(Job.new())
    stale = queue.claim("a", 0.1)
    time.sleep(0.7)
    fresh = queue.claim("b", 0.1)
    assert stale is not None and fresh is not None
    assert not queue.heartbeat(stale)  # tells the stale worker it lost the job
    assert queue.heartbeat(fresh)
    pending = queue.redis.xpending_range(queue.keys.stream, GROUP, min="-", max="+", count=10)
    assert [p["consumer"] for p in pending] == ["b"]


def test_embedded_outcome_is_fenced_too(tmp_path: Path) -> None:
    queue = EmbeddedQueue(tmp_path / "jobs.sqlite3", max_deliveries=3)
    queue.submit(Job.new())
    first = queue.claim("w", 0.1)
    assert first is not None
    queue.release(first, {"code": "worker_error", "message": "x"})  # handed back...
    second = queue.claim("w", 0.1)
    assert second is not None and second.lease != first.lease
    assert not queue.finish(first, JobStatus.SUCCEEDED, result={"by": "first"})  # ...so the old delivery is stale
    assert queue.finish(second, JobStatus.SUCCEEDED, result={"by": "second"})
    assert queue.get(second.job.id).result == {"by": "second"}  # type: ignore[union-attr]


# ---- one retry cap across restarts --------------------------------------------------------------------


def test_embedded_counts_attempts_across_process_deaths(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    queue = EmbeddedQueue(path, max_deliveries=2)
    poison = queue.submit(Job.new(input={"poison": True}))
    behind = queue.submit(Job.new())
    for _ in range(2):  # the poison video kills the process twice
        delivery = queue.claim("w", 0.1)
        assert delivery is not None and delivery.job.id == poison.id
        queue.close()
        queue = EmbeddedQueue(path, max_deliveries=2)
        assert queue.recover() == [poison.id]  # the next server's start
    delivery = queue.claim("w", 0.1)
    assert delivery is not None and delivery.job.id == behind.id  # the job behind it moves on
    failed = queue.get(poison.id)
    assert failed is not None and failed.status is JobStatus.FAILED and failed.attempts == 2
    assert failed.error is not None and failed.error["code"] == "retries_exhausted"


# ---- broker loss ----------------------------------------------------------------------------------------


@pytest.mark.redis
def test_claim_recreates_the_group_after_redis_lost_it(prefix: str) -> None:
    worker, api = _queue(prefix), _queue(prefix)
    api.submit(Job.new())
    assert worker.claim("w", 0.1) is not None
    for key in worker.redis.scan_iter(f"{prefix}*"):  # Redis restarted with nothing
        worker.redis.delete(key)
    job = api.submit(Job.new())  # the API's XADD makes a new stream without the group
    delivery = worker.claim("w", 0.1)
    assert delivery is not None and delivery.job.id == job.id


def _sleep_worker(url: str, prefix: str, name: str, log: Path, *, lease: float = 2.0,
                  storage: Path | None = None) -> subprocess.Popen[bytes]:
    """``vidgate worker`` with the test handler (no model)."""
    env = {**os.environ, "VIDGATE_REDIS_URL": url, "VIDGATE_REDIS_PREFIX": prefix, "VIDGATE_LEASE_S": str(lease),
           "VIDGATE_STORAGE_URL": str(storage or log.parent / "storage"), "VIDGATE_RETENTION_S": "0"}
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--name", name,
         "--handler", "tests.service.handlers:make_sleep_handler"], stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while "worker ready" not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.05)
    return proc


def _wait(queue: RedisQueue, job_id: str, timeout: float = 40.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            job = queue.get(job_id)
        except redis.RedisError:
            job = None
        if job is not None and job.finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {queue.get(job_id)}")


@pytest.mark.redis
@pytest.mark.slow
def test_worker_finishes_its_job_across_a_redis_outage(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", persistent=True) as server:
        queue = _queue("vg:", server.url, lease_s=2.0)
        worker = _sleep_worker(server.url, "vg:", "w", tmp_path / "w.log")
        try:
            job = queue.submit(Job.new(input={"sleep": 2.5}))
            while (current := queue.get(job.id)) is None or current.status is not JobStatus.RUNNING:
                time.sleep(0.05)
            server.restart(after_s=3.0)  # a 3 s outage while the job runs
            assert _wait(queue, job.id).status is JobStatus.SUCCEEDED
            assert worker.poll() is None, (tmp_path / "w.log").read_text()
            after = queue.submit(Job.new(input={"sleep": 0.1}))
            assert _wait(queue, after.id).status is JobStatus.SUCCEEDED
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(20)


@pytest.mark.redis
@pytest.mark.slow
def test_worker_keeps_consuming_after_redis_restarts_empty(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", persistent=False) as server:
        worker = _sleep_worker(server.url, "vg:", "w", tmp_path / "w.log")
        try:
            queue = _queue("vg:", server.url, lease_s=2.0)
            assert _wait(queue, queue.submit(Job.new()).id).status is JobStatus.SUCCEEDED
            server.restart(after_s=0.5)  # comes back with nothing: no stream, no group
            job = queue.submit(Job.new())  # the API's XADD makes a new stream without the group
            assert _wait(queue, job.id, timeout=30).status is JobStatus.SUCCEEDED
            assert worker.poll() is None
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(20)


@pytest.mark.redis
def test_live_workers_are_counted_from_their_heartbeats(prefix: str) -> None:
    queue = _queue(prefix)
    assert queue.live_workers(within_s=1.0) == 0
    queue.worker_beat("w1")
    queue.worker_beat("w2")
    assert queue.live_workers(within_s=1.0) == 2
    time.sleep(1.1)
    queue.worker_beat("w2")
    assert queue.live_workers(within_s=1.0) == 1


# ---- cursors ----------------------------------------------------------------------------------------------


def _pages(queue: RedisQueue | EmbeddedQueue, insert: bool) -> list[str]:
    seen: list[str] = []
    page, cursor = queue.list(owner="o", limit=3)
    seen += [j.id for j in page]
    while cursor is not None:
        if insert:
            queue.submit(Job.new(owner="o"))  # new jobs arrive while a client pages
        page, cursor = queue.list(owner="o", limit=3, cursor=cursor)
        seen += [j.id for j in page]
    return seen


@pytest.mark.redis
def test_redis_cursor_is_stable_under_inserts_and_validated(prefix: str) -> None:
    queue = _queue(prefix, max_queue=100)
    ids = [queue.submit(Job.new(owner="o")).id for _ in range(10)]
    assert _pages(queue, insert=True) == list(reversed(ids))  # every old job once, in order
    for bad in ("abc", "1e3", "-1", "9" * 150, "djE6eA", "0"):
        with pytest.raises(BadCursor):
            queue.list(owner="o", cursor=bad)


def test_embedded_cursor_is_stable_under_inserts_and_validated(tmp_path: Path) -> None:
    queue = EmbeddedQueue(tmp_path / "jobs.sqlite3", max_queue=100)
    ids = [queue.submit(Job.new(owner="o")).id for _ in range(10)]
    assert _pages(queue, insert=True) == list(reversed(ids))
    for bad in ("abc", "1e3", "-1", "9" * 150, "0"):
        with pytest.raises(BadCursor):
            queue.list(owner="o", cursor=bad)


# ---- idempotency -------------------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_idempotency_key_is_released_when_the_submit_is_refused(prefix: str) -> None:
    queue = _queue(prefix, max_queue=1)
    blocker = queue.submit(Job.new())
    with pytest.raises(QueueFull):
        queue.submit(Job.new(owner="o", idempotency_key="k"))
    assert queue.find_idempotent("o", "k") is None
    assert queue.cancel(blocker.id)  # room again
    first = queue.submit(Job.new(owner="o", idempotency_key="k"))
    assert queue.get(first.id) is not None
    assert queue.submit(Job.new(owner="o", idempotency_key="k")).id == first.id


@pytest.mark.redis
def test_concurrent_submits_with_one_key_make_one_job(prefix: str) -> None:
    queues = [_queue(prefix) for _ in range(8)]
    results: list[str] = []
    start = threading.Barrier(len(queues))

    def submit(queue: RedisQueue) -> None:
        start.wait()
        results.append(queue.submit(Job.new(owner="o", idempotency_key="same")).id)

    threads = [threading.Thread(target=submit, args=(q,)) for q in queues]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and queues[0].stats()["queued"] == 1
    assert queues[0].redis.xlen(queues[0].keys.stream) == 1


def test_embedded_idempotency_key_is_free_after_a_refusal(tmp_path: Path) -> None:
    queue = EmbeddedQueue(tmp_path / "jobs.sqlite3", max_queue=1)
    blocker = queue.submit(Job.new())
    with pytest.raises(QueueFull):
        queue.submit(Job.new(owner="o", idempotency_key="k"))
    assert queue.cancel(blocker.id)
    first = queue.submit(Job.new(owner="o", idempotency_key="k"))
    assert queue.submit(Job.new(owner="o", idempotency_key="k")).id == first.id


# ---- retention ---------------------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_stream_is_trimmed_and_dead_consumers_removed(prefix: str) -> None:
    queue = _queue(prefix)
    jobs = [queue.submit(Job.new()) for _ in range(5)]
    for name in ("gone-1", "gone-2"):
        delivery = queue.claim(name, 0.1)
        assert delivery is not None and queue.finish(delivery, JobStatus.SUCCEEDED, result={})
    held = queue.claim("alive", 0.1)  # still pending: must survive the trim
    assert held is not None
    queue.maintain(dead_consumer_s=0.0)
    entries = [e for e, _ in queue.redis.xrange(queue.keys.stream)]
    assert held.token in entries and len(entries) == 3  # the two acknowledged entries are gone
    consumers = {c["name"] for c in queue.redis.xinfo_consumers(queue.keys.stream, GROUP)}
    assert consumers == {"alive"}  # consumers with nothing pending and no heartbeat are removed
    rest = queue.claim("alive", 0.1)
    assert rest is not None and rest.job.id == jobs[3].id  # undelivered entries were kept


@pytest.mark.redis
def test_redis_finished_jobs_expire(prefix: str) -> None:
    queue = _queue(prefix)
    old = queue.submit(Job.new(owner="o", idempotency_key="k"))
    delivery = queue.claim("w", 0.1)
    assert delivery is not None and queue.finish(delivery, JobStatus.SUCCEEDED, result={})
    fresh = queue.submit(Job.new(owner="o"))
    assert queue.expired(before=time.time() - 60) == []
    assert queue.expired(before=time.time() + 1) == [old.id]  # only finished jobs, by finish time
    assert fresh.id not in queue.expired(before=time.time() + 1)


def test_embedded_finished_jobs_expire(tmp_path: Path) -> None:
    queue = EmbeddedQueue(tmp_path / "jobs.sqlite3")
    old = queue.submit(Job.new())
    delivery = queue.claim("w", 0.1)
    assert delivery is not None and queue.finish(delivery, JobStatus.FAILED, error={"code": "x", "message": "y"})
    queue.submit(Job.new())
    assert queue.expired(before=time.time() - 60) == []
    assert queue.expired(before=time.time() + 1) == [old.id]
