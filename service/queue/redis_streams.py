"""Redis mode: Redis Streams consumer groups, used directly (see docs/adr-001-queue.md).

* ``XADD`` puts a job id on the stream; workers read with ``XREADGROUP`` — an entry delivered but not
  acknowledged stays in the group's pending list, so a job is never lost (at-least-once delivery).
* While a job runs, a heartbeat re-claims its entry (``XCLAIM ... JUSTID``), resetting its idle time.
* Every worker runs ``XAUTOCLAIM`` for entries idle longer than the lease: a dead worker's jobs go to a
  live one. The delivery counter of the entry caps retries; past the cap the job fails with the reason
  and the entry moves to the dead-letter stream.
* A job's outcome is written with a check-and-set (``WATCH``/``MULTI``): a second completion of the
  same job (a slow worker whose lease was taken over) changes nothing.
* Listing reads sorted-set indexes by creation time — all jobs, per owner, per status, per owner and
  status — kept in the same transaction as the job, so a filtered page costs one range read and one
  ``MGET`` however many jobs of other statuses there are.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import redis

from ..jobs import FINISHED, Job, JobStatus, now
from .base import Delivery, JobQueue, check_size

GROUP = "workers"


class Keys:
    """Every Redis key vidgate uses, in one place."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.stream = f"{prefix}stream"
        self.dead = f"{prefix}dead"
        self.all = f"{prefix}jobs"  # sorted set: job id by creation time

    def job(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def owner(self, owner: str) -> str:
        return f"{self.prefix}owner:{owner}"

    def status(self, status: JobStatus, owner: str | None = None) -> str:
        """Sorted set of job ids by creation time: every job in ``status``, or only ``owner``'s."""
        if owner is None:
            return f"{self.prefix}by-status:{status.value}"
        return f"{self.prefix}owner-status:{status.value}:{owner}"  # status values hold no ':'

    def idempotency(self, owner: str, key: str) -> str:
        return f"{self.prefix}idem:{owner}:{key}"


class RedisQueue(JobQueue):
    def __init__(self, url: str, *, prefix: str = "vidgate:", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redis: Any = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5)
        self.keys = Keys(prefix)
        self._group_ready = False

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.redis.xgroup_create(self.keys.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _load(self, job_id: str) -> Job | None:
        raw = self.redis.get(self.keys.job(job_id))
        return Job.from_dict(json.loads(raw)) if raw else None

    def _write(self, pipe: Any, job: Job, previous: JobStatus | None, score: float) -> None:
        pipe.set(self.keys.job(job.id), json.dumps(job.to_dict()))
        if previous is not None and previous is not job.status:
            pipe.zrem(self.keys.status(previous), job.id)
            pipe.zrem(self.keys.status(previous, job.owner), job.id)
        created = {job.id: score}
        pipe.zadd(self.keys.status(job.status), created)
        pipe.zadd(self.keys.status(job.status, job.owner), created)

    def _update(self, job_id: str, change: Any) -> Job | None:
        """Read-modify-write one job atomically; ``change(job)`` returns False to leave it alone."""
        key = self.keys.job(job_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if not raw:
                        pipe.reset()
                        return None
                    job = Job.from_dict(json.loads(raw))
                    previous = job.status
                    score = pipe.zscore(self.keys.all, job_id)  # its place in every listing index
                    if change(job) is False:
                        pipe.reset()
                        return None
                    pipe.multi()
                    self._write(pipe, job, previous, _score(job) if score is None else float(score))
                    pipe.execute()
                    return job
                except redis.WatchError:
                    continue

    # ---- API side
    def submit(self, job: Job) -> Job:
        self._ensure_group()
        if job.idempotency_key:
            claimed = self.redis.set(self.keys.idempotency(job.owner, job.idempotency_key), job.id, nx=True)
            if not claimed:
                existing = self.find_idempotent(job.owner, job.idempotency_key)
                if existing is not None:
                    return existing
        check_size(self)
        score = time.time()
        created = {job.id: score}
        with self.redis.pipeline() as pipe:
            self._write(pipe, job, None, score)
            pipe.zadd(self.keys.all, created)
            pipe.zadd(self.keys.owner(job.owner), created)
            pipe.xadd(self.keys.stream, {"job": job.id})
            pipe.execute()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._load(job_id)

    def find_idempotent(self, owner: str, key: str) -> Job | None:
        job_id = self.redis.get(self.keys.idempotency(owner, key))
        return self._load(job_id) if job_id else None

    def list(self, *, owner: str | None = None, status: JobStatus | None = None, limit: int = 50,
             cursor: str | None = None) -> tuple[list[Job], str | None]:
        if status is not None:
            index = self.keys.status(status, owner)
        else:
            index = self.keys.all if owner is None else self.keys.owner(owner)
        start = int(cursor or 0)
        ids = self.redis.zrevrange(index, start, start + limit - 1)
        raws = self.redis.mget([self.keys.job(i) for i in ids]) if ids else []
        page = [Job.from_dict(json.loads(raw)) for raw in raws if raw]  # a job deleted meanwhile is skipped
        if status is not None:
            page = [job for job in page if job.status is status]  # changed between the two reads
        position = start + len(ids)
        more = len(ids) == limit and self.redis.zcard(index) > position
        return page, (str(position) if more else None)

    def cancel(self, job_id: str) -> bool:
        def change(job: Job) -> bool:
            if job.finished:
                return False
            if job.status is JobStatus.QUEUED:
                job.status, job.finished_at = JobStatus.CANCELLED, now()
            job.cancel_requested = True
            return True

        return self._update(job_id, change) is not None

    def delete(self, job_id: str) -> bool:
        job = self._load(job_id)
        if job is None:
            return False
        with self.redis.pipeline() as pipe:
            pipe.delete(self.keys.job(job_id))
            pipe.zrem(self.keys.all, job_id)
            pipe.zrem(self.keys.owner(job.owner), job_id)
            for status in JobStatus:  # whatever it changed to since it was read
                pipe.zrem(self.keys.status(status), job_id)
                pipe.zrem(self.keys.status(status, job.owner), job_id)
            if job.idempotency_key:
                pipe.delete(self.keys.idempotency(job.owner, job.idempotency_key))
            pipe.execute()
        return True

    def depth(self) -> int:
        return int(self.redis.zcard(self.keys.status(JobStatus.QUEUED)))

    def stats(self) -> dict[str, int]:
        with self.redis.pipeline() as pipe:
            for status in JobStatus:
                pipe.zcard(self.keys.status(status))
            counts = pipe.execute()
        return {status.value: int(n) for status, n in zip(JobStatus, counts, strict=True)}

    def ping(self) -> None:
        self.redis.ping()

    def close(self) -> None:
        self.redis.close()

    # ---- worker side
    def _deliveries(self, entry_id: str) -> int:
        pending = self.redis.xpending_range(self.keys.stream, GROUP, min=entry_id, max=entry_id, count=1)
        return int(pending[0]["times_delivered"]) if pending else 1

    def claim(self, consumer: str, timeout_s: float) -> Delivery | None:
        self._ensure_group()
        lease_ms = int(self.lease_s * 1000)
        # First the entries of dead workers (idle past the lease), then new ones.
        _, stale, *_ = self.redis.xautoclaim(self.keys.stream, GROUP, consumer, min_idle_time=lease_ms, count=1)
        entries = stale
        if not entries:
            reply = self.redis.xreadgroup(GROUP, consumer, {self.keys.stream: ">"}, count=1,
                                          block=max(1, int(timeout_s * 1000)))
            entries = reply[0][1] if reply else []
        for entry_id, fields in entries:
            delivery = self._start(entry_id, fields.get("job", "") if fields else "")
            if delivery is not None:
                return delivery
        return None

    def _start(self, entry_id: str, job_id: str) -> Delivery | None:
        deliveries = self._deliveries(entry_id)
        job = self._load(job_id) if job_id else None
        if job is None or job.finished:
            self.redis.xack(self.keys.stream, GROUP, entry_id)  # deleted, cancelled or done already
            return None
        token_job = Delivery(job=job, token=entry_id, deliveries=deliveries)
        if deliveries > self.max_deliveries:
            self.finish(token_job, JobStatus.FAILED, error={
                "code": "retries_exhausted",
                "message": f"a worker died or failed on this job {deliveries - 1} times; moved to the dead-letter "
                           f"stream"})
            return None

        def change(j: Job) -> bool:
            if j.finished:
                return False
            j.status, j.started_at, j.attempts = JobStatus.RUNNING, now(), deliveries
            j.progress = {"stage": "starting", "fraction": 0.0}
            return True

        started = self._update(job_id, change)
        if started is None:
            self.redis.xack(self.keys.stream, GROUP, entry_id)
            return None
        return Delivery(job=started, token=entry_id, deliveries=deliveries)

    def heartbeat(self, delivery: Delivery) -> None:
        consumer = self._owner_of(delivery.token)
        if consumer:
            self.redis.xclaim(self.keys.stream, GROUP, consumer, 0, [delivery.token], justid=True)

    def _owner_of(self, entry_id: str) -> str | None:
        pending = self.redis.xpending_range(self.keys.stream, GROUP, min=entry_id, max=entry_id, count=1)
        return str(pending[0]["consumer"]) if pending else None

    def progress(self, job_id: str, stage: str, fraction: float) -> None:
        def change(job: Job) -> bool:
            if job.status is not JobStatus.RUNNING:
                return False
            job.progress = {"stage": stage, "fraction": round(fraction, 4)}
            return True

        self._update(job_id, change)

    def cancel_requested(self, job_id: str) -> bool:
        job = self._load(job_id)
        return job is None or job.cancel_requested

    def finish(self, delivery: Delivery, status: JobStatus, *, result: dict[str, Any] | None = None,
               error: dict[str, str] | None = None) -> bool:
        def change(job: Job) -> bool:
            if job.status in FINISHED:
                return False
            job.status, job.finished_at, job.result, job.error = status, now(), result, error
            if status is JobStatus.SUCCEEDED:
                job.progress = {"stage": "done", "fraction": 1.0}
            return True

        done = self._update(delivery.job.id, change) is not None
        with self.redis.pipeline() as pipe:
            if status is JobStatus.FAILED and error and error.get("code") == "retries_exhausted":
                pipe.xadd(self.keys.dead, {"job": delivery.job.id, "entry": delivery.token, "reason": error["message"]})
            pipe.xack(self.keys.stream, GROUP, delivery.token)
            pipe.execute()
        return done

    def release(self, delivery: Delivery, error: dict[str, str]) -> None:
        """Leave the entry pending: after the lease, XAUTOCLAIM hands it out again (counting a delivery)."""

        def change(job: Job) -> bool:
            if job.finished:
                return False
            job.status, job.error = JobStatus.QUEUED, error
            return True

        self._update(delivery.job.id, change)


def _score(job: Job) -> float:
    """Creation time in seconds, for a job missing from the all-jobs index (normally its score there)."""
    return datetime.fromisoformat(job.created_at).timestamp()
