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
    gates = sorted((s.gate_score or 0.0 for s in result.snippets), reverse=True)
    assert all(s.gate_score is not None for s in result.snippets)
    assert sorted(s.gate_score or 0.0 for s in result.snippets if s.selected) == sorted(gates[:4])


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


def test_gpu_decoding_for_a_model_off_the_gpu_is_a_bad_option(tmp_path: Path) -> None:
    """``torchcodec-cuda`` decodes onto the model's GPU; with the model elsewhere it would decode on a GPU in a
    memory-limited child only to copy every frame back: refused up front, whatever is installed."""
    with pytest.raises(OptionsError, match=r"'torchcodec-cuda'.*runs on cpu"):
        Recognizer(tiny_checkpoint(tmp_path / "tiny.safetensors"), device="cpu", backend="torchcodec-cuda")


def test_video_shorter_than_one_snippet(recognizer: Recognizer, tmp_path: Path) -> None:
    short = write_test_video(tmp_path / "short.mp4", frames=5, fps=10)
    result = recognizer.recognize(short, Options())
    assert [s.frames for s in result.snippets] == [(0, 5)]
    assert result.snippets[0].selected and result.compute.snippets_total == 1


def test_snippets_decoded_on_the_way_are_reused_with_identical_results(tmp_path: Path) -> None:
    from pipelines.decoding import probe
    from pipelines.planning import passed_snippets

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


def test_the_plan_defaults_to_what_the_model_was_trained_with(tmp_path: Path) -> None:
    """A model records how many snippets training planned per video; inference plans the same unless told."""
    from models import ModelConfig, VidGate, load_checkpoint, save_checkpoint

    config = ModelConfig(classes=("pour", "stir"), light="tiny2d", heavy="tiny3d", num_kernels=4, max_snippets=24)
    path = save_checkpoint(VidGate(config), tmp_path / "m24.safetensors")
    assert load_checkpoint(path)[0].config.max_snippets == 24
    hour = 12 * 3600  # frames of an hour at 12 fps: room for thousands of snippets
    assert len(Recognizer(path, isolate=False).plan(hour, 12.0)) == 24
    assert len(Recognizer(path, isolate=False, max_snippets=40).plan(hour, 12.0)) == 40
    assert len(Recognizer(path, isolate=False).plan(10 * 8, 12.0)) == 10  # a short video: what fits


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


def test_progress_names_every_stage_and_heavy_chunk(tmp_path: Path, video: Path) -> None:
    recognizer = Recognizer(tiny_checkpoint(tmp_path / "tiny.safetensors"), isolate=False, heavy_batch=2)
    seen: list[tuple[str, float]] = []
    recognizer.recognize(video, Options(budget=0.25), progress=lambda stage, f: seen.append((stage, f)))
    stages = [stage for stage, _ in seen]
    assert stages == ["probe", "light", "gate", "heavy 0/3", "heavy 1/3", "heavy 2/3", "heavy 3/3", "head", "done"]
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(f < 1.0 for f in fractions[:-1])
    dense: list[str] = []
    recognizer.recognize(video, Options(mode="dense"), progress=lambda stage, f: dense.append(stage))
    assert dense[0] == "probe" and dense[1] == "heavy 0/10" and dense[-3:] == ["heavy 10/10", "head", "done"]


def test_centre_frames_decoded_on_the_way_reach_the_sink(recognizer: Recognizer, video: Path) -> None:
    from pipelines.decoding import open_decoder

    def collect(options: Options) -> tuple[dict[int, np.ndarray], list[bool]]:
        frames: dict[int, np.ndarray] = {}
        result = recognizer.recognize(video, options, centre_frames=frames.update)
        return frames, [s.selected for s in result.snippets]

    gated, _ = collect(Options(budget=0.25))
    assert sorted(gated) == list(range(20))  # the light pass saw every snippet
    size = recognizer.config.light_size
    assert all(f.shape[-1] == 3 and f.shape[0] == f.shape[1] >= size and f.dtype == np.uint8 for f in gated.values())
    uniform, selected = collect(Options(mode="uniform", budget=0.25))
    assert sorted(uniform) == [i for i, s in enumerate(selected) if s]  # only what the heavy pass decoded
    with open_decoder(video) as decoder:  # the centre frame (frames 8i..8i+7: the centre is 8i + 4)
        want = decoder.frames([8 * 3 + 4], size=recognizer.config.heavy_size)[0].astype(int)
    dense, _ = collect(Options(mode="dense"))
    assert abs(dense[3].astype(int) - want).mean() < 2


