"""The Redis Streams queue against the real Redis, with real `python -m service.worker` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from service.jobs import Job, JobStatus
from service.queue import QueueFull
from service.queue.redis_streams import GROUP, RedisQueue

from .redis_server import REDIS_URL

pytestmark = pytest.mark.redis


def _queue(prefix: str, **kwargs: object) -> RedisQueue:
    return RedisQueue(REDIS_URL, prefix=prefix, lease_s=1.0, max_deliveries=2, **kwargs)


def _worker(prefix: str, name: str, **settings: str) -> subprocess.Popen[str]:
    """``vidgate worker`` with the test handler; ``settings`` are extra ``VIDGATE_*`` values (lower-case names)."""
    env = {**os.environ, "VIDGATE_REDIS_URL": REDIS_URL, "VIDGATE_REDIS_PREFIX": prefix, "VIDGATE_LEASE_S": "1",
           "VIDGATE_MAX_DELIVERIES": "2", **{f"VIDGATE_{k.upper()}": v for k, v in settings.items()}}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--name", name,
         "--handler", "tests.service.handlers:make_sleep_handler"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    assert proc.stdout is not None
    seen = [proc.stdout.readline() for _ in range(1)]
    while "worker ready" not in seen[-1]:
        assert seen[-1], f"the worker exited before it was ready: {''.join(seen)}"
        seen.append(proc.stdout.readline())
    return proc


def _until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


def _wait(queue: RedisQueue, job_id: str, timeout: float = 30) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get(job_id)
        if job is not None and job.finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job did not finish: {queue.get(job_id)}")


def _stop(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_two_workers_complete_every_job_exactly_once(prefix: str) -> None:
    queue = _queue(prefix)
    workers = [_worker(prefix, "w1"), _worker(prefix, "w2")]
    try:
        jobs = [queue.submit(Job.new(input={"sleep": 0.3})) for _ in range(6)]
        done = [_wait(queue, j.id) for j in jobs]
    finally:
        _stop(*workers)
    assert all(j.status is JobStatus.SUCCEEDED for j in done)
    assert len({j.result["worker"] for j in done if j.result}) == 2  # both workers took jobs
    client = redis.Redis.from_url(REDIS_URL)
    assert all(int(client.get(f"{prefix}completions:{j.id}") or 0) == 1 for j in jobs)
    assert queue.stats()["succeeded"] == 6 and queue.depth() == 0


def test_killed_worker_job_completes_once_via_the_other(prefix: str) -> None:
    queue = _queue(prefix)
    first = _worker(prefix, "doomed")
    job = queue.submit(Job.new(input={"sleep": 3}))
    deadline = time.monotonic() + 20
    while (current := queue.get(job.id)) is not None and current.status is not JobStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.kill()  # SIGKILL mid-job: no cleanup, the stream entry stays pending
    first.wait()
    second = _worker(prefix, "survivor")
    try:
        done = _wait(queue, job.id)
    finally:
        _stop(second)
    assert done.status is JobStatus.SUCCEEDED and done.result and done.result["worker"] == second.pid
    assert done.attempts == 2
    assert int(redis.Redis.from_url(REDIS_URL).get(f"{prefix}completions:{job.id}") or 0) == 1


def test_poison_job_fails_after_the_cap_and_others_are_unaffected(prefix: str) -> None:
    queue = _queue(prefix)
    poison = queue.submit(Job.new(input={"poison": True}))
    bad = queue.submit(Job.new(input={"bad": True}))
    fine = queue.submit(Job.new(input={"sleep": 0.1}))
    workers: list[subprocess.Popen[str]] = []
    try:
        deadline = time.monotonic() + 60
        while not (job := queue.get(poison.id)) or not job.finished:
            assert time.monotonic() < deadline, queue.get(poison.id)
            workers = [w for w in workers if w.poll() is None]
            if len(workers) < 2:  # the poison kills its worker: keep two alive, like a supervisor would
                workers.append(_worker(prefix, f"w{len(workers)}-{time.monotonic():.0f}"))
            time.sleep(0.2)
        assert _wait(queue, fine.id).status is JobStatus.SUCCEEDED
    finally:
        _stop(*workers)
    failed = queue.get(poison.id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error and failed.error["code"] == "retries_exhausted" and "dead-letter" in failed.error["message"]
    dead: Any = redis.Redis.from_url(REDIS_URL, decode_responses=True).xrange(f"{prefix}dead")
    assert [entry["job"] for _, entry in dead] == [poison.id]
    bad_job = queue.get(bad.id)
    assert bad_job is not None and bad_job.status is JobStatus.FAILED and bad_job.error == {
        "code": "not_a_video", "message": "not a video at all"}
    assert bad_job.attempts == 1  # bad input is not retried


def test_cancel_idempotency_listing_and_limit(prefix: str) -> None:
    queue = _queue(prefix, max_queue=3)
    a = queue.submit(Job.new(owner="o", idempotency_key="same"))
    assert queue.submit(Job.new(owner="o", idempotency_key="same")).id == a.id
    b = queue.submit(Job.new(owner="o"))
    queue.submit(Job.new(owner="p"))
    with pytest.raises(QueueFull):
        queue.submit(Job.new(owner="p"))
    assert queue.cancel(a.id) and queue.get(a.id).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    assert not queue.cancel(a.id)
    page, cursor = queue.list(owner="o", limit=1)
    assert [j.id for j in page] == [b.id] and cursor
    page2, end = queue.list(owner="o", limit=1, cursor=cursor)
    assert [j.id for j in page2] == [a.id] and end is None
    assert [j.id for j in queue.list(owner="o", status=JobStatus.CANCELLED)[0]] == [a.id]
    worker = _worker(prefix, "w")
    try:
        assert _wait(queue, b.id).status is JobStatus.SUCCEEDED
        time.sleep(0.5)
        assert queue.get(a.id).status is JobStatus.CANCELLED  # type: ignore[union-attr] # skipped, not run
    finally:
        _stop(worker)
    assert queue.delete(a.id) and queue.get(a.id) is None


def test_a_status_page_reads_its_own_index_not_every_job(prefix: str) -> None:
    queue = _queue(prefix)
    waiting = queue.submit(Job.new(owner="o"))  # the oldest job, behind 300 newer cancelled ones
    cancelled = [queue.submit(Job.new(owner="o")) for _ in range(300)]
    for job in cancelled:
        assert queue.cancel(job.id)
    other = queue.submit(Job.new(owner="p"))
    assert queue.stats()["queued"] == 2 and queue.stats()["cancelled"] == 300 and queue.depth() == 2

    calls: list[str] = []
    execute = queue.redis.execute_command

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(str(args[0]))
        return execute(*args, **kwargs)

    queue.redis.execute_command = counted
    page, cursor = queue.list(owner="o", status=JobStatus.QUEUED, limit=10)
    assert [j.id for j in page] == [waiting.id] and cursor is None
    assert calls == ["ZREVRANGE", "MGET"], calls  # one range read, one batch read: no scan

    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = queue.list(owner="o", status=JobStatus.CANCELLED, limit=128, cursor=cursor)
        assert all(j.status is JobStatus.CANCELLED for j in page)
        seen += [j.id for j in page]
        if cursor is None:
            break
    assert seen == [j.id for j in reversed(cancelled)]  # newest first, each once
    assert [j.id for j in queue.list(status=JobStatus.QUEUED)[0]] == [other.id, waiting.id]

    assert queue.delete(cancelled[0].id) and queue.stats()["cancelled"] == 299
    assert len(queue.list(owner="o", status=JobStatus.CANCELLED, limit=500)[0]) == 299


def test_a_dead_workers_job_is_reclaimed_behind_25_live_ones(prefix: str) -> None:
    """25 jobs in flight and heartbeating, then a worker holding the newest entry is SIGKILLed: an idle worker
    takes its job over within the lease plus one heartbeat, and no live job moves. (The reclaim comes at most a
    lease and a quarter heartbeat after the kill; a 4 s lease leaves a second for a loaded machine's pauses.)"""
    lease = "4"
    queue = _queue(prefix)
    queue.lease_s = float(lease)
    busy = _worker(prefix, "busy", lease_s=lease, workers="25")  # 25 consumers in one process
    workers = [busy]
    try:
        live = [queue.submit(Job.new(input={"sleep": 120})) for _ in range(25)]
        _until("25 jobs running", lambda: all(queue.get(j.id).status is JobStatus.RUNNING  # type: ignore[union-attr]
                                              for j in live))
        workers.append(doomed := _worker(prefix, "doomed", lease_s=lease))
        target = queue.submit(Job.new(input={"sleep": 120}))
        _until("the doomed worker runs the newest job",
               lambda: queue.get(target.id).status is JobStatus.RUNNING)  # type: ignore[union-attr]
        workers.append(_worker(prefix, "spare", lease_s=lease))  # idle: the one that can take the job over
        pending = queue.redis.xpending_range(queue.keys.stream, GROUP, min="-", max="+", count=100)
        assert len(pending) == 26 and pending[-1]["consumer"] == "doomed"  # behind 25 live entries

        killed_at = time.monotonic()
        doomed.kill()
        doomed.wait()
        _until("the job delivered again", lambda: queue.get(target.id).attempts == 2,  # type: ignore[union-attr]
               timeout=60)
        reclaimed_after = time.monotonic() - killed_at
        assert reclaimed_after <= queue.lease_s + queue.heartbeat_s, reclaimed_after
        pending = queue.redis.xpending_range(queue.keys.stream, GROUP, min="-", max="+", count=100)
        assert pending[-1]["consumer"] == "spare" and pending[-1]["times_delivered"] == 2
        for job in live:  # heartbeating all along: none was taken over
            current = queue.get(job.id)
            assert current is not None and current.status is JobStatus.RUNNING and current.attempts == 1
    finally:
        for job in queue.list(limit=100)[0]:
            queue.cancel(job.id)  # running jobs stop at their next cancel check
        _stop(*workers)
