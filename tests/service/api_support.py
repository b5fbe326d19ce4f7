"""Helpers for the API tests: real videos, a tiny checkpoint, settings, polling, and a real server process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from pipelines.encoding import write_video
from service.config import Settings

from ..helpers import add_concept_examples, tiny_checkpoint, write_audio_only, write_test_video
from .faulty_decoder import KILLER_WIDTH, POISON_WIDTH, SLOW_WIDTH

FINISHED = ("succeeded", "failed", "cancelled")
ROOT = Path(__file__).resolve().parents[2]


TEST_BACKEND = "tests.service.faulty_decoder:FaultyDecoder"


def _flat_video(path: Path, width: int, frames: int = 48) -> Path:
    pictures = [np.full((48, width, 3), i * 9 % 255, dtype=np.uint8) for i in range(frames)]
    write_video(path, pictures, fps=12, gop=24)
    return path


@dataclass(frozen=True)
class Files:
    checkpoint: Path
    good: Path
    long: Path
    poison: Path
    slow: Path
    killer: Path
    text: Path
    audio: Path
    empty: Path


def make_files(root: Path) -> Files:
    root.mkdir(parents=True, exist_ok=True)
    (root / "notes.mp4").write_text("definitely not a video\n" * 100)
    (root / "empty.mp4").write_bytes(b"")
    good = write_test_video(root / "good.mp4", frames=96, fps=12)
    long = write_test_video(root / "long.mp4", frames=480, fps=12)
    return Files(
        checkpoint=add_concept_examples(tiny_checkpoint(root / "tiny.safetensors"), [good, long]),
        good=good,
        long=long,
        poison=_flat_video(root / "poison.mp4", POISON_WIDTH),
        slow=_flat_video(root / "slow.mp4", SLOW_WIDTH),
        killer=_flat_video(root / "killer.mp4", KILLER_WIDTH),
        text=root / "notes.mp4",
        audio=write_audio_only(root / "voice.m4a"),
        empty=root / "empty.mp4",
    )


def settings_for(data: Path, files: Files, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data,
        "checkpoint": files.checkpoint,
        "device": "cpu",
        "threads": 1,
        "workers": 1,
        "decode_timeout_s": 20.0,
        "decoder": TEST_BACKEND,
        "sync_timeout_s": 30.0,
        "redis_url": None,
        "api_keys": [],
        **overrides,
    }
    return Settings(**values)


def env_for(settings: Settings) -> dict[str, str]:
    """Environment variables that make a subprocess read the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDGATE_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(value)
        env[f"VIDGATE_{name.upper()}"] = str(value)
    env["PYTHONPATH"] = str(ROOT)
    return env


def post_video(client: Any, path: Path, url: str = "/v1/jobs", *, headers: dict[str, str] | None = None,
               **fields: Any) -> Any:
    with path.open("rb") as f:
        return client.post(url, files={"file": (path.name, f, "video/mp4")},
                           data={k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()},
                           headers=headers or {})


def wait_for(client: Any, job_id: str, *, timeout: float = 60.0, headers: dict[str, str] | None = None,
             until: Sequence[str] = FINISHED) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/jobs/{job_id}", headers=headers or {})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["status"] in until:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body['status']} after {timeout} s: {body}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A ``vidgate`` subprocess (``serve`` or ``worker``) with its output in a log file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "service.cli", *args], env=env, cwd=ROOT,
                                     stdout=self._out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no clean shut-down, like a crashed machine."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def server(settings: Settings, log: Path, *, port: int | None = None,
           ready: bool = True) -> Iterator[tuple[Process, httpx.Client]]:
    """``vidgate serve`` on a free port; yields the process and a client once ``/readyz`` answers 200
    (``ready=False``: once ``/healthz`` does — Redis mode is ready only when a worker beats)."""
    port = port or free_port()
    proc = Process(["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                   env_for(settings), log)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_ready(client, proc, path="/readyz" if ready else "/healthz")
        yield proc, client
    finally:
        client.close()
        proc.stop()


def wait_ready(client: httpx.Client, proc: Process, timeout: float = 60.0, path: str = "/readyz") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.proc.returncode}:\n{proc.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if client.get(path).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"server not ready after {timeout} s:\n{proc.output()}")
