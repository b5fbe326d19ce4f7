"""The job record shared by the API, the queues and the workers (JSON-serialisable)."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pipelines.options import Options, stored_options


class JobStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobKind(str, Enum):
    """What a job does: recognise a video, or compute a recognised job's per-snippet evidence, which the API
    asks a worker for when the viewer or a client first requests it (``GET /v1/jobs/{id}/evidence``)."""

    RECOGNIZE = "recognize"
    EVIDENCE = "evidence"


# The idempotency key of a job's evidence job (one per job, whoever asks and however often).
EVIDENCE_KEY_PREFIX = "evidence:"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_job_id() -> str:
    """Unguessable: 128 random bits."""
    return secrets.token_urlsafe(16)


@dataclass
class Job:
    """One recognition job.

    Attributes:
        id: unguessable job id.
        status: where the job is.
        owner: hash of the API key that created it ("" without keys).
        options: the recognition options (`pipelines.options.Options`, stored as plain JSON).
        input: ``{filename (display only), size, key (storage key), sha256}``.
        progress: ``{stage, fraction}`` while running.
        result: the recognition result (succeeded jobs).
        error: ``{code, message}`` (failed jobs).
        attempts: deliveries to a worker so far.
        cancel_requested: a running job stops at its next cancel check (seconds, not stages).
        lease: fencing token of the delivery that may write the outcome (changes at every delivery).
        history: earlier rounds of deliveries, oldest first: each time the job is requeued from the
            dead letters, ``{attempts, error, started_at, finished_at, requeued_at}`` of the round that ended.
        kind: what the job does; an evidence job's ``input`` is ``{job: the recognised job's id}`` and its
            result the evidence (kept beside that job's result too). Only the API creates evidence jobs; they
            do not appear in job listings.
    """

    id: str
    status: JobStatus = JobStatus.QUEUED
    owner: str = ""
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None
    options: Options = field(default_factory=Options)
    input: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    attempts: int = 0
    cancel_requested: bool = False
    lease: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    kind: JobKind = JobKind.RECOGNIZE

    @classmethod
    def new(cls, *, id: str | None = None, owner: str = "", options: Options | None = None,
            input: dict[str, Any] | None = None, idempotency_key: str | None = None,
            kind: JobKind = JobKind.RECOGNIZE) -> Job:
        return cls(id=id or new_job_id(), owner=owner, options=options or Options(), input=dict(input or {}),
                   idempotency_key=idempotency_key, kind=kind)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["status"] = self.status.value
        data["kind"] = self.kind.value
        data["options"] = self.options.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["status"] = JobStatus(values.get("status", "queued"))
        values["kind"] = JobKind(values.get("kind", JobKind.RECOGNIZE.value))
        values["options"] = stored_options(values.get("options"))
        return cls(**values)
