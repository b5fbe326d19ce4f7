"""The recognizer end to end on real encoded videos with a small locally initialised model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch

from pipelines.errors import OptionsError, VideoError
from pipelines.options import Options, parse_options
from pipelines.recognizer import Recognizer
from pipelines.results import RESULT_SCHEMA

from ..helpers import tiny_checkpoint, write_test_video

SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "result.schema.json"


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    path = tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors")
    return Recognizer(path, isolate=True, decode_timeout_s=60)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_video(tmp_path_factory.mktemp("video") / "clip.mp4", frames=160, fps=16)


def test_result_matches_schema_and_documented_schema(recognizer: Recognizer, video: Path) -> None:
    result = recognizer.recognize(video, Options(budget=0.25, top_k=2)).to_dict()
    jsonschema.validate(result, RESULT_SCHEMA)
    assert json.loads(SCHEMA_DOC.read_text()) == RESULT_SCHEMA
    assert result["video"] == "clip.mp4"
    assert result["num_frames"] == 160 and abs(result["duration"] - 10.0) < 0.2
    assert len(result["labels"]) == 2
    assert [s["index"] for s in result["snippets"]] == list(range(20))  # 160 frames / 8
    first, last = result["snippets"][0], result["snippets"][-1]
    assert first["frames"] == [0, 8] and last["frames"] == [152, 160]
    assert first["start"] == 0.0 and abs(last["end"] - 10.0) < 1e-6


def test_budget_controls_how_many_snippets_are_selected(recognizer: Recognizer, video: Path) -> None:
    counts = []
    for budget in (0.1, 0.25, 0.5, 1.0):
        result = recognizer.recognize(video, Options(budget=budget))
        counts.append(result.compute.snippets_selected)
        assert result.compute.snippets_selected == int(np.ceil(budget * 20))
    assert counts == sorted(counts)
    capped = recognizer.recognize(video, Options(max_selected=3))
    assert capped.compute.snippets_selected == 3
    dense = recognizer.recognize(video, Options(mode="dense"))
    assert dense.compute.snippets_selected == 20 and all(s.selected for s in dense.snippets)
    gated = recognizer.recognize(video, Options(budget=0.25))
    assert gated.compute.gflops < dense.compute.gflops
    assert gated.compute.gflops_saved_fraction > 0.4
    assert dense.compute.gflops_saved_fraction == pytest.approx(0.0, abs=1e-6)


def test_selected_snippets_are_the_top_gate_scores(recognizer: Recognizer, video: Path) -> None:
    result = recognizer.recognize(video, Options(max_selected=4))
    gates = sorted((s.gate_score for s in result.snippets), reverse=True)
    assert sorted(s.gate_score for s in result.snippets if s.selected) == sorted(gates[:4])


def test_uniform_and_random_baselines(recognizer: Recognizer, video: Path) -> None:
    uniform = recognizer.recognize(video, Options(mode="uniform", budget=0.25))
    chosen = [s.index for s in uniform.snippets if s.selected]
    assert len(chosen) == 5 and chosen == sorted(set(chosen))
    assert max(np.diff(chosen)) - min(np.diff(chosen)) <= 1
    a = recognizer.recognize(video, Options(mode="random", budget=0.25, seed=1))
    b = recognizer.recognize(video, Options(mode="random", budget=0.25, seed=1))
    assert [s.selected for s in a.snippets] == [s.selected for s in b.snippets]


def test_file_object_input(recognizer: Recognizer, video: Path) -> None:
    result = recognizer.recognize(io.BytesIO(video.read_bytes()), Options(budget=0.25), name="upload.mp4")
    assert result.video == "upload.mp4" and result.num_frames == 160


def test_bad_options_and_bad_input(recognizer: Recognizer, tmp_path: Path) -> None:
    with pytest.raises(OptionsError):
        parse_options({"budget": 1.5})
    with pytest.raises(OptionsError):
        parse_options({"mode": "uniform"})
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError) as info:
        recognizer.recognize(empty)
    assert info.value.code == "empty_file"
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(VideoError) as info:
        recognizer.recognize(text)
    assert info.value.code == "not_a_video"


def test_video_shorter_than_one_snippet(recognizer: Recognizer, tmp_path: Path) -> None:
    short = write_test_video(tmp_path / "short.mp4", frames=5, fps=10)
    result = recognizer.recognize(short, Options())
    assert [s.frames for s in result.snippets] == [(0, 5)]
    assert result.snippets[0].selected and result.compute.snippets_total == 1


def test_snippets_decoded_on_the_way_are_reused_with_identical_results(tmp_path: Path) -> None:
    from pipelines.decoding import probe
    from pipelines.recognizer import passed_snippets

    video = write_test_video(tmp_path / "long_gop.mp4", frames=320, fps=16, gop=160)  # 40 snippets, 2 GOPs
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    plan = Recognizer(path, isolate=False).plan(320, 16)
    passed = passed_snippets(plan, probe(video).keyframes)
    # Snippets starting less than a snippet after a keyframe are cheap to decode later: not kept.
    assert passed == [i for i in range(40) if i not in (0, 20)]
    assert passed_snippets(plan, tuple(range(0, 320, 8))) == []  # a keyframe at every snippet: nothing passes
    reusing = Recognizer(path, isolate=True).recognize(video, Options(budget=0.5))
    decoding = Recognizer(path, isolate=True, retain_passed=False).recognize(video, Options(budget=0.5))
    assert [s.selected for s in reusing.snippets] == [s.selected for s in decoding.snippets]
    tolerance = 1e-3 if torch.cuda.is_available() else 1e-5
    # (on a GPU the heavy network runs in fp16, and batches of other sizes round differently)
    assert [lab.score for lab in reusing.labels] == pytest.approx([lab.score for lab in decoding.labels], abs=tolerance)


def test_an_answer_does_not_depend_on_earlier_calls(tmp_path: Path) -> None:
    """The model stays in eval mode: no dropout, no batch statistics, whatever ran before."""
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    first = write_test_video(tmp_path / "first.mp4", frames=200, fps=16)
    other = write_test_video(tmp_path / "other.mp4", frames=72, fps=12)
    fresh = Recognizer(path, isolate=False).recognize(first, Options(budget=0.5))
    used = Recognizer(path, isolate=False)
    for video in (other, first, other):
        used.recognize(video, Options(budget=0.5))
        used.recognize(video, Options(mode="dense"))
    assert not any(m.training for m in used.model.modules())
    again = used.recognize(first, Options(budget=0.5))
    assert [s.gate_score for s in again.snippets] == [s.gate_score for s in fresh.snippets]
    assert again.labels == fresh.labels
