"""The streaming multipart parser on its own: chunked delivery, fields, early 413, malformed bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from service.api.errors import install_error_handlers
from service.api.upload import receive_upload

LIMIT = 1_000_000
WRITES: list[int] = []  # sizes of the chunks handed to the sink


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = FastAPI()
    WRITES.clear()
    install_error_handlers(app)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        out = (tmp_path / "received").open("wb")

        async def write(chunk: bytes) -> None:
            WRITES.append(len(chunk))
            out.write(chunk)

        try:
            got = await receive_upload(request, file_field="file", max_bytes=LIMIT, write=write)
        finally:
            out.close()
        data = (tmp_path / "received").read_bytes()
        return {"filename": got.filename, "size": got.size, "fields": got.fields,
                "sha256": hashlib.sha256(data).hexdigest()}

    with TestClient(app) as c:
        yield c


def test_file_and_fields_arrive_intact(client: TestClient) -> None:
    payload = bytes(range(256)) * 3000  # 768 KB with every byte value, incl. CR/LF and boundary-like bytes
    r = client.post("/upload", files={"file": ("clip.mp4", payload)}, data={"budget": "0.5", "mode": "gated"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["filename"] == "clip.mp4" and body["size"] == len(payload)
    assert body["sha256"] == hashlib.sha256(payload).hexdigest()
    assert body["fields"] == {"budget": "0.5", "mode": "gated"}


def test_body_split_at_every_awkward_place(client: TestClient) -> None:
    payload = b"\r\n--xyq\r\n--xy" * 5000 + b"end"  # almost boundaries
    whole = (b'--xyz\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n3\r\n'
             b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="v.mkv"\r\n'
             b"Content-Type: video/x-matroska\r\n\r\n" + payload + b"\r\n--xyz--\r\n")

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(whole), 7):
            yield whole[i : i + 7]

    r = client.post("/upload", content=pieces(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 200, r.text
    assert r.json()["sha256"] == hashlib.sha256(payload).hexdigest()
    assert r.json()["fields"] == {"top_k": "3"} and r.json()["filename"] == "v.mkv"


def test_too_large_stops_reading_early(client: TestClient) -> None:
    def body() -> Iterator[bytes]:
        yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
        for _ in range(1000):  # would be 64 MB
            yield b"\1" * 65536
        yield b"\r\n--xyz--\r\n"

    r = client.post("/upload", content=body(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"
    assert sum(WRITES) <= LIMIT  # nothing past the limit was written


@pytest.mark.parametrize(
    ("content", "ctype", "status", "code"),
    [
        (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc",
         "multipart/form-data; boundary=xyz", 400, "bad_request"),  # no closing boundary
        (b"--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nabc\r\n--xyz--\r\n",
         "multipart/form-data; boundary=xyz", 400, "bad_request"),  # no file part
        (b"abc", "application/octet-stream", 415, "unsupported_media_type"),
        (b"abc", "multipart/form-data", 415, "unsupported_media_type"),  # no boundary
    ],
)
def test_malformed_bodies(client: TestClient, content: bytes, ctype: str, status: int, code: str) -> None:
    r = client.post("/upload", content=content, headers={"content-type": ctype})
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text


def test_two_file_parts_are_refused(client: TestClient) -> None:
    r = client.post("/upload", files=[("file", ("a", b"1")), ("file", ("b", b"2"))])
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"


def test_oversized_field_is_refused(client: TestClient) -> None:
    r = client.post("/upload", files={"file": ("a", b"1")}, data={"mode": "x" * 10000})
    assert r.status_code == 400 and "mode" in r.json()["error"]["message"]


@pytest.mark.parametrize("field", ["video", "upload"])
def test_a_file_under_another_field_name_says_which_field_is_expected(client: TestClient, field: str) -> None:
    r = client.post("/upload", files={field: ("x.mp4", b"\0" * 20_000)})  # larger than a form field may be
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    message = r.json()["error"]["message"]
    assert message.startswith("expected a file in field 'file'") and repr(field) in message, message


def test_no_file_at_all_says_which_field_is_expected(client: TestClient) -> None:
    r = client.post("/upload", data={"budget": "0.5"}, files={"x": (None, b"0.5")})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("expected a file in field 'file'")
