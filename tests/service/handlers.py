"""Job handlers for queue tests: no model, real processes (they sleep, succeed, fail or kill their worker)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import redis

from pipelines.errors import VideoError
from service.jobs import Job
from service.worker import Report


def make_sleep_handler(settings: Any) -> Any:
    """Options: ``sleep`` seconds, ``poison`` (SIGKILL the worker), ``bad`` (bad input), ``flaky`` (raise);
    ``poison_until`` / ``fail_until``: a path; SIGKILL the worker / raise until a file is there (the cause
    fixed)."""
    counter = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None

    def handle(job: Job, report: Report) -> dict[str, Any]:
        def unfixed(option: str) -> bool:
            return option in job.input and not Path(job.input[option]).exists()

        if job.input.get("poison") or unfixed("poison_until"):
            os.kill(os.getpid(), signal.SIGKILL)
        if unfixed("fail_until"):
            raise RuntimeError("the cause is not fixed yet")
        if job.input.get("bad"):
            raise VideoError("not a video at all", code="not_a_video")
        if job.input.get("flaky"):
            raise RuntimeError("transient failure")
        seconds = float(job.input.get("sleep", 0))
        steps = max(1, int(seconds / 0.1))
        for i in range(steps):
            if report.should_cancel():
                from pipelines.errors import Cancelled

                raise Cancelled("cancelled")
            report.progress("sleep", i / steps)
            time.sleep(seconds / steps)
        if counter is not None:
            counter.incr(f"{settings.redis_prefix}completions:{job.id}")
        result = {"worker": os.getpid(), "job": job.id}
        report.write_json(f"jobs/{job.id}/result.json", result)  # written only if this outcome is accepted
        return result

    return handle
