"""The jobs API in embedded mode through FastAPI's TestClient: real model, real videos, real worker threads."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipelines.results import RESULT_SCHEMA
from service.api.app import create_app

from ..helpers import wait_until
from .api_support import Files, make_files, post_video, settings_for, wait_for


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return make_files(tmp_path_factory.mktemp("api-files"))


@pytest.fixture(scope="module")
def client(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = settings_for(tmp_path_factory.mktemp("api-data"), files, max_upload_bytes=2_000_000)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def finished(client: TestClient, files: Files) -> dict[str, Any]:
    r = post_video(client, files.good, budget=0.25, top_k=2)
    assert r.status_code == 202, r.text
    return wait_for(client, r.json()["id"])


def _error(r: object, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


def test_submit_returns_202_with_links_then_the_job_succeeds(client: TestClient, files: Files) -> None:
    r = post_video(client, files.good, mode="dense")
    assert r.status_code == 202, r.text
    body = r.json()
    assert len(body["id"]) >= 20  # 128 random bits
    assert r.headers["location"] == f"/v1/jobs/{body['id']}" == body["links"]["self"]
    assert body["status"] in ("queued", "running", "succeeded")
    assert body["input"]["filename"] == "good.mp4" and body["input"]["size"] == files.good.stat().st_size
    assert "key" not in body["input"]  # storage keys are never shown
    done = wait_for(client, body["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["compute"]["selected_fraction"] == 1.0


def test_finished_job_has_result_timestamps_progress_and_thumbnails(client: TestClient,
                                                                    finished: dict[str, Any]) -> None:
    assert finished["status"] == "succeeded", finished
    jsonschema.validate(finished["result"], RESULT_SCHEMA)
    assert len(finished["result"]["labels"]) == 2
    assert finished["created_at"] <= finished["started_at"] <= finished["finished_at"]
    assert finished["progress"]["fraction"] == 1.0
    selected = [s["index"] for s in finished["result"]["snippets"] if s["selected"]]
    assert selected and len(finished["links"]["thumbnails"]) == len(selected)
    r = client.get(finished["links"]["thumbnails"][0])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).format == "JPEG"


def test_clip_is_an_mp4_made_on_first_request(client: TestClient, finished: dict[str, Any], tmp_path: Path) -> None:
    import av

    index = next(s["index"] for s in finished["result"]["snippets"] if s["selected"])
    r = client.get(f"/v1/jobs/{finished['id']}/snippets/{index}/clip")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    out = tmp_path / "clip.mp4"
    out.write_bytes(r.content)
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 1
    assert client.get(f"/v1/jobs/{finished['id']}/snippets/{index}/clip").content == r.content  # cached


def test_context_clip_covers_seconds_around_any_snippet(
    client: TestClient, finished: dict[str, Any], tmp_path: Path
) -> None:
    from pipelines.decoding import probe

    snippets = finished["result"]["snippets"]
    index = next(s["index"] for s in snippets if not s["selected"] and 2 < s["index"] < len(snippets) - 3)
    r = client.get(f"/v1/jobs/{finished['id']}/snippets/{index}/context", params={"seconds": 1})
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4", r.text
    (tmp_path / "context.mp4").write_bytes(r.content)
    assert probe(tmp_path / "context.mp4").num_frames == 8 + 2 * 12  # the snippet and 1 s (12 frames) each side
    default = client.get(f"/v1/jobs/{finished['id']}/snippets/0/context")  # 2 s, cut at the video's start
    (tmp_path / "start.mp4").write_bytes(default.content)
    assert probe(tmp_path / "start.mp4").num_frames == 8 + 24
    _error(client.get(f"/v1/jobs/{finished['id']}/snippets/0/context", params={"seconds": 11}), 422,
           "validation_error")


@pytest.mark.parametrize("kind", ["thumbnail", "clip", "context"])
def test_media_routes_answer_byte_ranges_with_206(client: TestClient, finished: dict[str, Any], kind: str) -> None:
    index = next(s["index"] for s in finished["result"]["snippets"] if s["selected"])
    url = f"/v1/jobs/{finished['id']}/snippets/{index}/{kind}"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    for header, first, last in (("bytes=0-99", 0, 99), ("bytes=100-", 100, size - 1), ("bytes=-50", size - 50,
                                                                                           size - 1)):
        part = client.get(url, headers={"Range": header})
        assert part.status_code == 206, (header, part.text)
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.content == whole.content[first : last + 1]
    beyond = _error(client.get(url, headers={"Range": f"bytes={size}-"}), 416, "range_not_satisfiable")
    assert beyond["error"]["message"]
    assert client.get(url, headers={"Range": f"bytes={size}-"}).headers["content-range"] == f"bytes */{size}"
    assert client.get(url, headers={"Range": "bytes=0-1,5-9"}).status_code == 200  # several ranges: all of it


def test_artifact_of_unknown_snippet_is_404(client: TestClient, finished: dict[str, Any]) -> None:
    _error(client.get(f"/v1/jobs/{finished['id']}/snippets/999/thumbnail"), 404, "not_found")


def _evidence_jobs(client: TestClient, job_id: str) -> list[Any]:
    """The API's evidence jobs for ``job_id``, straight from the queue (the listing leaves them out)."""
    from service.jobs import JobKind

    queue = client.app.state.services.queue  # type: ignore[attr-defined]
    jobs, _ = queue.list(limit=200)
    return [j for j in jobs if j.kind is JobKind.EVIDENCE and j.input == {"job": job_id}]


