"""Job queues: embedded (SQLite, in-process workers) by default, Redis Streams with ``VIDGATE_REDIS_URL``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import BadCursor, DeadLetter, Delivery, JobQueue, QueueFull

if TYPE_CHECKING:
    from ..config import Settings


def open_queue(settings: Settings) -> JobQueue:
    """The queue the settings ask for."""
    common = {"max_queue": settings.max_queue, "max_deliveries": settings.max_deliveries, "lease_s": settings.lease_s}
    if settings.redis_url:
        from .redis_streams import RedisQueue

        return RedisQueue(settings.redis_url, prefix=settings.redis_prefix, **common)
    from .embedded import EmbeddedQueue

    return EmbeddedQueue(settings.data_dir / "jobs.sqlite3", **common)


__all__ = ["BadCursor", "DeadLetter", "Delivery", "JobQueue", "QueueFull", "open_queue"]
