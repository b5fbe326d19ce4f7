"""Processes that die or freeze: workers SIGKILLed mid-job (also one among many jobs in flight), a video that
kills its worker, a worker frozen past its lease.
Redis mode runs `vidgate worker` processes against a private ``redis-server``; embedded mode
kills and restarts `vidgate serve` itself."""

from __future__ import annotations

import json
import random
import re
import signal
import statistics
import threading
import time
from typing import Any

import httpx

from service.jobs import Job, JobStatus
from service.queue.redis_streams import RedisQueue

from .harness import Bench, Server, Workers, job, private_redis, settle, submit, tally

SLOW = {"VIDGATE_TEST_SLOW_S": "1.5"}  # each decoder request on the slow video takes 1.5 s: jobs last seconds
# The kills land on whatever job a worker holds, so one job can be hit several times; a cap of 10 keeps the
# retry cap (measured by the poison scenarios) out of these figures.
KILL_CAP = 10
STARTED = re.compile(r"job (\S+): started \(delivery (\d+)")


def _held_by(log: str) -> str | None:
    """The job a worker was running when its log ends (started, no outcome after)."""
    started = STARTED.findall(log)
    if not started:
        return None
    job_id = started[-1][0]
    tail = log[log.rindex(f"job {job_id}: started") :]
    return None if re.search(rf"job {re.escape(job_id)}: (succeeded|failed|cancelled|queued)", tail) else job_id


def _watch_reclaim(client: httpx.Client, job_id: str, attempts: int, killed_at: float, out: list[float],
                   timeout: float = 120.0) -> None:
    """Record how long after ``killed_at`` the job ran again (a new delivery) or finished elsewhere."""
    while time.monotonic() - killed_at < timeout:
        try:
            current = job(client, job_id)
        except httpx.HTTPError:
            current = None
        if current is not None and (current["attempts"] > attempts or current["status"] in ("succeeded", "failed")):
            out.append(time.monotonic() - killed_at)
            return
        time.sleep(0.1)


def sigkill_redis(bench: Bench) -> dict[str, Any]:
    """N jobs, W workers, a worker SIGKILLed every few seconds while it holds a job; a supervisor restarts it."""
    jobs, kills, size = (6, 2, 2) if bench.quick else (30, 10, 3)
    folder = bench.folder("sigkill-redis")
    with private_redis(folder / "redis", persistent=True) as redis:
        settings = bench.settings("sigkill-redis", redis_url=redis.url, redis_prefix="vg:",
                                  max_deliveries=KILL_CAP)
        server = Server(settings, folder, SLOW).start(ready=False)
        workers = Workers(settings, folder, SLOW)
        try:
            workers.start(size)
            ids = [submit(server.client, bench.files.slow if i % 2 == 0 else bench.files.good) for i in range(jobs)]
            reclaims: list[float] = []
            watchers = []
            done_kills = 0
            deadline = time.monotonic() + 300
            while done_kills < kills and time.monotonic() < deadline:
                time.sleep(random.uniform(1.0, 2.5))
                holders = [(n, h) for n in workers.alive() if (h := _held_by(workers.procs[n].output()))]
                if not holders:
                    if all((job(server.client, i) or {}).get("status") in ("succeeded", "failed") for i in ids):
                        # Everything finished before all kills happened: more work to kill workers in.
                        ids += [submit(server.client, bench.files.slow) for _ in range(size * 2)]
                    continue
                name, held = random.choice(holders)
                attempts = (job(server.client, held) or {}).get("attempts", 0)
                workers.kill(name)
                killed_at = time.monotonic()
                done_kills += 1
                watcher = threading.Thread(target=_watch_reclaim,
                                           args=(server.client, held, attempts, killed_at, reclaims), daemon=True)
                watcher.start()
                watchers.append(watcher)
                workers.keep(size)
            state = settle(server.client, ids, 300, tick=lambda: workers.keep(size))
            for watcher in watchers:
                watcher.join(30)
            figures = tally(ids, state, workers.logs())
        finally:
            workers.stop()
            server.stop()
    return {**figures, "workers": size, "kills": done_kills, "lease_s": settings.lease_s, "cap": KILL_CAP,
            "reclaim_s": _spread(reclaims)}