def _evidence_when_ready(client: TestClient, url: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(url)
        if r.status_code != 202:
            return r
        assert r.json()["status"] in ("queued", "running") and r.json()["snippets"] is None
        assert r.headers["retry-after"] == "1"
        if time.monotonic() > deadline:
            raise AssertionError(f"evidence still {r.json()['status']} after {timeout} s")
        time.sleep(0.1)


def test_evidence_is_computed_once_on_request_then_served_from_storage(client: TestClient, files: Files) -> None:
    """A job submitted without ``evidence`` has none in its result; the first request enqueues one evidence job
    (however many requests come while it runs), whose worker keeps the evidence beside the result; later
    requests are served from there. It equals what asking for it at submission gives."""
    from service.storage import evidence_key, head_input_key, result_key

    storage = client.app.state.services.storage  # type: ignore[attr-defined]
    job = wait_for(client, post_video(client, files.good, budget=0.25, top_k=2).json()["id"])
    asked = wait_for(client, post_video(client, files.good, budget=0.25, top_k=2, evidence="true").json()["id"])
    assert job["status"] == asked["status"] == "succeeded"
    assert all(s["evidence"] is None for s in job["result"]["snippets"])
    url = job["links"]["evidence"]
    assert url == f"/v1/jobs/{job['id']}/evidence"
    # The worker writes a job's files once its outcome is recorded: what the head read, when not asked for.
    wait_until(lambda: storage.exists(head_input_key(job["id"])), timeout=30, what="head input stored")
    wait_until(lambda: storage.exists(result_key(asked["id"])), timeout=30, what="result stored")
    assert not storage.exists(evidence_key(job["id"])) and not storage.exists(head_input_key(asked["id"]))

    first = [client.get(url) for _ in range(3)]  # the first enqueues; the others find that job, or its evidence
    assert first[0].status_code == 202 and first[0].json()["status"] == "queued"
    assert all(r.status_code in (200, 202) for r in first)
    ready = _evidence_when_ready(client, url)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "succeeded" and body["links"]["self"] == url
    labels = [label["label"] for label in job["result"]["labels"]]
    for s, e in zip(job["result"]["snippets"], body["snippets"], strict=True):
        assert e["index"] == s["index"] and [x["label"] for x in e["evidence"]] == (labels if s["selected"] else [])
    inline = [{"index": s["index"], "evidence": s["evidence"]} for s in asked["result"]["snippets"]]
    assert body["snippets"] == inline  # the same selection, the same terms

    assert len(_evidence_jobs(client, job["id"])) == 1
    wait_until(lambda: storage.exists(evidence_key(job["id"])), timeout=30, what="evidence kept")
    assert storage.read_json(evidence_key(job["id"]))["snippets"] == body["snippets"]
    storage.delete_prefix(head_input_key(job["id"]))  # nothing left to compute from: served from the kept copy
    again = client.get(url)
    assert again.status_code == 200 and again.json() == body and len(_evidence_jobs(client, job["id"])) == 1
    from_result = client.get(asked["links"]["evidence"])  # asked for at submission: in the result, no job
    assert from_result.status_code == 200 and from_result.json()["snippets"] == inline
    assert _evidence_jobs(client, asked["id"]) == []
    evidence_job = _evidence_jobs(client, job["id"])[0]
    assert evidence_job.id not in {j["id"] for j in client.get("/v1/jobs", params={"limit": 200}).json()["jobs"]}
    _error(client.get(f"/v1/jobs/{evidence_job.id}"), 404, "not_found")  # the API's own, not a client's job


def test_evidence_of_a_job_that_kept_nothing_is_409(client: TestClient, files: Files) -> None:
    from service.storage import head_input_key

    storage = client.app.state.services.storage  # type: ignore[attr-defined]
    job = wait_for(client, post_video(client, files.good, budget=0.25).json()["id"])
    wait_until(lambda: storage.exists(head_input_key(job["id"])), timeout=30, what="head input stored")
    storage.delete_prefix(head_input_key(job["id"]))
    body = _error(_evidence_when_ready(client, job["links"]["evidence"]), 409, "evidence_unavailable")
    assert "evidence" in body["error"]["message"]


def test_list_filters_by_status_and_paginates(client: TestClient, files: Files, finished: dict[str, Any]) -> None:
    ids = [post_video(client, files.good, budget=0.5).json()["id"] for _ in range(2)]
    for job_id in ids:
        wait_for(client, job_id)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, "status": "succeeded", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/jobs", params=params).json()
        assert len(page["jobs"]) <= 2
        assert all(j["status"] == "succeeded" and "result" not in j for j in page["jobs"])
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {*ids, finished["id"]} <= set(seen) and len(seen) == len(set(seen))
    assert client.get("/v1/jobs", params={"status": "failed"}).json()["jobs"] == []


def test_delete_finished_job_removes_it_and_its_artifacts(client: TestClient, files: Files) -> None:
    job = wait_for(client, post_video(client, files.good).json()["id"])
    thumbnail = job["links"]["thumbnails"][0]
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    _error(client.get(f"/v1/jobs/{job['id']}"), 404, "not_found")
    _error(client.get(thumbnail), 404, "not_found")
    _error(client.delete(f"/v1/jobs/{job['id']}"), 404, "not_found")


def test_idempotency_key_returns_the_first_job(client: TestClient, files: Files) -> None:
    headers = {"Idempotency-Key": "upload-42"}
    first = post_video(client, files.good, headers=headers)
    second = post_video(client, files.good, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    other = post_video(client, files.good, headers={"Idempotency-Key": "upload-43"})
    assert other.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"budget": 2}, "budget"), ({"mode": "psychic"}, "mode"), ({"top_k": "many"}, "top_k"),
     ({"colour": "red"}, "colour")],
)
def test_bad_options_are_400(client: TestClient, files: Files, fields: dict[str, Any], message: str) -> None:
    body = _error(post_video(client, files.good, **fields), 400, "bad_options")
    assert message in body["error"]["message"]


