"""What every reliability scenario uses: real files, real `vidgate serve` / `vidgate worker` processes, a private
``redis-server``, polling, and counting outcomes in the processes' logs.

Models and videos are the test suite's (a tiny checkpoint, small real H.264 files, and a decoder backend
that misbehaves on marked videos: ``tests.service.faulty_decoder``), so a scenario measures the service's
fault handling, not the model's speed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.config import Settings
from tests.service.api_support import Files, Process, env_for, free_port, make_files, post_video, settings_for
from tests.service.redis_server import RedisServer

FINISHED = ("succeeded", "failed", "cancelled")
OUTCOME = re.compile(r"vidgate\.worker INFO job (\S+): (succeeded|failed|cancelled)$", re.M)


@dataclass
class Bench:
    """One run's scratch space and scale (``quick``: the short version CI runs)."""

    root: Path
    quick: bool
    files: Files

    @classmethod
    def create(cls, root: Path, quick: bool) -> Bench:
        root.mkdir(parents=True, exist_ok=True)
        return cls(root=root, quick=quick, files=make_files(root / "files"))

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def settings(self, name: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"max_queue": 10_000, "lease_s": 2.0, "decoder": "tests.service.faulty_decoder:"
                                  "FaultyDecoder", "storage_url": str(self.folder(name) / "storage"), **overrides}
        return settings_for(self.folder(name) / "data", self.files, **values)


class Server:
    """`vidgate serve` on a free port; restartable on the same port and data (to kill it for real)."""

    def __init__(self, settings: Settings, folder: Path, env: dict[str, str] | None = None) -> None:
        self.settings, self.folder = settings, folder
        self.port = free_port()
        self.env = {**env_for(settings), **(env or {})}
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        self.proc: Process | None = None
        self.starts = 0

    def start(self, *, ready: bool = True, timeout: float = 120.0) -> Server:
        self.starts += 1
        self.proc = Process(["serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                            self.env, self.folder / f"server-{self.starts}.log")
        wait_http(self.client, "/readyz" if ready else "/healthz", self.proc, timeout)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        self.client.close()

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("server-*.log")))


class Workers:
    """`vidgate worker` processes, restartable like a supervisor would (each with its own log)."""

    def __init__(self, settings: Settings, folder: Path, env: dict[str, str] | None = None,
                 handler: str | None = None) -> None:
        self.env = {**env_for(settings), **(env or {})}
        self.folder, self.handler = folder, handler
        self.procs: dict[str, Process] = {}
        self.count = 0

    def start(self, n: int = 1) -> list[str]:
        names = []
        for _ in range(n):
            self.count += 1
            name = f"w{self.count}"
            args = ["worker", "--name", name] + (["--handler", self.handler] if self.handler else [])
            proc = Process(args, self.env, self.folder / f"{name}.log")
            deadline = time.monotonic() + 120
            while "worker ready" not in proc.output():
                if proc.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {name} did not start:\n{proc.output()}")
                time.sleep(0.1)
            self.procs[name] = proc
            names.append(name)
        return names

    def alive(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.proc.poll() is None]

    def pid(self, name: str) -> int:
        return self.procs[name].proc.pid

    def kill(self, name: str) -> None:
        self.procs[name].kill()

    def signal(self, name: str, sig: int) -> None:
        os.kill(self.pid(name), sig)

    def keep(self, n: int) -> None:
        """Restart dead workers until ``n`` are alive (what a supervisor does)."""
        missing = n - len(self.alive())
        if missing > 0:
            self.start(missing)

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(Exception):
                os.kill(proc.proc.pid, signal.SIGCONT)
            proc.stop()

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("w*.log")))


def wait_http(client: httpx.Client, path: str, proc: Process | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.proc.returncode}:\n{proc.output()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if client.get(path, timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{path} not 200 after {timeout} s")


def submit(client: httpx.Client, path: Path, **fields: Any) -> str:
    r = post_video(client, path, **fields)
    if r.status_code != 202:
        raise RuntimeError(f"submit {path.name}: {r.status_code} {r.text}")
    return str(r.json()["id"])


def job(client: httpx.Client, job_id: str) -> dict[str, Any] | None:
    """The job, or None when the service does not know it (lost); raises while the service is down."""
    r = client.get(f"/v1/jobs/{job_id}", timeout=10)
    if r.status_code == 404:
        return None
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


def settle(client: httpx.Client, ids: list[str], timeout: float, *,
           tick: Any = None) -> dict[str, dict[str, Any] | None]:
    """Poll until every job finished or is unknown (or ``timeout``); ``tick()`` runs each round (supervisors)."""
    deadline = time.monotonic() + timeout
    state: dict[str, dict[str, Any] | None] = {}
    while time.monotonic() < deadline:
        if tick is not None:
            tick()
        try:
            state = {i: job(client, i) for i in ids}
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        if all(s is None or s["status"] in FINISHED for s in state.values()):
            return state
        time.sleep(0.3)
    return state


def outcome_counts(logs: str) -> dict[str, int]:
    """How many times each job's outcome was recorded (a log line per accepted outcome write)."""
    counts: dict[str, int] = {}
    for job_id, _ in OUTCOME.findall(logs):
        counts[job_id] = counts.get(job_id, 0) + 1
    return counts


def tally(ids: list[str], state: dict[str, dict[str, Any] | None], logs: str) -> dict[str, int]:
    """Submitted / succeeded / failed / lost / duplicated for jobs ``ids``."""
    recorded = outcome_counts(logs)
    return {
        "submitted": len(ids),
        "succeeded": sum(1 for i in ids if (state.get(i) or {}).get("status") == "succeeded"),
        "failed": sum(1 for i in ids if (state.get(i) or {}).get("status") == "failed"),
        "lost": sum(1 for i in ids if (state.get(i) or {}).get("status") not in FINISHED),
        "duplicated": sum(1 for i in ids if recorded.get(i, 0) > 1),
    }


@contextlib.contextmanager
def private_redis(folder: Path, *, persistent: bool) -> Iterator[RedisServer]:
    """A private ``redis-server`` (never the shared one): the scenarios kill and restart it."""
    server = RedisServer(folder, persistent=persistent).start()
    try:
        yield server
    finally:
        server.stop()


def rss_bytes(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run(cmd: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
