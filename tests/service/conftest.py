"""Fixtures the service tests share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from .redis_server import REDIS_URL


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of its own on the test Redis (skips without one); its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"vidgate-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    """The queue tests' name for :func:`redis_prefix`."""
    return redis_prefix