def test_bad_option_in_query_is_refused_before_upload(client: TestClient, files: Files) -> None:
    _error(post_video(client, files.good, url="/v1/jobs?budget=-1"), 400, "bad_options")


@pytest.mark.parametrize(("name", "status", "code"), [("text", 415, "not_a_video"), ("audio", 415, "no_video_stream"),
                                                      ("empty", 422, "empty_file")])
def test_non_videos_are_refused_by_content(client: TestClient, files: Files, name: str, status: int,
                                           code: str) -> None:
    body = _error(post_video(client, getattr(files, name)), status, code)
    assert "/" not in body["error"]["message"].split(":")[0]  # the client's name, never a server path


def test_upload_over_the_limit_is_413_while_streaming(client: TestClient, files: Files) -> None:
    def body() -> Iterator[bytes]:
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n\r\n"
        for _ in range(100):  # 100 × 64 KiB = 6.4 MB, over the 2 MB limit; no Content-Length
            yield b"\0" * 65536
        yield b"\r\n--b--\r\n"

    r = client.post("/v1/jobs", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
    _error(r, 413, "file_too_large")
    declared = client.post("/v1/jobs", content=b"x", headers={"content-type": "multipart/form-data; boundary=b",
                                                                "content-length": str(50_000_000)})
    _error(declared, 413, "file_too_large")


def test_malformed_requests(client: TestClient, files: Files) -> None:
    _error(client.post("/v1/jobs", content=b"{}", headers={"content-type": "application/json"}),
           415, "unsupported_media_type")
    _error(client.post("/v1/jobs", files={"video": ("a.mp4", b"123")}), 400, "bad_request")
    _error(client.get("/v1/jobs", params={"limit": 0}), 422, "validation_error")
    _error(client.get("/v1/jobs", params={"status": "sleeping"}), 422, "validation_error")
    _error(client.get("/v1/nothing-here"), 404, "not_found")
    _error(client.put("/v1/jobs"), 405, "method_not_allowed")
    _error(client.get("/v1/jobs/not-a-real-id"), 404, "not_found")


def test_client_file_name_never_becomes_a_path(client: TestClient, files: Files) -> None:
    for name in ("../../../etc/passwd.mp4", "..\\..\\windows\\passwd.mp4"):
        with files.good.open("rb") as f:
            r = client.post("/v1/jobs", files={"file": (name, f, "video/mp4")})
        assert r.status_code == 202, r.text
        assert r.json()["input"]["filename"] == "passwd.mp4"
    job = wait_for(client, r.json()["id"])
    assert job["result"]["video"] == "passwd.mp4"


def test_classify_waits_for_the_result(client: TestClient, files: Files) -> None:
    r = post_video(client, files.good, url="/v1/classify", budget=0.25)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded" and r.json()["result"]["labels"]


def test_classify_returns_202_when_the_wait_runs_out(client: TestClient, files: Files) -> None:
    r = post_video(client, files.long, url="/v1/classify?timeout=0.01", mode="dense")
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["links"]["self"]
    wait_for(client, r.json()["id"])


def test_models_health_and_metrics(client: TestClient, finished: dict[str, Any]) -> None:
    models = client.get("/v1/models").json()
    assert models["models"][0]["classes"] == ["pour", "stir", "wait"]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    text = client.get("/metrics").text
    for name in ("vidgate_jobs{status=\"succeeded\"}", "vidgate_queue_depth", "vidgate_stage_seconds_bucket",
                 "vidgate_selected_fraction_count", "vidgate_gflops_saved_total"):
        assert name in text, name


def test_concept_examples_of_the_model(client: TestClient, files: Files, tmp_path: Path) -> None:
    import base64

    body = client.get("/v1/models/tiny-test/concepts/3")
    assert body.status_code == 200, body.text
    assert body.json()["model"] == "tiny-test" and body.json()["kernel"] == 3
    examples = body.json()["examples"]
    assert 1 <= len(examples) <= 2 and {e["video"] for e in examples} <= {"good.mp4", "long.mp4"}
    assert [e["activation"] for e in examples] == sorted((e["activation"] for e in examples), reverse=True)
    head, _, data = examples[0]["image"].partition(",")
    assert head == "data:image/jpeg;base64"
    assert Image.open(io.BytesIO(base64.b64decode(data))).format == "JPEG"
    _error(client.get("/v1/models/tiny-test/concepts/8"), 404, "not_found")  # 8 kernels: 0..7
    _error(client.get("/v1/models/other/concepts/0"), 404, "not_found")
    _error(client.get("/v1/models/tiny-test/concepts/-1"), 422, "validation_error")


def test_a_model_without_concept_examples_says_so(files: Files, tmp_path: Path) -> None:
    from ..helpers import tiny_checkpoint

    plain = tiny_checkpoint(tmp_path / "plain.safetensors")
    settings = settings_for(tmp_path / "data", files, checkpoint=plain, workers=0)
    with TestClient(create_app(settings)) as c:
        body = _error(c.get("/v1/models/tiny-test/concepts/0"), 404, "not_found")
    assert "no concept examples" in body["error"]["message"]


def test_openapi_documents_every_route_and_error_shape(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/snippets/{index}/thumbnail",
                 "/v1/jobs/{job_id}/snippets/{index}/clip", "/v1/jobs/{job_id}/snippets/{index}/context",
                 "/v1/jobs/{job_id}/evidence",
                 "/v1/classify", "/v1/models", "/v1/models/{name}/concepts/{kernel}", "/healthz", "/readyz",
                 "/metrics"):
        assert path in paths, path
    post = paths["/v1/jobs"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    for status in ("413", "415", "429"):
        assert post["responses"][status]["content"]["application/json"]["example"]["error"]["code"]
    assert "ErrorBody" in spec["components"]["schemas"]
