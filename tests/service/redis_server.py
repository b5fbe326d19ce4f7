"""The test Redis: the shared server's URL, and a private ``redis-server`` process on a free port for
tests and benches that stop, kill or restart Redis.

The shared server (6379, database 15 unless ``VIDGATE_TEST_REDIS_URL`` says otherwise) is never taken
down: anything that does that uses a private one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

REDIS_URL = os.environ.get("VIDGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def free_redis_port(start: int = 6390) -> int:
    """The first port from ``start`` that nothing listens on."""
    for port in range(start, start + 500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for a private redis-server")


class RedisServer:
    """``redis-server`` on ``port`` with its files in ``folder``.

    Args:
        folder: working directory (AOF files live here when ``persistent``).
        persistent: ``--appendonly yes --appendfsync always`` (an acknowledged write survives SIGKILL);
            otherwise ``--save "" --appendonly no`` (a restart starts empty).
        port: default: the first free port from 6390.
    """

    def __init__(self, folder: Path, *, persistent: bool, port: int | None = None) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.port = port or free_redis_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def _args(self) -> list[str]:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--logfile", str(self.folder / "redis.log"), "--protected-mode", "no"]
        if self.persistent:
            return [*args, "--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        return [*args, "--save", "", "--appendonly", "no"]

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.proc = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    client.close()
                    return self
            except redis.RedisError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.folder / 'redis.log').read_text(errors='replace')}")
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not answer")

    def kill(self) -> None:
        """SIGKILL: no shut-down, nothing saved beyond what the AOF already holds."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def restart(self, after_s: float = 0.0) -> None:
        """Kill, wait ``after_s`` (the outage), start again on the same port and folder."""
        self.kill()
        time.sleep(after_s)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
