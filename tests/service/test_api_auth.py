"""API keys: 401/403, per-key job isolation, the page's ?key= cookie; and the viewer page routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.routes import pages
from service.api.routes.pages import STATIC_DIR

from .api_support import Files, make_files, post_video, settings_for, wait_for


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return make_files(tmp_path_factory.mktemp("auth-files"))


@pytest.fixture(scope="module")
def client(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = settings_for(tmp_path_factory.mktemp("auth-data"), files, api_keys=["alice-key", "bob-key"])
    with TestClient(create_app(settings)) as c:
        yield c


ALICE = {"X-API-Key": "alice-key"}
BOB = {"Authorization": "Bearer bob-key"}


def test_missing_key_is_401_and_wrong_key_is_403(client: TestClient, files: Files) -> None:
    for method, url in (("GET", "/v1/jobs"), ("GET", "/v1/models"), ("GET", "/v1/jobs/x"), ("DELETE", "/v1/jobs/x"),
                        ("POST", "/v1/jobs/x/cancel"), ("GET", "/v1/jobs/x/snippets/0/clip")):
        r = client.request(method, url)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (url, r.text)
        r = client.request(method, url, headers={"X-API-Key": "mallory"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (url, r.text)
    r = post_video(client, files.good)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/healthz").status_code == 200  # probes need no key


def test_a_key_sees_only_its_own_jobs(client: TestClient, files: Files) -> None:
    alice_job = post_video(client, files.good, headers=ALICE).json()["id"]
    bob_job = post_video(client, files.good, headers=BOB).json()["id"]
    done = wait_for(client, alice_job, headers=ALICE)
    assert done["status"] == "succeeded"
    for url in (f"/v1/jobs/{alice_job}", f"/v1/jobs/{alice_job}/snippets/0/thumbnail"):
        r = client.get(url, headers=BOB)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    assert client.delete(f"/v1/jobs/{alice_job}", headers=BOB).status_code == 404
    assert client.post(f"/v1/jobs/{alice_job}/cancel", headers=BOB).status_code == 404
    assert client.get(f"/v1/jobs/{alice_job}", headers=ALICE).status_code == 200  # still there
    listed = {j["id"] for j in client.get("/v1/jobs", headers=BOB).json()["jobs"]}
    assert bob_job in listed and alice_job not in listed
    # The same idempotency key used by two owners makes two jobs.
    a = post_video(client, files.good, headers={**ALICE, "Idempotency-Key": "same"}).json()["id"]
    b = post_video(client, files.good, headers={**BOB, "Idempotency-Key": "same"}).json()["id"]
    assert a != b
    assert client.get(f"/v1/jobs/{alice_job}", headers=ALICE).status_code == 200


def test_pages_need_a_key_and_store_it_in_a_cookie(client: TestClient, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if not (STATIC_DIR / "index.html").is_file():  # the viewer's own files, or stand-ins while they are missing
        for name in ("index.html", "job.html"):
            (tmp_path / name).write_text(f"<!doctype html><title>{name}</title>")
        monkeypatch.setattr(pages, "STATIC_DIR", tmp_path)
    client.cookies.clear()
    assert client.get("/").status_code == 401
    r = client.get("/?key=alice-key", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "vidgate_key=alice-key" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    try:
        assert client.cookies.get("vidgate_key") == "alice-key"  # the client keeps it, like a browser
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert client.get("/jobs/abc").status_code == 200
        # The cookie also authorises the page's own API calls.
        assert client.get("/v1/jobs").status_code == 200
    finally:
        client.cookies.clear()
    assert client.get("/?key=wrong", follow_redirects=False).status_code == 403


def test_query_key_is_not_accepted_by_the_json_api(client: TestClient) -> None:
    client.cookies.clear()
    assert client.get("/v1/jobs?key=alice-key").status_code == 401


def test_static_files_cannot_escape_their_folder(client: TestClient) -> None:
    for url in ("/static/../config.py", "/static/%2e%2e/config.py", "/static/..%2fconfig.py"):
        assert client.get(url).status_code == 404, url
