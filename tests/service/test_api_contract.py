"""The OpenAPI document states what the API refuses, and the API refuses it as documented.

Each case is checked twice: in the app's /openapi.json (the constraint, and the status with its code in the
error schema) and against the running app (the status and the code). The reliability run
(bench/reliability, ``schemathesis run --checks all``) generates cases from the same document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from pipelines.options import OPTION_NAMES
from service.api.app import create_app

from .api_support import Files, make_files, post_video, settings_for, wait_for

KEY = {"X-API-Key": "contract-key"}
UPLOADS = ("/v1/jobs", "/v1/classify")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return make_files(tmp_path_factory.mktemp("contract-files"))


@pytest.fixture(scope="module")
def client(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = settings_for(tmp_path_factory.mktemp("contract-data"), files, api_keys=["contract-key"])
    with TestClient(create_app(settings), headers=KEY) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    document: dict[str, Any] = r.json()
    return document


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _documents(spec: dict[str, Any], method: str, path: str, status: int, code: str) -> None:
    """The operation documents ``status`` with the error body, and names ``code`` among its causes."""
    entry = spec["paths"][path][method]["responses"].get(str(status))
    assert entry is not None, f"{method.upper()} {path} does not document {status}"
    schema = _resolve(spec, entry["content"]["application/json"]["schema"])
    assert "error" in schema["required"], schema
    assert f"`{code}`" in entry["description"], entry["description"]


def _refused(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code and body["error"]["message"], body


def _form(spec: dict[str, Any], path: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    return schema


@pytest.mark.parametrize("path", UPLOADS)
def test_an_unknown_form_field_is_documented_as_refused_and_refused(
        client: TestClient, spec: dict[str, Any], files: Files, path: str) -> None:
    form = _form(spec, path)
    assert form["additionalProperties"] is False
    assert set(form["properties"]) == {"file", *OPTION_NAMES}  # the fields come from `Options`
    _documents(spec, "post", path, 400, "bad_options")
    r = post_video(client, files.good, url=path, colour="red")
    _refused(r, 400, "bad_options")
    assert "colour" in r.json()["error"]["message"]


@pytest.mark.parametrize("path", UPLOADS)
def test_an_empty_file_is_documented_as_refused_and_refused(
        client: TestClient, spec: dict[str, Any], files: Files, path: str) -> None:
    assert _form(spec, path)["properties"]["file"]["minLength"] == 1
    _documents(spec, "post", path, 422, "empty_file")
    _refused(post_video(client, files.empty, url=path), 422, "empty_file")


def test_the_form_schema_refuses_what_the_options_refuse(spec: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(_form(spec, "/v1/jobs"))
    assert validator.is_valid({"file": "v", "mode": "uniform", "budget": 0.5})
    for bad in ({"file": "v", "mode": "uniform"}, {"file": "v", "colour": "red"}, {"file": ""},
                {"file": "v", "max_selected": 10**23}, {"mode": "dense"}):
        assert not validator.is_valid(bad), bad


def test_an_empty_or_foreign_cursor_is_documented_as_refused_and_refused(
        client: TestClient, spec: dict[str, Any]) -> None:
    cursor = next(p for p in spec["paths"]["/v1/jobs"]["get"]["parameters"] if p["name"] == "cursor")
    string = next(s for s in cursor["schema"]["anyOf"] if s.get("type") == "string")
    assert string["minLength"] == 1 and string["pattern"]
    _documents(spec, "get", "/v1/jobs", 422, "validation_error")
    _refused(client.get("/v1/jobs", params={"cursor": ""}), 422, "validation_error")
    _documents(spec, "get", "/v1/jobs", 400, "bad_cursor")
    _refused(client.get("/v1/jobs", params={"cursor": "abc"}), 400, "bad_cursor")


def test_an_idempotent_repeat_is_still_validated(client: TestClient, files: Files) -> None:
    first = post_video(client, files.good, headers={**KEY, "Idempotency-Key": "contract-1"})
    assert first.status_code == 202, first.text
    _refused(post_video(client, files.good, headers={**KEY, "Idempotency-Key": "contract-1"}, budget=2),
             400, "bad_options")
    _refused(post_video(client, files.empty, headers={**KEY, "Idempotency-Key": "contract-1"}), 422, "empty_file")
    again = post_video(client, files.good, headers={**KEY, "Idempotency-Key": "contract-1"})
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    _refused(post_video(client, files.good, headers={**KEY, "Idempotency-Key": ""}), 422, "validation_error")


def _concrete(path: str) -> str:
    return path.replace("{job_id}", "no-such-job").replace("{index}", "0").replace("{name}", "m").replace(
        "{kernel}", "0")


def test_options_is_405_with_allow_listing_the_documented_methods(client: TestClient, spec: dict[str, Any]) -> None:
    for path, operations in spec["paths"].items():
        r = client.options(_concrete(path))
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed", (path, r.text)
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        assert allowed == {m.upper() for m in operations}, (path, r.headers["allow"])
    r = client.put("/v1/jobs")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"


def test_every_error_status_is_documented_with_the_error_body(spec: dict[str, Any]) -> None:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "500" in responses, f"{method.upper()} {path}"
            for status, entry in responses.items():
                if int(status) < 400 or path == "/readyz":  # /readyz answers 503 with its checks
                    continue
                schema = _resolve(spec, entry["content"]["application/json"]["schema"])
                assert schema["properties"]["error"] and "error" in schema["required"], (method, path, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_a_deleted_job_is_gone(client: TestClient, spec: dict[str, Any], files: Files) -> None:
    """DELETE removes a job, finished or not (an unfinished one: tests/service/test_api_faults.py); every later
    request for it is 404, as documented."""
    job_id = post_video(client, files.good).json()["id"]
    assert wait_for(client, job_id)["status"] == "succeeded"
    assert set(spec["paths"]["/v1/jobs/{job_id}"]["delete"]["responses"]) >= {"204", "404"}
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    for url in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/snippets/0/thumbnail", f"/v1/jobs/{job_id}/evidence"):
        _refused(client.get(url), 404, "not_found")
    _refused(client.delete(f"/v1/jobs/{job_id}"), 404, "not_found")
    _refused(client.post(f"/v1/jobs/{job_id}/cancel"), 404, "not_found")


def test_a_finished_job_has_nothing_to_cancel_as_documented(client: TestClient, spec: dict[str, Any],
                                                           files: Files) -> None:
    path = "/v1/jobs/{job_id}/cancel"
    assert "202" in spec["paths"][path]["post"]["responses"]
    _documents(spec, "post", path, 404, "not_found")
    _documents(spec, "post", path, 409, "job_finished")
    job_id = post_video(client, files.good).json()["id"]
    assert wait_for(client, job_id)["status"] == "succeeded"
    _refused(client.post(f"/v1/jobs/{job_id}/cancel"), 409, "job_finished")
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"  # unchanged
    _refused(client.post("/v1/jobs/no-such-job/cancel"), 404, "not_found")


@pytest.mark.parametrize("seconds", ["1e-233", "0.5000000001", "0.25", "10.5", "-0.5"])
def test_a_context_length_off_the_half_second_steps_is_refused(
        client: TestClient, spec: dict[str, Any], seconds: str) -> None:
    path = "/v1/jobs/{job_id}/snippets/{index}/context"
    parameter = next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "seconds")
    assert parameter["schema"]["multipleOf"] == 0.5
    _documents(spec, "get", path, 422, "validation_error")
    _refused(client.get(_concrete(path), params={"seconds": seconds}), 422, "validation_error")


@pytest.mark.parametrize(("field", "value"), [("budget", " 0.5"), ("mode", " "), ("top_k", "5 ")])
def test_a_form_value_with_spaces_around_it_is_refused(client: TestClient, files: Files, field: str,
                                                       value: str) -> None:
    fields: dict[str, Any] = {field: value}
    r = post_video(client, files.good, **fields)
    _refused(r, 400, "bad_options")
    assert field in r.json()["error"]["message"]


def test_an_empty_form_value_means_not_given_as_documented(client: TestClient, spec: dict[str, Any],
                                                           files: Files) -> None:
    properties = _form(spec, "/v1/jobs")["properties"]
    assert "" in properties["mode"]["enum"] and properties["budget"]["maxLength"] == 0
    r = post_video(client, files.good, budget="", mode="", top_k="")
    assert r.status_code == 202, r.text
    assert r.json()["options"]["mode"] == "gated" and r.json()["options"]["budget"] is None


@pytest.mark.parametrize(("field", "value"), [("evidence", "0"), ("evidence", "yes"), ("budget", ".5"),
                                              ("top_k", "1_0"), ("top_k", "5.0"), ("budget", "NaN")])
def test_a_form_value_is_read_as_json_writes_it(client: TestClient, files: Files, field: str, value: str) -> None:
    fields: dict[str, Any] = {field: value}
    r = post_video(client, files.good, **fields)
    _refused(r, 400, "bad_options")
    assert field in r.json()["error"]["message"]


def test_a_form_part_without_a_name_is_refused(client: TestClient, spec: dict[str, Any], files: Files) -> None:
    """The form admits no field outside its properties, and a part named "" is such a field."""
    boundary = "contract"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name=""\r\n\r\nnull\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="v.mp4"\r\n\r\n').encode()
    body += files.good.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    _documents(spec, "post", "/v1/jobs", 400, "bad_request")
    r = client.post("/v1/jobs", content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    _refused(r, 400, "bad_request")
