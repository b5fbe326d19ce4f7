"""The API under faults: hostile names and cursors, a queue that is down, a prompt cancel, a delete of a running
job, a time limit, intake that never opens a container in the API process, trickling and aborted uploads."""

from __future__ import annotations

import contextlib
import importlib
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.queue.redis_streams import RedisQueue
from service.storage import job_prefix
from tests.helpers import wait_until

from .api_support import Files, make_files, post_video, server, settings_for, wait_for
from .redis_server import REDIS_URL


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return make_files(tmp_path_factory.mktemp("fault-files"))


@pytest.fixture(scope="module")
def client(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = settings_for(tmp_path_factory.mktemp("fault-data"), files, workers=1)
    with TestClient(create_app(settings)) as c:
        yield c


def _code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


def _metric(text: str, name: str, status: str) -> float:
    match = re.search(rf'^{name}{{status="{status}"}} ([0-9.e+]+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize("name", ["视频.mp4", "🎬 clip.mp4", "Zoë – ½.mp4", "יום.mp4"])
def test_any_unicode_file_name_is_stored(client: TestClient, files: Files, name: str) -> None:
    with files.good.open("rb") as f:
        r = client.post("/v1/jobs", files={"file": (name, f, "video/mp4")})
    assert r.status_code == 202, r.text
    assert client.get(f"/v1/jobs/{r.json()['id']}").json()["input"]["filename"] == name


def test_unicode_field_names_are_a_400_not_a_crash(client: TestClient, files: Files) -> None:
    with files.good.open("rb") as f:
        r = client.post("/v1/jobs", files={"file": ("a.mp4", f, "video/mp4")}, data={"budgét": "0.5"})
    assert r.status_code == 400 and _code(r) == "bad_options", r.text


@pytest.mark.parametrize("cursor", ["abc", "1e3", "-1", "9" * 200, "0", "djF8eA"])
def test_a_cursor_we_did_not_make_is_400(client: TestClient, cursor: str) -> None:
    r = client.get("/v1/jobs", params={"cursor": cursor})
    assert r.status_code == 400 and _code(r) == "bad_cursor", r.text


def test_pages_do_not_shift_when_jobs_arrive(client: TestClient, files: Files) -> None:
    ids = [post_video(client, files.good, mode="dense").json()["id"] for _ in range(3)]
    first = client.get("/v1/jobs", params={"limit": 2}).json()
    post_video(client, files.good)  # a new job between two pages
    second = client.get("/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    listed = [j["id"] for j in first["jobs"] + second["jobs"]]
    assert listed[:3] == list(reversed(ids)) and len(set(listed)) == len(listed)


def test_a_cancel_stops_a_decoder_request_in_flight_and_is_not_a_failure(files: Files, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_TEST_SLOW_S", "3600")  # a decoder request on the slow video never ends by itself
    mark = tmp_path / "slow-request-started"
    monkeypatch.setenv("VIDGATE_TEST_SLOW_MARK", str(mark))
    settings = settings_for(tmp_path / "data", files)
    with TestClient(create_app(settings)) as c:
        before = c.get("/metrics").text
        job_id = post_video(c, files.slow, mode="dense").json()["id"]
        wait_until(mark.exists, timeout=60, what="a decoder request on the slow video")
        assert c.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
        done = wait_for(c, job_id, timeout=60)  # only a cancel that kills the request can end it this soon
        assert done["status"] == "cancelled", done
        after = c.get("/metrics").text
    name = "vidgate_jobs_finished_total"
    assert _metric(after, name, "cancelled") == _metric(before, name, "cancelled") + 1
    assert _metric(after, name, "failed") == _metric(before, name, "failed")


def test_deleting_a_running_job_stops_its_worker_and_leaves_nothing(files: Files, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_TEST_SLOW_S", "3600")  # a decoder request on the slow video never ends by itself
    mark = tmp_path / "slow-request-started"
    monkeypatch.setenv("VIDGATE_TEST_SLOW_MARK", str(mark))
    settings = settings_for(tmp_path / "data", files)  # one worker: the next job runs only once it stopped
    with TestClient(create_app(settings)) as c:
        storage = c.app.state.services.storage  # type: ignore[attr-defined]
        before = c.get("/metrics").text
        job_id = post_video(c, files.slow, mode="dense").json()["id"]
        wait_until(mark.exists, timeout=60, what="a decoder request on the slow video")
        r = c.delete(f"/v1/jobs/{job_id}")
        assert r.status_code == 204 and r.content == b"", r.text
        for r in (c.get(f"/v1/jobs/{job_id}"), c.post(f"/v1/jobs/{job_id}/cancel"), c.delete(f"/v1/jobs/{job_id}")):
            assert r.status_code == 404 and _code(r) == "not_found", r.text
        assert storage.list_prefix(job_prefix(job_id)) == []
        following = post_video(c, files.good).json()["id"]
        assert wait_for(c, following, timeout=60)["status"] == "succeeded"  # the worker let the deleted job go
        assert c.get(f"/v1/jobs/{job_id}").status_code == 404  # its worker's last writes recreated nothing
        assert storage.list_prefix(job_prefix(job_id)) == []
        after = c.get("/metrics").text
    name = "vidgate_jobs_finished_total"
    for status in ("cancelled", "failed", "retried"):  # a deleted job has no outcome to count
        assert _metric(after, name, status) == _metric(before, name, status), status


def test_a_job_past_its_time_limit_fails_with_job_timeout(files: Files, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_TEST_SLOW_S", "3600")  # without the limit the job would run for an hour
    settings = settings_for(tmp_path / "data", files, job_time_limit_s=2.0, job_time_per_video_s=0.0)
    with TestClient(create_app(settings)) as c:
        job_id = post_video(c, files.slow, mode="dense").json()["id"]
        done = wait_for(c, job_id, timeout=120)
    assert done["status"] == "failed" and done["error"]["code"] == "job_timeout", done


def test_the_api_process_never_opens_an_upload(files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(path: Path) -> None:
        raise AssertionError("the API process opened an uploaded container")

    probe_module = importlib.import_module("pipelines.decoding.probe")
    monkeypatch.setattr(probe_module, "open_container", forbidden)  # this process only: children are fresh
    settings = settings_for(tmp_path / "data", files, decoder="pyav")
    with TestClient(create_app(settings)) as c:
        r = post_video(c, files.good, budget=0.5)
        assert r.status_code == 202, r.text
        done = wait_for(c, r.json()["id"])
        assert done["status"] == "succeeded", done
        clip = c.get(done["links"]["clips"][0])
        assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
        r = post_video(c, files.text)
        assert r.status_code == 415 and _code(r) == "not_a_video"


@pytest.mark.redis
def test_readyz_needs_a_live_worker_in_redis_mode(files: Files, tmp_path: Path, redis_prefix: str) -> None:
    settings = settings_for(tmp_path / "data", files, redis_url=REDIS_URL, redis_prefix=redis_prefix, lease_s=1.0)
    with TestClient(create_app(settings)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["workers"]["ok"] is False, r.text
        RedisQueue(REDIS_URL, prefix=redis_prefix).worker_beat("w1")
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["workers"]["detail"] == "1 alive", r.text


def test_metrics_answer_while_the_queue_is_down(files: Files, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", files, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings)) as c:
        r = c.get("/metrics")
    assert r.status_code == 200, r.text
    assert "vidgate_queue_up 0.0" in r.text


# ---- a live server: slow and aborted uploads ------------------------------------------------------------


def _start_upload(port: int, body_head: bytes, length: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                 b"Content-Length: %d\r\n\r\n" % length + body_head)
    return sock


_HEAD = b'--b\r\nContent-Disposition: form-data; name="file"; filename="slow.mp4"\r\n\r\n'


@pytest.mark.slow
def test_trickling_clients_do_not_starve_others_and_an_aborted_upload_leaves_nothing(files: Files,
                                                                                    tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", files, upload_idle_timeout_s=3.0)
    log = tmp_path / "server.log"
    with server(settings, log) as (_, client):
        port = client.base_url.port or 0
        stop = threading.Event()
        tricklers = [_start_upload(port, _HEAD, 10_000_000) for _ in range(12)]

        def trickle() -> None:
            while not stop.wait(0.5):
                for sock in tricklers:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"\0")

        feeder = threading.Thread(target=trickle, daemon=True)
        feeder.start()
        try:
            # Twelve uploads that would take days are in flight; a normal one still goes through (the client's
            # own timeout fails the test if it is starved).
            r = post_video(client, files.good)
            assert r.status_code == 202, r.text
            assert all(sock.fileno() != -1 for sock in tricklers)
        finally:
            stop.set()
            feeder.join()
        # A client that goes quiet gets 408 once the idle limit passes.
        quiet = _start_upload(port, _HEAD + b"x" * 1000, 10_000_000)
        quiet.settimeout(15)
        assert quiet.recv(4096).startswith(b"HTTP/1.1 408"), "a silent upload was not timed out"
        quiet.close()
        # A client that disconnects half-way: a 4xx-class log line, no traceback, no file left.
        aborted = _start_upload(port, _HEAD + b"y" * 50_000, 10_000_000)
        aborted.close()
        for sock in tricklers:
            sock.close()
        jobs_dir = Path(settings.storage_root) / "jobs"

        def stored() -> list[Path]:
            return [p for p in jobs_dir.rglob("*") if p.is_file()] if jobs_dir.exists() else []

        # The server notices the closed connections and removes their partial uploads: only the good one stays.
        wait_until(lambda: "upload aborted" in log.read_text() and not [p for p in stored() if ".part" in p.name],
                   timeout=60, what="the aborted uploads cleaned up")
        assert client.get("/readyz").status_code == 200
        assert [p.name for p in stored() if p.name == "input"] == ["input"], stored()
    text = log.read_text()
    assert "Traceback" not in text and "internal error" not in text, text
    assert "upload aborted" in text, text
