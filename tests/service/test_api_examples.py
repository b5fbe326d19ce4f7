"""The model card on ``GET /v1/models`` and the example videos (``/v1/examples``), with the shipped demo model and
with a model that knows none of the examples' classes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from models.card import SYNTHETIC_MEANING
from models.checkpoint import DEMO_CHECKPOINT, read_card
from service.api.app import create_app
from service.examples import load_examples

from .api_support import Files, make_files, settings_for, wait_for


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return make_files(tmp_path_factory.mktemp("example-files"))


@pytest.fixture(scope="module")
def demo(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = settings_for(tmp_path_factory.mktemp("demo-data"), files, checkpoint=DEMO_CHECKPOINT)
    with TestClient(create_app(settings)) as c:
        yield c


def test_models_serve_the_card_with_classes_data_figures_and_limits(demo: TestClient) -> None:
    model: dict[str, Any] = demo.get("/v1/models").json()["models"][0]
    card = model["card"]
    assert model["name"] == card["name"] == "vidgate-demo" and model["synthetic"] is True
    assert card["classes"] == model["classes"] and len(card["classes"]) == 10
    assert card["data"]["synthetic"] is True and card["data"]["made_by"].startswith("vidgate synth")
    assert card["data"]["splits"] == {"train": 210, "val": 45, "test": 45}
    assert card["validation"]["videos"] == 45 and 0 <= card["validation"]["dense_accuracy"] <= 1
    assert card["test"]["videos"] == 45 and "gated threshold" in card["test"]["settings"]
    assert SYNTHETIC_MEANING in card["limits"] and card["intended_use"] and card["unknown"] == []
    assert card == read_card(DEMO_CHECKPOINT).to_dict()


def test_an_example_runs_without_an_upload_and_carries_its_truth(demo: TestClient) -> None:
    listed = demo.get("/v1/examples").json()["examples"]
    shipped = load_examples()
    assert [e["name"] for e in listed] == [e.name for e in shipped]
    example = shipped[0]
    r = demo.post(f"/v1/examples/{example.name}", params={"top_k": 2})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["links"]["self"]
    job = wait_for(demo, r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["input"]["example"] == example.name and job["input"]["filename"] == example.file
    assert job["input"]["truth"] == example.truth() and job["options"]["top_k"] == 2
    result = job["result"]
    assert result["model"]["synthetic"] is True and len(result["labels"]) == 2
    assert result["duration"] == pytest.approx(example.duration, abs=0.01)
    # artifacts of an example: the stored thumbnails, and a clip made on request from the shipped video
    selected = next(s["index"] for s in result["snippets"] if s["selected"])
    for kind in ("thumbnail", "clip"):
        media = demo.get(f"/v1/jobs/{job['id']}/snippets/{selected}/{kind}")
        assert media.status_code == 200 and media.content


def test_unknown_examples_and_bad_options_are_refused(demo: TestClient) -> None:
    r = demo.post("/v1/examples/no-such-video")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "activity_" in r.json()["error"]["message"]  # it names the ones there are
    r = demo.post(f"/v1/examples/{load_examples()[0].name}", params={"budget": 7})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_options"


def test_a_model_of_other_classes_has_no_examples_and_a_card_that_says_what_is_unknown(
        files: Files, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = settings_for(tmp_path_factory.mktemp("tiny-data"), files)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/examples").json() == {"examples": []}
        r = client.post(f"/v1/examples/{load_examples()[0].name}")
        assert r.status_code == 404 and "not of the served model's classes" in r.json()["error"]["message"]
        model = client.get("/v1/models").json()["models"][0]
        assert model["synthetic"] is None and "data.synthetic" in model["card"]["unknown"]
