"""Redis mode: Redis Streams consumer groups, used directly (see docs/adr-001-queue.md and docs/queue.md).

* Submitting is one Lua script: the idempotency check, the size limit, the job, its indexes and the
  ``XADD`` happen together or not at all, so a refused submit reserves nothing and two requests with one
  key make one job.
* Workers read with ``XREADGROUP``; an entry delivered but not acknowledged stays pending, so a job is
  never lost (at-least-once delivery). An idle worker takes over entries idle past the lease
  (`RedisQueue._reclaim`: ``XPENDING ... IDLE`` then ``XCLAIM``), however many live entries come before
  them; the entry's delivery counter caps retries, and past the cap the job fails with
  ``retries_exhausted`` and is copied to the dead-letter stream.
* Each delivery writes a new lease (fencing token) into the job. Every write a worker makes — progress,
  release, outcome — is a Lua check-and-set that also checks the lease, so a worker that was frozen past
  its lease and woke up after the job moved on is refused (and acknowledges nothing).
* Dead letters (`service.queue.redis_dead`): past the cap, the job's entry is copied to ``{prefix}dead``;
  requeueing one gives the job a new stream entry, so its delivery counter starts over.
* A heartbeat re-claims the worker's own entry only while it still owns it (one Lua script), and tells
  it when it does not. Workers also beat under their name, so the API can tell whether any is alive.
* A group lost with Redis's data (``NOGROUP``) is created again on the next read.
* Housekeeping (`maintain`): the stream is trimmed to what is still pending or undelivered, consumers
  with nothing pending and no heartbeat are removed. Finished jobs are indexed by finish time for expiry.
* Listing reads sorted-set indexes by creation time — all jobs, per owner, per status, per owner and
  status — with an opaque cursor holding the last job's (score, id), stable while new jobs arrive.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import redis

from ..jobs import FINISHED, Job, JobStatus, now
from .base import (
    BadCursor,
    DeadLetter,
    Delivery,
    JobQueue,
    QueueFull,
    check_job_id,
    decode_cursor,
    encode_cursor,
    new_lease,
    unix_time,
)
from .redis_dead import DeadLetters
from .redis_keys import Keys

log = logging.getLogger("vidgate.queue")

GROUP = "workers"
RECLAIM_CANDIDATES = 10  # stale entries one claim tries, should other workers take the first ones first

_SUBMIT = """
if ARGV[5] == '1' then
  local existing = redis.call('GET', KEYS[7])
  if existing and redis.call('EXISTS', ARGV[6] .. existing) == 1 then return {'existing', existing} end
end
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[4]) then return {'full'} end
redis.call('SET', KEYS[1], ARGV[2])
for i = 2, 5 do redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1]) end
redis.call('XADD', KEYS[6], '*', 'job', ARGV[1])
if ARGV[5] == '1' then redis.call('SET', KEYS[7], ARGV[1]) end
return {'ok'}
"""

_UPDATE = """
local current = redis.call('GET', KEYS[1])
if not current then return 'missing' end
if ARGV[3] ~= '' then
  local ok, job = pcall(cjson.decode, current)
  if not ok or job['lease'] ~= ARGV[3] then return 'stale' end
end
if current ~= ARGV[1] then return 'changed' end
redis.call('SET', KEYS[1], ARGV[2])
if KEYS[2] ~= KEYS[4] then
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[4])
end
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[4])
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[6], ARGV[6], ARGV[4]) end
return 'ok'
"""

_HEARTBEAT = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 or pending[1][2] ~= ARGV[3] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
"""


