"""Job states and failure modes: cancel, delete, 409, 429, 503 (model, queue, storage down), a crashing decoder."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.storage import job_prefix

from .api_support import Files, make_files, post_video, settings_for, wait_for


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return make_files(tmp_path_factory.mktemp("state-files"))


@pytest.fixture(scope="module")
def client(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = settings_for(tmp_path_factory.mktemp("state-data"), files, workers=2)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def idle(files: Files, tmp_path: Path) -> Iterator[TestClient]:
    """An embedded API whose model cannot load: it takes jobs but runs none (and is not ready)."""
    settings = settings_for(tmp_path / "data", files, checkpoint=tmp_path / "missing.safetensors", max_queue=2)
    with TestClient(create_app(settings)) as c:
        yield c


def _code(r: object) -> str:
    return str(r.json()["error"]["code"])  # type: ignore[attr-defined]


def test_crashing_decoder_fails_the_job_with_a_code_and_others_still_run(client: TestClient, files: Files) -> None:
    poison = post_video(client, files.poison).json()["id"]
    good = post_video(client, files.good).json()["id"]
    failed = wait_for(client, poison)
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "decoder_crashed", failed
    assert failed["result"] is None
    assert wait_for(client, good)["status"] == "succeeded"
    r = post_video(client, files.poison, url="/v1/classify")
    assert r.status_code == 422 and _code(r) == "decoder_crashed", r.text
    assert r.json()["job"]["status"] == "failed"


def test_cancel_a_running_job(client: TestClient, files: Files) -> None:
    job_id = post_video(client, files.slow, mode="dense").json()["id"]
    wait_for(client, job_id, until=("running",), timeout=30)
    r = client.get(f"/v1/jobs/{job_id}/snippets/0/thumbnail")
    assert r.status_code == 409 and _code(r) == "job_not_finished"
    r = client.post(f"/v1/jobs/{job_id}/cancel")
    assert r.status_code == 202 and r.json()["id"] == job_id, r.text
    assert r.json()["status"] in ("running", "cancelled")  # running until its worker's next cancel check
    done = wait_for(client, job_id)
    assert done["status"] == "cancelled" and done["error"]["code"] == "cancelled", done
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"  # it stays readable
    r = client.post(f"/v1/jobs/{job_id}/cancel")
    assert r.status_code == 409 and _code(r) == "job_finished", r.text
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204  # a finished (cancelled) job is deleted
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404


def test_queued_jobs_can_be_cancelled_and_have_no_artifacts(idle: TestClient, files: Files) -> None:
    job = post_video(idle, files.good).json()
    assert job["status"] == "queued"
    r = idle.get(f"/v1/jobs/{job['id']}/snippets/0/clip")
    assert r.status_code == 409 and _code(r) == "job_not_finished"
    r = idle.post(f"/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelled", r.text  # at once: no worker had it
    assert idle.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
    assert _code(idle.post(f"/v1/jobs/{job['id']}/cancel")) == "job_finished"


def test_a_queued_job_deleted_is_gone_with_its_upload(idle: TestClient, files: Files) -> None:
    job = post_video(idle, files.good).json()
    storage = idle.app.state.services.storage  # type: ignore[attr-defined]
    assert storage.list_prefix(job_prefix(job["id"]))  # its upload
    assert idle.delete(f"/v1/jobs/{job['id']}").status_code == 204
    for r in (idle.get(f"/v1/jobs/{job['id']}"), idle.delete(f"/v1/jobs/{job['id']}"),
              idle.post(f"/v1/jobs/{job['id']}/cancel")):
        assert r.status_code == 404 and _code(r) == "not_found", r.text
    assert storage.list_prefix(job_prefix(job["id"])) == [] and idle.get("/v1/jobs").json()["jobs"] == []


def test_full_queue_is_429_with_retry_after(idle: TestClient, files: Files) -> None:
    for _ in range(2):
        assert post_video(idle, files.good).status_code == 202
    r = post_video(idle, files.good)
    assert r.status_code == 429 and _code(r) == "queue_full"
    assert int(r.headers["retry-after"]) > 0


def test_not_ready_while_the_model_is_missing(idle: TestClient) -> None:
    r = idle.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["model"]["ok"] is False
    assert "retry-after" in r.headers
    r = idle.get("/v1/models")
    assert r.status_code == 503 and _code(r) == "not_ready"


def test_storage_down_is_503(files: Files, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", files)
    with TestClient(create_app(settings)) as c:
        assert c.get("/readyz").status_code == 200
        root = Path(settings.storage_root)
        shutil.rmtree(root)
        root.write_text("the storage volume is gone")  # every write under it now fails
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["storage"]["ok"] is False
        r = post_video(c, files.good)
        assert r.status_code == 503 and _code(r) == "storage_unavailable", r.text
        assert "retry-after" in r.headers


def test_queue_down_is_503(files: Files, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", files, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings)) as c:
        start = time.monotonic()
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["queue"]["ok"] is False
        r = post_video(c, files.good)
        assert r.status_code == 503 and _code(r) == "queue_unavailable", r.text
        assert "retry-after" in r.headers
        assert time.monotonic() - start < 20
