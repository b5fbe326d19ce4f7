"""Every Redis key vidgate uses, in one place (the stream, the dead letters, the job records and their indexes)."""

from __future__ import annotations

from ..jobs import JobStatus


class Keys:
    """Every Redis key vidgate uses, in one place."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.stream = f"{prefix}stream"
        self.dead = f"{prefix}dead"
        self.all = f"{prefix}jobs"  # sorted set: job id by creation time
        self.finished = f"{prefix}finished"  # sorted set: finished job id by finish time (expiry)
        self.workers = f"{prefix}workers"  # sorted set: worker name by last heartbeat
        self.job_prefix = f"{prefix}job:"

    def job(self, job_id: str) -> str:
        return f"{self.job_prefix}{job_id}"

    def owner(self, owner: str) -> str:
        return f"{self.prefix}owner:{owner}"

    def status(self, status: JobStatus, owner: str | None = None) -> str:
        """Sorted set of job ids by creation time: every job in ``status``, or only ``owner``'s."""
        if owner is None:
            return f"{self.prefix}by-status:{status.value}"
        return f"{self.prefix}owner-status:{status.value}:{owner}"  # status values hold no ':'

    def idempotency(self, owner: str, key: str) -> str:
        return f"{self.prefix}idem:{owner}:{key}"
