"""Real processes: `vidgate serve` killed and restarted loses no job; `vidgate gc` beside a busy server changes
no job and a second server on its data folder is refused; Redis mode with two `vidgate worker`s."""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.jobs import JobStatus
from service.queue.embedded import EmbeddedQueue

from .api_support import (
    ROOT,
    Files,
    Process,
    env_for,
    free_port,
    make_files,
    post_video,
    server,
    settings_for,
    wait_for,
    wait_ready,
)
from .redis_server import REDIS_URL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return make_files(tmp_path_factory.mktemp("proc-files"))


def _oversized_upload(port: int, limit: int) -> tuple[bytes, int]:
    """Send a chunked multipart upload far over ``limit``; returns the response head and the bytes sent by then."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
    sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
    chunk, sent = b"\0" * 65536, 0
    try:
        while sent < 40 * limit:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered before the upload ended
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = sock.recv(4096)
    sock.close()
    return response, sent


def test_killed_server_loses_no_job(files: Files, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", files, lease_s=2.0, max_upload_bytes=1_000_000)
    with server(settings, tmp_path / "first.log") as (proc, client):
        response, sent = _oversized_upload(client.base_url.port or 0, settings.max_upload_bytes)
        assert response.startswith(b"HTTP/1.1 413"), response
        assert sent < 10 * settings.max_upload_bytes  # refused while streaming, not after reading it all
        ids = [post_video(client, files.slow, mode="dense").json()["id"]]
        ids += [post_video(client, files.good).json()["id"] for _ in range(3)]
        wait_for(client, ids[0], until=("running",), timeout=30)
        proc.kill()  # SIGKILL mid-job: no shut-down code runs
    with server(settings, tmp_path / "second.log") as (_, client):
        done = [wait_for(client, job_id, timeout=60) for job_id in ids]
    assert [d["status"] for d in done] == ["succeeded"] * 4, done
    assert done[0]["attempts"] >= 2  # the interrupted job ran again


def test_gc_beside_a_busy_server_changes_no_job_and_a_second_server_is_refused(files: Files, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", files, lease_s=2.0)
    env = {**env_for(settings), "VIDGATE_TEST_SLOW_S": "60"}  # the job's first decode request takes a minute
    port = free_port()
    proc = Process(["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env,
                   tmp_path / "server.log")
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_ready(client, proc)
        job_id = post_video(client, files.slow, mode="dense").json()["id"]
        wait_for(client, job_id, until=("running",), timeout=30)
        store = EmbeddedQueue(settings.data_dir / "jobs.sqlite3")
        before = store.get(job_id)
        assert before is not None and before.attempts == 1 and before.lease
        for _ in range(10):  # what cron does, ten times during one job
            gc = subprocess.run([sys.executable, "-m", "service.cli", "gc"], env=env, cwd=ROOT, capture_output=True,
                                text=True, timeout=60, check=False)
            assert gc.returncode == 0, gc.stdout + gc.stderr
        after = store.get(job_id)
        assert after is not None and after.status is JobStatus.RUNNING
        assert (after.attempts, after.lease, after.started_at) == (before.attempts, before.lease, before.started_at)

        second = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--port", str(free_port())], env=env,
                                cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"error: {settings.data_dir} is in use by another vidgate serve (pid {proc.proc.pid})" in second.stderr
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"  # the first server went on
        assert store.get(job_id).lease == before.lease  # type: ignore[union-attr]
        store.close()
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202  # stops at its next cancel check
    finally:
        client.close()
        proc.stop()


def _wait_metrics(port: int, proc: Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise AssertionError(f"worker exited:\n{proc.output()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"worker not ready:\n{proc.output()}")


def test_redis_mode_worker_killed_mid_job(files: Files, tmp_path: Path, redis_prefix: str) -> None:
    settings = settings_for(tmp_path / "data", files, redis_url=REDIS_URL, redis_prefix=redis_prefix, lease_s=2.0,
                            storage_url=str(tmp_path / "shared-storage"))
    env = {**env_for(settings), "VIDGATE_TEST_SLOW_S": "3"}
    workers: list[Process] = []
    try:
        with server(settings, tmp_path / "api.log", ready=False) as (proc, client):
            assert client.get("/readyz").json()["checks"]["workers"]["ok"] is False  # nobody consumes yet
            ports = [free_port(), free_port()]
            first = Process(["worker", "--name", "w1", "--metrics-port", str(ports[0])], env, tmp_path / "w1.log")
            workers.append(first)
            _wait_metrics(ports[0], first)
            wait_ready(client, proc)
            slow = post_video(client, files.slow, mode="dense").json()["id"]
            wait_for(client, slow, until=("running",), timeout=30)
            first.kill()  # SIGKILL while it holds the slow job (its decode takes VIDGATE_TEST_SLOW_S)
            second = Process(["worker", "--name", "w2", "--metrics-port", str(ports[1])], env, tmp_path / "w2.log")
            workers.append(second)
            others = [post_video(client, files.good).json()["id"] for _ in range(2)]
            poison = post_video(client, files.poison).json()["id"]
            _wait_metrics(ports[1], second)
            done = wait_for(client, slow, timeout=60)
            assert done["status"] == "succeeded", done
            assert done["attempts"] >= 2
            assert [wait_for(client, j, timeout=60)["status"] for j in others] == ["succeeded", "succeeded"]
            failed = wait_for(client, poison, timeout=60)
            assert failed["status"] == "failed" and failed["error"]["code"] == "decoder_crashed", failed
            listed = [j["id"] for j in client.get("/v1/jobs", params={"limit": 50}).json()["jobs"]]
            assert sorted(listed) == sorted([slow, *others, poison])  # each job exactly once
            text = httpx.get(f"http://127.0.0.1:{ports[1]}/metrics").text
            assert 'vidgate_jobs_finished_total{status="succeeded"} 3.0' in text, text
    finally:
        for w in workers:
            w.stop()
