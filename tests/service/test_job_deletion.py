"""Deleting a job under its worker, in both queue modes: the API's delete (`Services.delete_job`) against a real
queue (SQLite, or the test Redis) and the real worker loop (`service.worker.process`).

The worker stops at its next cancel check, every write it makes afterwards finds no job (nothing is recreated),
and no file of the job is left in storage, not even those written just as the DELETE came.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from pipelines.errors import Cancelled
from service.api.services import Services
from service.config import Settings
from service.jobs import Job, JobKind, JobStatus
from service.queue import Delivery, JobQueue
from service.queue.redis_streams import GROUP, RedisQueue
from service.storage import input_key, job_prefix, result_key
from service.worker import Report, process
from tests.helpers import wait_until

from .redis_server import REDIS_URL


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    """The API's services (no model, no workers) on an embedded queue or on the test Redis."""
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "redis_url": None, "api_keys": []}
    if request.param == "redis":
        values.update(redis_url=REDIS_URL, redis_prefix=request.getfixturevalue("redis_prefix"))
    services = Services(Settings(**values))
    yield services
    services.queue.close()


def _submit(services: Services) -> Job:
    """A queued job with an upload in storage."""
    job = Job.new(owner="o")
    job.input = {"key": input_key(job.id), "filename": "clip.mp4"}
    services.storage.write_bytes(input_key(job.id), b"an upload")
    return services.queue.submit(job)


def _claim(services: Services) -> Delivery:
    delivery = services.queue.claim("worker", 1.0)
    assert delivery is not None and delivery.job.status is JobStatus.RUNNING
    return delivery


def _left(services: Services, job_id: str) -> list[str]:
    return services.storage.list_prefix(job_prefix(job_id))


def test_a_job_deleted_while_it_runs_stops_its_worker_and_leaves_nothing(services: Services) -> None:
    job = _submit(services)
    delivery = _claim(services)
    running = threading.Event()

    def handler(job: Job, report: Report) -> dict[str, Any]:
        report.write_json(result_key(job.id), {"staged": True})  # written only if the outcome is accepted
        running.set()
        wait_until(report.should_cancel, timeout=30, what="the worker's cancel check")
        raise Cancelled("cancelled")

    outcome: list[JobStatus | None] = []
    worker = threading.Thread(target=lambda: outcome.append(process(services.queue, delivery, handler,
                                                                    storage=services.storage)))
    worker.start()
    assert running.wait(30)
    services.delete_job(delivery.job)
    assert services.get_job(job.id) is None and _left(services, job.id) == []
    worker.join(30)
    assert not worker.is_alive() and outcome == [None]  # stopped; its outcome found no job to record

    # Every later write of the worker finds no job: nothing is recreated.
    services.queue.progress(job.id, "late", 0.5, lease=delivery.lease)
    assert not services.queue.finish(delivery, JobStatus.SUCCEEDED, result={"late": True})
    services.queue.release(delivery, {"code": "worker_error", "message": "late"})
    assert services.queue.cancel_requested(job.id)
    assert services.get_job(job.id) is None and _left(services, job.id) == []
    assert sum(services.queue.stats().values()) == 0 and services.queue.list(owner="o")[0] == []
    assert services.queue.claim("worker", 0.1) is None
    if isinstance(services.queue, RedisQueue):  # the entry was acknowledged: no other worker gets it
        assert services.queue.redis.xpending(services.queue.keys.stream, GROUP)["pending"] == 0


def test_a_queued_job_deleted_is_never_delivered(services: Services) -> None:
    job = _submit(services)
    services.delete_job(job)
    assert services.get_job(job.id) is None and _left(services, job.id) == []
    assert services.queue.claim("worker", 0.1) is None and services.queue.depth() == 0


class _DeletedOnOutcome:
    """The queue, with a DELETE arriving right after it accepts an outcome, before the worker writes the files."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def __getattr__(self, name: str) -> Any:
        return getattr(self.services.queue, name)

    def finish(self, delivery: Delivery, status: JobStatus, **outcome: Any) -> bool:
        accepted = self.services.queue.finish(delivery, status, **outcome)
        current = self.services.get_job(delivery.job.id)
        assert accepted and current is not None and current.status is status
        self.services.delete_job(current)
        return accepted


def test_files_written_just_as_the_job_is_deleted_are_removed(services: Services) -> None:
    job = _submit(services)
    delivery = _claim(services)

    def handler(job: Job, report: Report) -> dict[str, Any]:
        report.write_json(result_key(job.id), {"labels": []})
        report.write(f"{job_prefix(job.id)}snippets/0/thumbnail.jpg", b"jpeg")
        return {"labels": []}

    queue = cast(JobQueue, _DeletedOnOutcome(services))
    assert process(queue, delivery, handler, storage=services.storage) is JobStatus.SUCCEEDED
    assert services.get_job(job.id) is None and _left(services, job.id) == []


def test_deleting_a_job_deletes_the_job_computing_its_evidence(services: Services) -> None:
    job = _submit(services)
    delivery = _claim(services)
    assert services.queue.finish(delivery, JobStatus.SUCCEEDED, result={"labels": []})
    done = services.get_job(job.id)
    assert done is not None
    evidence = services.request_evidence(done)
    assert evidence.kind is JobKind.EVIDENCE and services.get_job(evidence.id) is not None
    services.delete_job(done)
    assert services.get_job(job.id) is None and services.get_job(evidence.id) is None
    assert services.queue.claim("worker", 0.1) is None and services.queue.depth() == 0