class RedisQueue(JobQueue):
    def __init__(self, url: str, *, prefix: str = "vidgate:", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redis: Any = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5,
                                               health_check_interval=15)
        self.keys = Keys(prefix)
        self._group_ready = False
        self._submit = self.redis.register_script(_SUBMIT)
        self._cas = self.redis.register_script(_UPDATE)
        self._beat = self.redis.register_script(_HEARTBEAT)
        self.dead = DeadLetters(self.redis, self.keys)

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

    def _update(self, job_id: str, change: Callable[[Job], bool], *, lease: str | None = None,
                finishing: bool = False) -> tuple[str, Job | None]:
        """Read-modify-write one job with a Lua check-and-set.

        ``change(job)`` returns False to leave the job alone. With ``lease``, the write happens only while
        the job's lease is still that one. Returns ``(outcome, job)``: ``ok`` (written), ``unchanged``,
        ``missing`` (no such job) or ``stale`` (the lease moved on).
        """
        key = self.keys.job(job_id)
        while True:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.zscore(self.keys.all, job_id)  # its place in every listing index
                raw, score = pipe.execute()
            if not raw:
                return "missing", None
            job = Job.from_dict(json.loads(raw))
            if lease is not None and job.lease != lease:
                return "stale", None
            previous = job.status
            if change(job) is False:
                return "unchanged", None
            score = _score(job) if score is None else float(score)
            ended = repr(time.time()) if finishing and job.status in FINISHED else ""
            keys = [key, self.keys.status(previous), self.keys.status(previous, job.owner),
                    self.keys.status(job.status), self.keys.status(job.status, job.owner), self.keys.finished]
            outcome = self._cas(keys=keys, args=[raw, json.dumps(job.to_dict()), lease or "", job_id, repr(score),
                                                 ended])
            if outcome != "changed":
                return outcome, (job if outcome == "ok" else None)

    # ---- API side
    def submit(self, job: Job) -> Job:
        self._ensure_group()
        score = time.time()
        idem = self.keys.idempotency(job.owner, job.idempotency_key) if job.idempotency_key else self.keys.prefix
        keys = [self.keys.job(job.id), self.keys.all, self.keys.owner(job.owner), self.keys.status(JobStatus.QUEUED),
                self.keys.status(JobStatus.QUEUED, job.owner), self.keys.stream, idem]
        args: builtins.list[str | int] = [job.id, json.dumps(job.to_dict()), repr(score), self.max_queue,
                                         "1" if job.idempotency_key else "0", self.keys.job_prefix]
        reply = self._submit(keys=keys, args=args)
        if reply[0] == "full":
            raise QueueFull(f"the queue holds {self.max_queue} jobs; retry later")
        if reply[0] == "existing":
            existing = self._load(reply[1])
            if existing is not None:
                return existing
            return self.submit(job)  # deleted between the script and the read: try again
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
        if cursor is None:
            rows = self.redis.zrevrange(index, 0, limit, withscores=True)  # one more: is there a next page?
        else:
            raw_score, last = decode_cursor(cursor, 2)
            after = _cursor_score(raw_score)
            check_job_id(last)
            # Jobs created at the same instant sort by id (descending); skip those already shown.
            ties = int(self.redis.zcount(index, after, after))
            rows = self.redis.zrevrangebyscore(index, after, "-inf", start=0, num=limit + ties + 1, withscores=True)
            rows = [(i, s) for i, s in rows if not (s == after and i >= last)]
        rows, more = rows[:limit], len(rows) > limit
        ids = [i for i, _ in rows]
        raws = self.redis.mget([self.keys.job(i) for i in ids]) if ids else []
        page = [Job.from_dict(json.loads(raw)) for raw in raws if raw]  # a job deleted meanwhile is skipped
        if status is not None:
            page = [job for job in page if job.status is status]  # changed between the two reads
        next_cursor = encode_cursor(repr(float(rows[-1][1])), rows[-1][0]) if more and rows else None
        return page, next_cursor

    def cancel(self, job_id: str) -> bool:
        def change(job: Job) -> bool:
            if job.finished:
                return False
            if job.status is JobStatus.QUEUED:
                job.status, job.finished_at = JobStatus.CANCELLED, now()
            job.cancel_requested = True
            return True

        return self._update(job_id, change, finishing=True)[0] == "ok"

    def delete(self, job_id: str) -> bool:
        job = self._load(job_id)
        if job is None:
            return False
        idem = self.keys.idempotency(job.owner, job.idempotency_key) if job.idempotency_key else None
        with self.redis.pipeline() as pipe:
            pipe.delete(self.keys.job(job_id))
            for index in (self.keys.all, self.keys.owner(job.owner), self.keys.finished):
                pipe.zrem(index, job_id)
            for status in JobStatus:  # whatever it changed to since it was read
                pipe.zrem(self.keys.status(status), job_id)
                pipe.zrem(self.keys.status(status, job.owner), job_id)
            pipe.execute()
        if idem is not None and self.redis.get(idem) == job_id:
            self.redis.delete(idem)
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
        try:
            return self._claim(consumer, timeout_s)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("consumer group missing (Redis lost its data?): creating it again")
            self._group_ready = False
            self._ensure_group()
            return self._claim(consumer, timeout_s)

    def _claim(self, consumer: str, timeout_s: float) -> Delivery | None:
        """First an entry of a dead worker (idle past the lease), then a new one.

        The wait for new entries is at most a quarter of a heartbeat, so an idle worker looks for stale
        entries again soon after one passes its lease: a dead worker's job runs again within the lease plus
        one heartbeat of the worker's death, as long as some worker is idle.
        """
        self._ensure_group()
        delivery = self._reclaim(consumer)
        if delivery is not None:
            return delivery
        block = max(1, int(min(timeout_s, self.heartbeat_s / 4) * 1000))
        reply = self.redis.xreadgroup(GROUP, consumer, {self.keys.stream: ">"}, count=1, block=block)
        for entry_id, fields in reply[0][1] if reply else []:
            delivery = self._start(entry_id, fields.get("job", "") if fields else "", consumer)
            if delivery is not None:
                return delivery
        return None

    def _reclaim(self, consumer: str) -> Delivery | None:
        """Take over the oldest entry idle past the lease (its worker stopped heartbeating), if any.

        ``XPENDING ... IDLE`` returns only entries idle past the lease, however many live entries come before
        them: one round trip, the server walking the pending list once. (``XAUTOCLAIM`` looks at no more than
        10 x COUNT pending entries per call; with COUNT 1 and its cursor dropped, a dead worker's entry behind
        ten live ones is never found, and a larger COUNT would claim entries this worker cannot run.)
        ``XCLAIM`` with the same minimum idle time takes an entry only while it is still idle, so of two
        workers that saw one candidate only one gets it; the other tries the next. ``XCLAIM`` counts the
        delivery, like every delivery. An entry deleted from the stream while pending is dropped from the
        pending list by ``XCLAIM`` (Redis 7) or comes back without fields (Redis 6.2) and is acknowledged.
        """
        lease_ms = int(self.lease_s * 1000)
        candidates = self.redis.xpending_range(self.keys.stream, GROUP, min="-", max="+", count=RECLAIM_CANDIDATES,
                                               idle=lease_ms)
        for candidate in candidates:
            for entry_id, fields in self.redis.xclaim(self.keys.stream, GROUP, consumer, lease_ms,
                                                      [candidate["message_id"]]):
                if not fields:
                    self._ack(entry_id)
                    continue
                delivery = self._start(entry_id, fields.get("job", ""), consumer)
                if delivery is not None:
                    return delivery
        return None

    def _start(self, entry_id: str, job_id: str, consumer: str) -> Delivery | None:
        deliveries = self._deliveries(entry_id)
        job = self._load(job_id) if job_id else None
        if job is None or job.finished:
            self._ack(entry_id)  # deleted, cancelled or done already
            return None
        if deliveries > self.max_deliveries:
            message = (f"a worker died or failed on this job {deliveries - 1} times; moved to the dead-letter "
                       f"stream")

            def exhausted(j: Job) -> bool:
                if j.finished:
                    return False
                j.status, j.finished_at, j.attempts = JobStatus.FAILED, now(), deliveries - 1
                j.error = {"code": "retries_exhausted", "message": message}
                return True

            if self._update(job_id, exhausted, finishing=True)[0] == "ok":
                self.dead.add(job_id, entry_id, message)
            self._ack(entry_id)
            return None
        lease = new_lease()

        def change(j: Job) -> bool:
            if j.finished:
                return False
            j.status, j.started_at, j.attempts, j.lease = JobStatus.RUNNING, now(), deliveries, lease
            j.progress = {"stage": "starting", "fraction": 0.0}
            return True

        _, started = self._update(job_id, change)
        if started is None:
            self._ack(entry_id)
            return None
        return Delivery(job=started, token=entry_id, deliveries=deliveries, lease=lease, consumer=consumer)

    def _ack(self, entry_id: str) -> None:
        with contextlib.suppress(redis.ResponseError):  # no group any more: nothing to acknowledge
            self.redis.xack(self.keys.stream, GROUP, entry_id)

    def heartbeat(self, delivery: Delivery) -> bool:
        try:
            owned = self._beat(keys=[self.keys.stream], args=[GROUP, delivery.token, delivery.consumer])
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                return False  # the stream went with Redis's data
            raise
        return bool(owned)

    def progress(self, job_id: str, stage: str, fraction: float, *, lease: str | None = None) -> None:
        def change(job: Job) -> bool:
            if job.status is not JobStatus.RUNNING:
                return False
            job.progress = {"stage": stage, "fraction": round(fraction, 4)}
            return True

        self._update(job_id, change, lease=lease)

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

        outcome, _ = self._update(delivery.job.id, change, lease=delivery.lease or None, finishing=True)
        if outcome == "stale":
            log.warning("job %s: outcome %s refused: delivery %s lost its lease (the job moved to another worker)",
                        delivery.job.id, status.value, delivery.token)
            return False  # the entry belongs to the new holder now: acknowledging it would lose their delivery
        self._ack(delivery.token)
        return outcome == "ok"

    def release(self, delivery: Delivery, error: dict[str, str]) -> None:
        """Leave the entry pending: after the lease, XAUTOCLAIM hands it out again (counting a delivery)."""

        def change(job: Job) -> bool:
            if job.finished:
                return False
            job.status, job.error = JobStatus.QUEUED, error
            return True

        self._update(delivery.job.id, change, lease=delivery.lease or None)

    # ---- dead letters (``{prefix}dead``: service/queue/redis_dead.py)
    def dead_letters(self, *, owner: str | None = None, limit: int = 50,
                     cursor: str | None = None) -> tuple[builtins.list[DeadLetter], str | None]:
        return self.dead.page(owner=owner, limit=limit, cursor=cursor)

    def requeue_dead(self, job_id: str, *, owner: str | None = None) -> Job | None:
        return self.dead.requeue(job_id, owner=owner, max_queue=self.max_queue)

    def drop_dead(self, job_id: str, *, owner: str | None = None) -> bool:
        return self.dead.drop(job_id, owner=owner)

    # ---- liveness and retention
    def worker_beat(self, name: str) -> None:
        self.redis.zadd(self.keys.workers, {name: time.time()})

    def live_workers(self, within_s: float) -> int:
        return int(self.redis.zcount(self.keys.workers, time.time() - within_s, "+inf"))

    def expired(self, before: float, limit: int = 500) -> builtins.list[str]:
        return list(self.redis.zrangebyscore(self.keys.finished, "-inf", before, start=0, num=limit))

    def maintain(self, *, dead_consumer_s: float = 3600.0) -> None:
        try:
            groups = self.redis.xinfo_groups(self.keys.stream)
        except redis.ResponseError:  # no stream yet
            return
        group = next((g for g in groups if g["name"] == GROUP), None)
        if group is None:
            return
        # Keep every entry still pending or not yet delivered; everything older was acknowledged.
        keep = _next_id(group["last-delivered-id"])
        pending = self.redis.xpending(self.keys.stream, GROUP)
        if pending["pending"] and _id(pending["min"]) < _id(keep):
            keep = pending["min"]
        trimmed = self.redis.xtrim(self.keys.stream, minid=keep, approximate=False)
        cutoff = time.time() - dead_consumer_s
        alive = set(self.redis.zrangebyscore(self.keys.workers, cutoff, "+inf"))
        removed = []
        for consumer in self.redis.xinfo_consumers(self.keys.stream, GROUP):
            name = consumer["name"]
            if consumer["pending"] == 0 and name not in alive and consumer["idle"] >= dead_consumer_s * 1000:
                self.redis.xgroup_delconsumer(self.keys.stream, GROUP, name)
                removed.append(name)
        self.redis.zremrangebyscore(self.keys.workers, "-inf", cutoff)
        if trimmed or removed:
            log.info("stream trimmed by %d entries; removed %d dead consumer(s)", trimmed, len(removed))
        forgotten = self.dead.forget_deleted()
        if forgotten:
            log.info("removed %d dead letter(s) whose job is gone", forgotten)


def _score(job: Job) -> float:
    """Creation time in seconds, for a job missing from the all-jobs index (normally its score there)."""
    return unix_time(job.created_at)


def _cursor_score(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadCursor("not a cursor from this API") from None
    if not math.isfinite(value) or value < 0:
        raise BadCursor("not a cursor from this API")
    return value


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _next_id(entry_id: str) -> str:
    ms, seq = _id(entry_id)
    return f"{ms}-{seq + 1}"
