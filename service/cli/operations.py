"""Commands that run and tend the service: serve, worker, gc, dead."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.errors import VidgateError

if TYPE_CHECKING:
    from ..queue import JobQueue

from ..config import get_settings
from ..errors import EXIT_FAILED_INPUTS, EXIT_MODEL, EXIT_USAGE
from ._common import _fail, app


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int | None, typer.Option(help="Embedded worker threads (default VIDGATE_WORKERS).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the REST API and viewer page; without VIDGATE_REDIS_URL the workers run inside this process."""
    from ..serve import DataDirInUse
    from ..serve import serve as run_server

    settings = get_settings()
    if workers is not None:
        if workers < 1:
            raise _fail("--workers must be at least 1", EXIT_USAGE)
        settings = settings.model_copy(update={"workers": workers})
    try:
        run_server(settings, host=host, port=port, log_level=log_level)
    except DataDirInUse as exc:
        raise _fail(str(exc), EXIT_USAGE) from None


@app.command()
def worker(
    name: Annotated[str | None, typer.Option(help="Consumer name (default: host name and process id).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve this worker's Prometheus metrics here.")] = None,
    handler: Annotated[str | None, typer.Option(hidden=True, help="module:factory of another job handler.")] = None,
) -> None:
    """Consume jobs from Redis (VIDGATE_REDIS_URL) until SIGTERM; run as many as you like, anywhere."""
    from ..serve import run_redis_worker

    settings = get_settings()
    if not settings.redis_url:
        raise _fail(
            "vidgate worker needs VIDGATE_REDIS_URL (embedded mode runs workers inside `vidgate serve`)", EXIT_USAGE
        )
    try:
        run_redis_worker(settings, name=name, metrics_port=metrics_port, handler=handler)
    except VidgateError as exc:
        raise _fail(exc.message, EXIT_MODEL) from None


@app.command()
def gc(
    grace: Annotated[float, typer.Option(help="Only folders untouched this many seconds count as orphaned.")] = 3600.0,
    dry_run: Annotated[bool, typer.Option(help="List what would be removed; remove nothing.")] = False,
) -> None:
    """Expire finished jobs past VIDGATE_RETENTION_S, trim the queue, remove uploads no job points to."""
    from ..queue import open_queue
    from ..retention import collect
    from ..storage import Storage

    settings = get_settings()
    queue = open_queue(settings)
    try:
        done = collect(queue, Storage(settings.storage_root), retention_s=settings.retention_s, grace_s=grace,
                       dry_run=dry_run)
    finally:
        queue.close()
    for line in done.lines():
        typer.echo(("would remove " if dry_run else "") + line)
    for job_id in done.orphans:
        typer.echo(f"  orphaned: jobs/{job_id}/")


dead = typer.Typer(
    help="Dead letters: jobs that failed VIDGATE_MAX_DELIVERIES times (retries_exhausted). List them, requeue "
    "one once its cause is fixed, or drop one.",
    no_args_is_help=True,
)
app.add_typer(dead, name="dead")


@contextlib.contextmanager
def _job_queue() -> Iterator[JobQueue]:
    """The configured queue (embedded or Redis); one that cannot be reached is an error line and exit 1."""
    import redis

    from ..queue import open_queue

    try:
        queue = open_queue(get_settings())
        try:
            yield queue
        finally:
            queue.close()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, sqlite3.OperationalError) as exc:
        raise _fail(f"the job queue cannot be reached ({type(exc).__name__}: {exc})", EXIT_FAILED_INPUTS) from None


@dead.command("list")
def dead_list(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many (oldest first).")] = 100,
) -> None:
    """Dead letters, oldest first: job id, since when, deliveries, file name, why."""
    with _job_queue() as queue:
        letters, more = queue.dead_letters(limit=limit)
    for letter in letters:
        job = letter.job
        reason = (job.error or {}).get("message", "")
        typer.echo(f"{job.id}  {letter.since}  {job.attempts} attempts  {job.input.get('filename') or '-'}  {reason}")
    typer.echo(f"{len(letters)} dead letter(s)" + (f" shown; more past --limit {limit}" if more else ""), err=True)


@dead.command("requeue")
def dead_requeue(job_id: Annotated[str, typer.Argument(help="A job id from `vidgate dead list`.")]) -> None:
    """Put a dead letter's job back in the queue once its cause is fixed: its delivery count starts over, and
    its history keeps the earlier attempts."""
    from ..queue import QueueFull

    with _job_queue() as queue:
        try:
            job = queue.requeue_dead(job_id)
        except QueueFull as exc:
            raise _fail(str(exc), EXIT_FAILED_INPUTS) from None
    if job is None:
        raise _fail(f"{job_id}: not a dead letter (`vidgate dead list` shows them)", EXIT_FAILED_INPUTS)
    typer.echo(f"requeued {job_id}")


@dead.command("drop")
def dead_drop(job_id: Annotated[str, typer.Argument(help="A job id from `vidgate dead list`.")]) -> None:
    """Drop a dead letter; the job stays failed (retries_exhausted) until retention removes it."""
    with _job_queue() as queue:
        dropped = queue.drop_dead(job_id)
    if not dropped:
        raise _fail(f"{job_id}: not a dead letter (`vidgate dead list` shows them)", EXIT_FAILED_INPUTS)
    typer.echo(f"dropped {job_id}")