def reclaim_at_scale(bench: Bench) -> dict[str, Any]:
    """Many jobs in flight and heartbeating; a worker holding the newest one is SIGKILLed, again and again.

    Each round starts a worker, gives it the newest job (every other consumer is busy), starts an idle spare
    and kills the first: the time until the job is delivered again is the reclaim time, to be compared with
    the lease plus one heartbeat. The spare keeps the job, so one more job is in flight each round.
    """
    in_flight, kills = (25, 3) if bench.quick else (50, 10)
    folder = bench.folder("reclaim-at-scale")
    handler = "tests.service.handlers:make_sleep_handler"
    with private_redis(folder / "redis", persistent=False) as redis:
        settings = bench.settings("reclaim-at-scale", redis_url=redis.url, redis_prefix="vg:")
        busy = Workers(settings.model_copy(update={"workers": in_flight}), bench.folder("reclaim-at-scale/busy"),
                       handler=handler)
        singles = Workers(settings, bench.folder("reclaim-at-scale/single"), handler=handler)
        queue = RedisQueue(redis.url, prefix="vg:", lease_s=settings.lease_s)
        reclaims: list[float] = []
        try:
            busy.start(1)  # ``in_flight`` consumers in one process
            attempts = {queue.submit(Job.new(input={"sleep": 3600})).id: 1 for _ in range(in_flight)}
            for job_id in attempts:
                _until_delivered(queue, job_id, 1)
            for _ in range(kills):
                doomed = singles.start(1)[0]
                held = queue.submit(Job.new(input={"sleep": 3600})).id
                _until_delivered(queue, held, 1)  # the one idle consumer took it
                singles.start(1)  # the spare, idle
                killed_at = time.monotonic()
                singles.kill(doomed)
                _until_delivered(queue, held, 2)
                reclaims.append(time.monotonic() - killed_at)
                attempts[held] = 2  # running on the spare now
            moved = sum(1 for i, n in attempts.items() if _attempts(queue, i) != n)
        finally:
            for running in queue.list(limit=500)[0]:
                queue.cancel(running.id)  # each stops at its next cancel check
            singles.stop()
            busy.stop()
            queue.close()
    bound = settings.lease_s + queue.heartbeat_s
    return {"in_flight": in_flight, "kills": len(reclaims), "lease_s": settings.lease_s,
            "heartbeat_s": round(queue.heartbeat_s, 2), "bound_s": round(bound, 2),
            "within_bound": sum(1 for r in reclaims if r <= bound), "reclaim_s": _spread(reclaims, digits=2),
            "other_jobs_moved": moved}


def _attempts(queue: RedisQueue, job_id: str) -> int:
    job = queue.get(job_id)
    return job.attempts if job is not None else -1


def _until_delivered(queue: RedisQueue, job_id: str, attempts: int, timeout: float = 120.0) -> None:
    """Wait until the job is running on its ``attempts``-th delivery (or later)."""
    deadline = time.monotonic() + timeout
    while (job := queue.get(job_id)) is None or job.status is not JobStatus.RUNNING or job.attempts < attempts:
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} not running its delivery {attempts} within {timeout} s: {job}")
        time.sleep(0.02)


def sigkill_embedded(bench: Bench) -> dict[str, Any]:
    """`vidgate serve` (SQLite, in-process workers) SIGKILLed mid-job, then started again, several times."""
    jobs, kills = (4, 1) if bench.quick else (15, 5)
    folder = bench.folder("sigkill-embedded")
    settings = bench.settings("sigkill-embedded", workers=1, max_deliveries=KILL_CAP)
    server = Server(settings, folder, SLOW).start()
    try:
        ids = [submit(server.client, bench.files.slow if i % 2 == 0 else bench.files.good) for i in range(jobs)]
        reclaims: list[float] = []
        done_kills = 0
        deadline = time.monotonic() + 300
        while done_kills < kills and time.monotonic() < deadline:
            running = server.client.get("/v1/jobs", params={"status": "running"}).json()["jobs"]
            if not running:
                time.sleep(0.2)
                continue
            held = running[0]
            server.kill()
            killed_at = time.monotonic()
            done_kills += 1
            server.start()
            _watch_reclaim(server.client, held["id"], held["attempts"], killed_at, reclaims)
        state = settle(server.client, ids, 300)
        figures = tally(ids, state, server.logs())
    finally:
        server.stop()
    return {**figures, "kills": done_kills, "reclaim_s": _spread(reclaims), "cap": KILL_CAP,
            "note": "reclaim time includes restarting the process (model load)"}


