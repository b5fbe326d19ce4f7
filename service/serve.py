"""Process entry points: the API server (uvicorn, with embedded workers by default) and a Redis-mode worker."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import threading
from pathlib import Path
from types import FrameType
from typing import IO

from .config import Settings

log = logging.getLogger("vidgate.serve")


SERVER_LOCK = "server.lock"


class DataDirInUse(Exception):
    """Another embedded-mode server holds the data folder (the CLI exits with code 2)."""


def hold_server_lock(data_dir: Path) -> IO[str]:
    """Lock ``data_dir`` for this process (``flock`` on ``data_dir/server.lock``, which names its pid).

    The lock lives as long as the returned file stays open, and the kernel drops it when the process dies
    however it dies, so a crashed server never blocks the next. Raises `DataDirInUse` while another
    process holds it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / SERVER_LOCK).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise DataDirInUse(
            f"{data_dir} is in use by another vidgate serve (pid {holder}); one server runs the jobs of a data "
            f"folder: stop it, or give this one another VIDGATE_DATA_DIR (Redis mode runs any number of API "
            f"processes)") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Run the API. Embedded mode also runs worker threads in this process, as many as videos in flight
    (`Settings.in_flight`: ``VIDGATE_WORKERS``, or sized to the device).

    One uvicorn process: embedded workers share the loaded model and the SQLite store; scale out with
    Redis mode (more ``vidgate worker`` processes) rather than more API processes. In embedded mode the
    server holds the data folder's lock while it runs (a second server on the folder raises
    `DataDirInUse`), so it alone runs the folder's jobs and may put back the ones a dead server left
    running (`JobQueue.recover`, at start).
    """
    import uvicorn

    from .api.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = None if settings.redis_url else hold_server_lock(settings.data_dir)
    _log_jobs()
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10)
    finally:
        if lock is not None:
            lock.close()


def _log_jobs() -> None:
    """vidgate's own log lines (job outcomes, refused stale writes, queue outages) at INFO on stderr; uvicorn
    keeps its own loggers and level."""
    logger = logging.getLogger("vidgate")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def run_redis_worker(settings: Settings, *, name: str | None = None, metrics_port: int | None = None,
                     handler: str | None = None) -> None:
    """Consume jobs from Redis until SIGTERM/SIGINT (the job in hand is finished or handed back first).

    Args:
        settings: needs ``redis_url``; storage must be shared with the API (``storage_url``).
        name: consumer name (default: host name and process id).
        metrics_port: expose this worker's Prometheus metrics on that port.
        handler: ``module:factory`` of another job handler (tests plug in handlers without a model);
            the factory gets the settings and returns ``handler(job, report)``.
    """
    from .queue import open_queue
    from .worker import load_handler_factory, run_worker

    if not settings.redis_url:
        raise ValueError("vidgate worker needs VIDGATE_REDIS_URL (embedded mode runs workers inside `vidgate serve`)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if handler:
        job_handler = load_handler_factory(handler)(settings)
    else:
        from .handlers import make_recognizer_handler

        job_handler = make_recognizer_handler(settings)
    queue = open_queue(settings)
    if metrics_port:  # started after the model loaded: an answering endpoint means a ready worker
        from prometheus_client import start_http_server

        from .metrics import REGISTRY

        start_http_server(metrics_port, registry=REGISTRY)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current job, then stopping", signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    consumer = name or f"{socket.gethostname()}-{os.getpid()}"
    # As many consumers as videos in flight (`Settings.in_flight`) share the loaded model: while some jobs
    # probe and decode in their own decoding children, the recognizer's device loop batches the others' passes.
    in_flight = settings.in_flight(getattr(job_handler, "device", None), getattr(job_handler, "backend", None))
    log.info("%d consumers (videos in flight)", in_flight)
    threads = [threading.Thread(target=run_worker, args=(queue, job_handler),
                                kwargs={"stop": stop, "name": f"{consumer}-{i}", "settings": settings},
                                name=f"vidgate-consumer-{i}", daemon=True)
               for i in range(1, in_flight)]
    for thread in threads:
        thread.start()
    print("worker ready", flush=True)
    try:
        run_worker(queue, job_handler, stop=stop, name=consumer, settings=settings)
        for thread in threads:
            thread.join()
    finally:
        queue.close()
        close = getattr(job_handler, "close", None)
        if close is not None:
            close()
