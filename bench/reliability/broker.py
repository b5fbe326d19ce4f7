"""Redis goes away while jobs run: outages of a few seconds, and restarts with and without persistence.

Each case submits jobs, waits until some run, takes the private ``redis-server`` down (SIGKILL), brings it
back on the same port (after the outage, or at once), and counts what finished, what was lost, and which
workers are still alive and consuming.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from .harness import Bench, Server, Workers, private_redis, run, settle, submit, tally

SLOW = {"VIDGATE_TEST_SLOW_S": "1.0"}


def _case(bench: Bench, server: Server, workers: Workers, redis: Any, label: str, downtime: float,
          jobs: int) -> dict[str, Any]:
    ids = [submit(server.client, bench.files.slow if i % 2 == 0 else bench.files.good) for i in range(jobs)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # take Redis down while a job runs
        running = server.client.get("/v1/jobs", params={"status": "running"}).json()["jobs"]
        if running:
            break
        time.sleep(0.1)
    redis.restart(after_s=downtime)
    state = settle(server.client, ids, 240)
    figures = tally(ids, state, workers.logs())
    alive = workers.alive()
    try:  # still consuming: a job submitted after the outage completes
        after = submit(server.client, bench.files.good)
        consuming = (settle(server.client, [after], 120).get(after) or {}).get("status") == "succeeded"
    except (httpx.HTTPError, RuntimeError):
        consuming = False
    return {"case": label, "downtime_s": downtime, **figures, "workers_alive": f"{len(alive)}/{len(workers.procs)}",
            "consuming_after": consuming}


def outages(bench: Bench) -> list[dict[str, Any]]:
    """Outages of 2 s and 10 s and a restart, with persistence (AOF, fsync always); a restart without."""
    jobs = 4 if bench.quick else 8
    cases = [("outage 2 s", 2.0)] if bench.quick else [("outage 2 s", 2.0), ("outage 10 s", 10.0),
                                                         ("restart", 0.0)]
    rows = []
    with _service(bench, "broker-aof", persistent=True) as (redis, server, workers):
        for label, downtime in cases:
            rows.append({"persistence": "AOF", **_case(bench, server, workers, redis, label, downtime, jobs)})
    if bench.quick:
        return rows
    with _service(bench, "broker-none", persistent=False) as (redis, server, workers):
        row = _case(bench, server, workers, redis, "restart", 0.0, jobs)
        gc = run([sys.executable, "-m", "service.cli", "gc", "--grace", "0"], server.env)
        row["orphaned_uploads_collected"] = _orphans(gc.stdout)
        rows.append({"persistence": "none", **row})
    return rows


@contextmanager
def _service(bench: Bench, name: str, *, persistent: bool) -> Iterator[tuple[Any, Server, Workers]]:
    """A private redis-server (with or without AOF), an API server and two workers on it."""
    folder = bench.folder(name)
    with private_redis(folder / "redis", persistent=persistent) as redis:
        settings = bench.settings(name, redis_url=redis.url, redis_prefix="vg:")
        server = Server(settings, folder, SLOW).start(ready=False)
        workers = Workers(settings, folder, SLOW)
        try:
            workers.start(2)
            yield redis, server, workers
        finally:
            workers.stop()
            server.stop()


def _orphans(text: str) -> int:
    for line in text.splitlines():
        if line.startswith("orphaned uploads:"):
            return int(line.split(":")[1])
    return -1