def poison_redis(bench: Bench) -> dict[str, Any]:
    """A video whose decoding kills the worker process: handed out until the cap, then retries_exhausted."""
    folder = bench.folder("poison-redis")
    with private_redis(folder / "redis", persistent=True) as redis:
        settings = bench.settings("poison-redis", redis_url=redis.url, redis_prefix="vg:", max_deliveries=3)
        server = Server(settings, folder).start(ready=False)
        workers = Workers(settings, folder)
        try:
            workers.start(2)
            start = time.monotonic()
            poison = submit(server.client, bench.files.killer)
            behind = [submit(server.client, bench.files.good) for _ in range(3)]
            state = settle(server.client, [poison, *behind], 300, tick=lambda: workers.keep(2))
            elapsed = time.monotonic() - start
            dead = [entry["job"] for _, entry in RedisQueue(redis.url, prefix="vg:").redis.xrange("vg:dead")]
            deaths = sum(1 for p in workers.procs.values() if p.proc.poll() is not None)
        finally:
            workers.stop()
            server.stop()
    return _poison_figures(state, poison, behind, settings.max_deliveries, deaths, elapsed,
                           {"dead_letter": poison in dead})


def poison_embedded(bench: Bench) -> dict[str, Any]:
    """The same video in embedded mode: it kills `vidgate serve`; attempts count across restarts."""
    folder = bench.folder("poison-embedded")
    settings = bench.settings("poison-embedded", workers=1, max_deliveries=3)
    server = Server(settings, folder, {"VIDGATE_TEST_SLOW_S": "3"}).start()
    deaths = 0
    try:
        start = time.monotonic()
        busy = submit(server.client, bench.files.slow)  # holds the one worker while the others queue up
        poison = submit(server.client, bench.files.killer)
        behind = [submit(server.client, bench.files.good) for _ in range(2)]
        if (job(server.client, busy) or {}).get("status") != "running":
            raise RuntimeError("the slow job finished before the queue behind it was built")

        def supervise() -> None:
            nonlocal deaths
            if not server.alive():
                deaths += 1
                try:
                    server.start()
                except RuntimeError:
                    if server.alive():
                        raise
                    # it took the poison job up again and died before it answered: the next tick counts it

        state = settle(server.client, [poison, *behind], 300, tick=supervise)
        elapsed = time.monotonic() - start
    finally:
        server.stop()
    return _poison_figures(state, poison, behind, settings.max_deliveries, deaths, elapsed, {})


def _poison_figures(state: dict[str, Any], poison: str, behind: list[str], cap: int, deaths: int, elapsed: float,
                    extra: dict[str, Any]) -> dict[str, Any]:
    final = state.get(poison) or {}
    return {"cap": cap, "status": final.get("status"), "code": (final.get("error") or {}).get("code"),
            "attempts": final.get("attempts"), "worker_deaths": deaths, "seconds": round(elapsed, 1),
            "behind_succeeded": sum(1 for i in behind if (state.get(i) or {}).get("status") == "succeeded"),
            "behind": len(behind), **extra}


def frozen(bench: Bench) -> dict[str, Any]:
    """A worker SIGSTOPped mid-job past its lease; another finishes the job; the frozen one resumes."""
    folder = bench.folder("frozen")
    with private_redis(folder / "redis", persistent=False) as redis:
        settings = bench.settings("frozen", redis_url=redis.url, redis_prefix="vg:", lease_s=1.0)
        workers = Workers(settings, folder, handler="tests.service.handlers:make_sleep_handler")
        queue = RedisQueue(redis.url, prefix="vg:", lease_s=1.0)
        try:
            first = workers.start(1)[0]
            submitted = queue.submit(Job.new(input={"sleep": 3.0}))
            while (current := queue.get(submitted.id)) is None or current.status is not JobStatus.RUNNING:
                time.sleep(0.02)
            workers.signal(first, signal.SIGSTOP)
            stopped_at = time.monotonic()
            second = workers.start(1)[0]
            while not (current := queue.get(submitted.id)) or not current.finished:
                time.sleep(0.05)
            frozen_for = time.monotonic() - stopped_at
            workers.signal(first, signal.SIGCONT)
            log = workers.procs[first]
            deadline = time.monotonic() + 30
            while not re.search(r"not recorded|stopped: another worker", log.output()) and time.monotonic() < deadline:
                time.sleep(0.1)
            text = log.output()
            stored = json.loads((folder / "storage" / "jobs" / submitted.id / "result.json").read_text())
        finally:
            workers.stop()
            queue.close()
    refused = "not recorded" in text or "stopped: another worker" in text
    how = "its heartbeat saw the lease gone and it stopped" if "stopped: another worker" in text else \
        "its outcome write was refused (lease check)" if "not recorded" in text else "—"
    return {"lease_s": 1.0, "frozen_s": round(frozen_for, 1), "stale_write_refused": refused, "how": how,
            "result_written_by_survivor": stored.get("worker") == workers.pid(second),
            "recorded_by": (current.result or {}).get("worker") == workers.pid(second)}


def _spread(values: list[float], digits: int = 1) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}
