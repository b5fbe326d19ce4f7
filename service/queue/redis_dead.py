"""Redis mode's dead letters: the ``{prefix}dead`` stream, listed, requeued from and dropped.

When a job's entry has been handed out more than ``max_deliveries`` times, the job fails with
``retries_exhausted`` and an entry ``{job, entry, reason}`` is added here (capped at `DEAD_LETTER_MAXLEN`
entries, oldest trimmed first). The job record stays the one source of the job's state; an entry only says
"this job waits for an operator".

* Requeueing is one Lua script, checked against the record as it was read: the job goes back to
  ``queued`` (`base.revive`: the round that ended moves to its history), leaves the failed and finished
  indexes, gets a new stream entry — so the stream's delivery counter starts over — and its dead-letter
  entries are deleted. The queue-size limit applies, as for a submit.
* Dropping deletes the entry; the job record stays, failed, until retention expires it.
* Entries are found by job id by reading the stream in pages (at most `DEAD_LETTER_MAXLEN` entries, an
  operator's action). Entries whose job was deleted or expired are skipped when listing and deleted by
  `DeadLetters.forget_deleted` (``vidgate gc``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..jobs import Job, JobStatus
from .base import BadCursor, DeadLetter, QueueFull, decode_cursor, encode_cursor, iso_time, revive, unix_time

if TYPE_CHECKING:
    from .redis_keys import Keys

DEAD_LETTER_MAXLEN = 10_000
PAGE = 500  # entries read per round trip
_ENTRY_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")

_REQUEUE = """
local current = redis.call('GET', KEYS[1])
if not current then return 'missing' end
if current ~= ARGV[1] then return 'changed' end
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[5]) then return 'full' end
redis.call('SET', KEYS[1], ARGV[2])
for _, index in ipairs({KEYS[2], KEYS[3], KEYS[6]}) do redis.call('ZREM', index, ARGV[3]) end
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[3])
redis.call('XADD', KEYS[7], '*', 'job', ARGV[3])
for i = 6, #ARGV do redis.call('XDEL', KEYS[8], ARGV[i]) end
return 'ok'
"""


class DeadLetters:
    """The dead-letter stream of one queue (``keys.dead``)."""

    def __init__(self, redis: Any, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._requeue = redis.register_script(_REQUEUE)

    def add(self, job_id: str, entry_id: str, reason: str) -> None:
        """Record that ``job_id`` (stream entry ``entry_id``) ran out of deliveries."""
        self.redis.xadd(self.keys.dead, {"job": job_id, "entry": entry_id, "reason": reason},
                        maxlen=DEAD_LETTER_MAXLEN, approximate=True)

    def entries(self, after: str = "-") -> Iterator[tuple[str, str]]:
        """(entry id, job id) of every entry after ``after`` (exclusive), oldest first."""
        start = after if after == "-" else f"({after}"
        while True:
            batch = self.redis.xrange(self.keys.dead, start, "+", count=PAGE)
            for entry_id, fields in batch:
                yield entry_id, (fields or {}).get("job", "")
            if len(batch) < PAGE:
                return
            start = f"({batch[-1][0]}"

    def page(self, *, owner: str | None, limit: int, cursor: str | None) -> tuple[list[DeadLetter], str | None]:
        """`JobQueue.dead_letters`: oldest first; the cursor is the last entry's id."""
        entries = self.entries(_cursor_entry(cursor) if cursor is not None else "-")
        page: list[tuple[str, DeadLetter]] = []
        while True:
            batch = list(itertools.islice(entries, PAGE))
            if not batch:
                return [letter for _, letter in page], None
            raws = self.redis.mget([self.keys.job(job_id) for _, job_id in batch])
            for (entry_id, _), raw in zip(batch, raws, strict=True):
                job = Job.from_dict(json.loads(raw)) if raw else None  # deleted since: skipped
                if job is None or (owner is not None and job.owner != owner):
                    continue
                if len(page) == limit:
                    return [letter for _, letter in page], encode_cursor(page[-1][0])
                page.append((entry_id, DeadLetter(job=job, since=iso_time(int(entry_id.split("-")[0]) / 1000))))

    def _find(self, job_id: str, owner: str | None) -> list[str]:
        """The entries of ``job_id``, when it is one of ``owner``'s dead letters (else none)."""
        found = [entry for entry, dead in self.entries() if dead == job_id]
        if not found or owner is None:
            return found
        raw = self.redis.get(self.keys.job(job_id))
        return found if raw and json.loads(raw).get("owner") == owner else []

    def requeue(self, job_id: str, *, owner: str | None, max_queue: int) -> Job | None:
        """`JobQueue.requeue_dead`."""
        while True:
            found = self._find(job_id, owner)
            if not found:
                return None
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self.keys.job(job_id))
                pipe.zscore(self.keys.all, job_id)  # its place in every listing index
                raw, score = pipe.execute()
            if not raw:
                return None
            job = Job.from_dict(json.loads(raw))
            previous = job.status
            revive(job)
            keys = [self.keys.job(job_id), self.keys.status(previous), self.keys.status(previous, job.owner),
                    self.keys.status(JobStatus.QUEUED), self.keys.status(JobStatus.QUEUED, job.owner),
                    self.keys.finished, self.keys.stream, self.keys.dead]
            score = unix_time(job.created_at) if score is None else float(score)
            outcome = self._requeue(keys=keys, args=[raw, json.dumps(job.to_dict()), job_id, repr(score), max_queue,
                                                     *found])
            if outcome == "full":
                raise QueueFull(f"the queue holds {max_queue} jobs; retry later")
            if outcome != "changed":  # changed between the read and the script: read again
                return job if outcome == "ok" else None

    def drop(self, job_id: str, *, owner: str | None) -> bool:
        """`JobQueue.drop_dead`."""
        found = self._find(job_id, owner)
        return bool(found) and int(self.redis.xdel(self.keys.dead, *found)) > 0

    def forget_deleted(self) -> int:
        """Delete the entries whose job record is gone (deleted, expired); returns how many."""
        entries = list(self.entries())
        gone: list[str] = []
        for start in range(0, len(entries), PAGE):
            batch = entries[start:start + PAGE]
            with self.redis.pipeline(transaction=False) as pipe:
                for _, job_id in batch:
                    pipe.exists(self.keys.job(job_id))
                found = pipe.execute()
            gone += [entry_id for (entry_id, _), exists in zip(batch, found, strict=True) if not exists]
        if gone:
            self.redis.xdel(self.keys.dead, *gone)
        return len(gone)


def _cursor_entry(cursor: str) -> str:
    (entry_id,) = decode_cursor(cursor, 1)
    if not _ENTRY_ID.match(entry_id):
        raise BadCursor("not a cursor from this API")
    return entry_id