@torch.no_grad()
def test_evidence_points_at_the_segments_that_make_the_label(tmp_path: Path) -> None:
    """A model whose answer is known: its head reads one direction of the heavy features, the one that
    tells "marker" snippets (white) from plain ones (grey). The marker snippets must argue for "marker"
    and against "plain", every other snippet the other way, and the terms must add up to the scores."""
    from models import ModelConfig, PoolHead, VidGate
    from pipelines.decoding import open_decoder
    from pipelines.encoding import write_video
    from pipelines.transforms import heavy_input

    markers = {3, 8}
    frames = [np.full((64, 64, 3), 255 if i // 8 in markers else 110, dtype=np.uint8) for i in range(96)]
    video = tmp_path / "markers.mp4"
    write_video(video, frames, fps=12, gop=8)
    torch.manual_seed(0)
    model = VidGate(ModelConfig(classes=("marker", "plain"), light="tiny2d", heavy="tiny3d", light_size=64,
                                heavy_size=64, num_kernels=4, head="pool")).eval()
    with open_decoder(video) as decoder:
        clips = decoder.frames([*range(24, 32), *range(0, 8)], size=64).reshape(2, 8, 64, 64, 3)
    marker, plain = model.encode_snippets(heavy_input(clips, model.config))  # (F,), (F,)
    # w: the marker-minus-plain direction, made orthogonal to the features' sum and to the constant
    # vector, so that a marker snippet's term is +a and a plain one's -a (LayerNorm centring cancels).
    q1 = torch.ones_like(marker) / marker.numel() ** 0.5
    q2 = (marker + plain) - ((marker + plain) @ q1) * q1
    q2 = q2 / q2.norm()
    w = marker - plain
    w = w - (w @ q1) * q1 - (w @ q2) * q2
    w = 0.1 * w / w.norm()  # moderate logits: both probabilities stay well above rounding
    head = model.head
    assert isinstance(head, PoolHead)
    head.norm.weight.fill_(1.0)
    head.norm.bias.zero_()
    head.fc.bias.zero_()
    head.fc.weight.zero_()
    features = marker.numel()
    head.fc.weight[0, :features] = w
    head.fc.weight[1, :features] = -w

    result = Recognizer(model, isolate=False).recognize(video, Options(mode="dense", top_k=2, evidence=True))
    scores = {label.label: label.score for label in result.labels}
    for s in result.snippets:
        assert s.evidence is not None
        terms = {e.label: e.score for e in s.evidence}
        assert set(terms) == {"marker", "plain"}
        sign = 1 if s.index in markers else -1
        assert sign * terms["marker"] > 0 and sign * terms["plain"] < 0, (s.index, terms)
    # Exact: log(p_marker / p_plain) is the sum of the snippets' term differences (the empty selection adds 0).
    total = sum(e.score * (1 if e.label == "marker" else -1) for s in result.snippets for e in s.evidence or ())
    assert abs(total) > 0.2 and np.log(scores["marker"] / scores["plain"]) == pytest.approx(total, abs=1e-2)


def test_only_selected_snippets_carry_evidence_for_the_returned_labels(recognizer: Recognizer, video: Path) -> None:
    result = recognizer.recognize(video, Options(budget=0.25, top_k=2, evidence=True))
    labels = [label.label for label in result.labels]
    for s in result.snippets:
        assert s.evidence is not None and [e.label for e in s.evidence] == (labels if s.selected else [])


@pytest.mark.parametrize("head", ["pool", "temporal"])
def test_evidence_only_when_asked_and_later_from_what_the_head_read(head: str, video: Path) -> None:
    """Without ``evidence`` no snippet carries any (null in JSON) and no time goes to it; what the head read,
    kept by the sink, gives later exactly the evidence that asking for it inline gives."""
    from models import ModelConfig, VidGate
    from pipelines.evidence import HeadInput

    torch.manual_seed(0)
    model = VidGate(ModelConfig(classes=("a", "b", "c", "d"), light="tiny2d", heavy="tiny3d", light_size=64,
                                heavy_size=64, num_kernels=4, head=head)).eval()
    kept: list[HeadInput] = []
    with Recognizer(model, isolate=False) as recognizer:
        plain = recognizer.recognize(video, Options(budget=0.25, top_k=3), head=kept.append)
        asked = recognizer.recognize(video, Options(budget=0.25, top_k=3, evidence=True), head=kept.append)
        assert len(kept) == 1  # the sink hears of the video whose evidence was not computed
        assert all(s.evidence is None for s in plain.snippets)
        assert all(s["evidence"] is None for s in plain.to_dict()["snippets"])
        assert plain.timings["evidence"] == 0.0 and asked.timings["evidence"] > 0.0
        assert [s.selected for s in plain.snippets] == [s.selected for s in asked.snippets]
        assert plain.labels == asked.labels
        stored = HeadInput.from_bytes(kept[0].to_bytes())
        later = recognizer.explain(stored, [label.label for label in plain.labels])
    assert later == [s.evidence for s in asked.snippets]
    assert any(later) and all(bool(e) == s.selected for e, s in zip(later, asked.snippets, strict=True))


def test_the_gate_selects_once_and_the_heavy_pass_reads_its_mask(video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy (budget, maximum, threshold, or the learned threshold) is applied once, by the gate; the
    snippets the heavy network encodes are exactly the mask the gate returned."""
    import models.gate
    import models.vidgate
    from models import ModelConfig, VidGate

    torch.manual_seed(0)
    model = VidGate(ModelConfig(classes=("a", "b"), light="tiny2d", heavy="tiny3d", light_size=64, heavy_size=64,
                                num_kernels=4)).eval()
    calls: list[torch.Tensor] = []

    def counted(*args: object, **kwargs: object) -> torch.Tensor:
        mask = models.gate.select_snippets(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(mask.clone())
        return mask

    monkeypatch.setattr(models.vidgate, "select_snippets", counted)
    encoded: list[int] = []
    encode = model.encode_snippets

    def counting_encode(snippets: torch.Tensor) -> torch.Tensor:
        encoded.append(snippets.shape[0])
        return encode(snippets)

    monkeypatch.setattr(model, "encode_snippets", counting_encode)
    with Recognizer(model, isolate=False) as recognizer:
        recognizer.profile.video(20, 1, gated=True)  # the FLOP count runs the gate once per shape: not a selection
        for options in (Options(), Options(budget=0.25), Options(max_selected=3), Options(threshold=0.5, budget=0.5)):
            calls.clear()
            encoded.clear()
            result = recognizer.recognize(video, options)
            assert len(calls) == 1, options
            assert calls[0][0].tolist() == [s.selected for s in result.snippets], options
            assert sum(encoded) == result.compute.snippets_selected == int(calls[0].sum()), options
        calls.clear()
        recognizer.recognize(video, Options(mode="uniform", budget=0.25))
        assert calls == []  # the baselines run no gate


RECORDING = "tests.pipelines.recording_backend:RecordingDecoder"


@pytest.fixture(scope="module")
def many_gops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """480 frames, a keyframe every 40: 12 GOPs, 60 snippets."""
    return write_test_video(tmp_path_factory.mktemp("gops") / "gops.mp4", frames=480, fps=16, gop=40)


def test_result_reports_decoding_cost(recognizer: Recognizer, video: Path) -> None:
    result = recognizer.recognize(video, Options(budget=0.25, light_pass="nonref"))
    c, t = result.compute, result.timings
    assert c.frames_in_video == 160 and 0 < c.frames_decoded_light <= c.frames_decoded <= 2 * 160
    assert c.decoded_fraction == pytest.approx(c.frames_decoded / 160, abs=1e-5)
    assert c.light_pass == "nonref" and c.largest_gap_s == 0.0  # 20 snippets tile 160 frames
    assert t["decode"] == pytest.approx(t["decode_light"] + t["decode_heavy"], abs=1e-5)
    exact = recognizer.recognize(video, Options(budget=0.25, light_pass="exact"))
    assert exact.compute.frames_decoded_light > c.frames_decoded_light  # non-reference frames skipped
    assert [s.gate_score for s in exact.snippets] == [s.gate_score for s in result.snippets]  # same pixels


def test_heavy_pass_decodes_only_gops_of_selected_snippets(many_gops: Path, tmp_path: Path) -> None:
    from pipelines.decoding import keyframe_before, probe
    from tests.pipelines.recording_backend import RecordingDecoder

    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    info = probe(many_gops)
    with Recognizer(path, isolate=False, backend=RECORDING, heavy_batch=2) as recognizer:
        result = recognizer.recognize(many_gops, Options(max_selected=3, light_pass="keyframe"))
    decoder = RecordingDecoder.instances[-1]
    selected = [s for s in result.snippets if s.selected]
    wanted_gops = {keyframe_before(info.keyframes, f) for s in selected for f in range(*s.frames)}
    heavy_frames = set().union(*(fed for _, fed in decoder.requests))
    assert {keyframe_before(info.keyframes, f) for f in heavy_frames} <= wanted_gops  # no GOP without a selection
    assert len(wanted_gops) <= 3 < len(info.keyframes or ())
    # the light pass decoded keyframes only; the heavy pass at most its GOPs' frames up to the snippets
    assert result.compute.frames_decoded_light == len({keyframe_before(info.keyframes, s.frames[0] + 4)
                                                       for s in result.snippets})
    assert result.compute.frames_decoded - result.compute.frames_decoded_light <= 3 * 40 + 3 * 3
    assert decoder.closed


def test_every_light_pass_runs_and_aligned_moves_snippets_to_keyframes(many_gops: Path, tmp_path: Path) -> None:
    from pipelines.decoding import probe

    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    keyframes = set(probe(many_gops).keyframes or ())
    with Recognizer(path, isolate=False, max_snippets=8) as recognizer:
        cost = {}
        for light_pass in ("exact", "nonref", "fast", "keyframe", "aligned", "auto"):
            result = recognizer.recognize(many_gops, Options(budget=0.5, light_pass=light_pass))
            cost[light_pass] = result.compute.frames_decoded_light
            assert result.compute.light_pass == (light_pass if light_pass != "auto" else "aligned")
        aligned = recognizer.recognize(many_gops, Options(budget=0.5, light_pass="aligned"))
        dense = recognizer.recognize(many_gops, Options(mode="dense", light_pass="aligned"))
    assert all(s.frames[0] in keyframes for s in aligned.snippets)  # 8 snippets, 12 keyframes
    assert [s.frames for s in dense.snippets] == [s.frames for s in aligned.snippets]  # one plan for every mode
    assert cost["keyframe"] == 8 and cost["aligned"] <= 8 + 4  # (+ look-ahead after the request's last frame)
    assert cost["aligned"] < cost["nonref"] < cost["exact"]
    assert cost["fast"] <= cost["nonref"]  # (nonref also finishes the clips it passes through)


def test_recognize_many_matches_one_by_one_and_reports_bad_input(video: Path, many_gops: Path, tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video\n" * 20)
    videos = [video, bad, many_gops, video]
    with Recognizer(path, isolate=True, decoders=2) as recognizer:
        alone = {v: recognizer.recognize(v, Options(budget=0.25)) for v in (video, many_gops)}
        together = list(recognizer.recognize_many(videos, Options(budget=0.25)))
    assert [p for p, _ in together] == videos
    assert isinstance(together[1][1], VideoError) and together[1][1].code == "not_a_video"
    for p, result in (together[0], together[2], together[3]):
        assert not isinstance(result, Exception)
        assert result.labels == alone[p].labels
        assert [s.selected for s in result.snippets] == [s.selected for s in alone[p].snippets]


def test_close_stops_decoding_children_and_threads(video: Path, tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    with Recognizer(path, isolate=True, decoders=2) as recognizer:
        recognizer.recognize(video, Options(budget=0.25))
        assert recognizer._pool is not None
        children = [c.process for c in recognizer._pool._idle]
        assert len(children) == 2 and all(p.poll() is None for p in children)
    assert all(p.poll() is not None for p in children)
    assert recognizer._prefetch._shutdown


def test_cancelled_heavy_pass_waits_for_its_prefetched_decode(many_gops: Path, tmp_path: Path) -> None:
    from pipelines.errors import Cancelled
    from tests.pipelines.recording_backend import RecordingDecoder

    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    calls = iter(range(1000))
    RecordingDecoder.slow_s = 0.3  # the next chunk is still decoding when the cancel lands
    try:
        with Recognizer(path, isolate=False, backend=RECORDING, heavy_batch=2) as recognizer, \
                pytest.raises(Cancelled):
            recognizer.recognize(many_gops, Options(mode="dense"), should_cancel=lambda: next(calls) >= 2)
    finally:
        RecordingDecoder.slow_s = 0.0
    decoder = RecordingDecoder.instances[-1]
    assert decoder.closed and not decoder.used_after_close
