"""The CUDA path gives the CPU path's answers (skipped on machines without a GPU).

On a GPU the recognizer's device loop runs the heavy network under fp16 autocast, batches the passes of the
videos in flight and converts the frames on the device; the gate, the selection and the labels must not
change because of it, and nothing on the way synchronises the device. GPU decoding (torchcodec on CUDA)
keeps the frames on the device; its tests skip where torchcodec cannot decode on CUDA.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models import DEMO_CHECKPOINT, load_checkpoint
from pipelines.decoding import gpu_decoding_works
from pipelines.options import Options
from pipelines.recognizer import Recognizer
from pipelines.results import RecognitionResult

from ..helpers import tiny_checkpoint, write_test_video

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_video(tmp_path_factory.mktemp("video") / "clip.mp4", frames=240, fps=12, size=(112, 112))


@pytest.mark.parametrize("checkpoint", ["tiny", "demo"])
def test_cuda_matches_cpu(checkpoint: str, video: Path, tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "tiny.safetensors") if checkpoint == "tiny" else DEMO_CHECKPOINT
    cpu = Recognizer(path, device="cpu", isolate=False)
    gpu = Recognizer(path, device="cuda", isolate=False)
    assert gpu.device.type == "cuda" and next(gpu.model.parameters()).is_cuda
    for options in (Options(mode="dense"), Options(budget=0.25), Options()):
        _assert_same(cpu.recognize(video, options), gpu.recognize(video, options), options, cpu)


def _assert_same(a: RecognitionResult, b: RecognitionResult, options: Options, cpu: Recognizer) -> None:
    """``b`` (CUDA) gives ``a``'s (CPU) answer: the same gate scores, selection and labels, up to rounding."""
    if options.gated:
        gates_a = torch.tensor([s.gate_score for s in a.snippets])
        gates_b = torch.tensor([s.gate_score for s in b.snippets])
        assert torch.allclose(gates_a, gates_b, atol=1e-3), (gates_a - gates_b).abs().max()
    else:  # no gate ran: no scores on either device
        assert all(s.gate_score is None for s in (*a.snippets, *b.snippets))
    flipped = [i for i, (s, t) in enumerate(zip(a.snippets, b.snippets, strict=True)) if s.selected != t.selected]
    # Only a near tie at the selection's boundary may go either way (the GPU rounds differently: cuDNN, TF32).
    if flipped:
        assert options.gated, flipped
        if options.budget is not None:
            assert a.compute.snippets_selected == b.compute.snippets_selected
        boundary = _boundary(a, options, cpu)
        assert all(abs(_score(a.snippets[i].gate_score) - boundary) < 2e-3 for i in flipped), flipped
        return
    scores_a = {label.label: label.score for label in a.labels}
    scores_b = {label.label: label.score for label in b.labels}
    assert a.labels[0].label == b.labels[0].label
    for name, score in scores_a.items():  # fp16 heavy features: small differences only
        assert abs(score - scores_b.get(name, score)) < 2e-2, (name, score, scores_b)
    assert a.compute == b.compute


def _boundary(result: RecognitionResult, options: Options, recognizer: Recognizer) -> float:
    """The gate score that separates selected from unselected snippets: the learned threshold, or midway
    between the last snippet a budget keeps and the first it leaves out."""
    if options.budget is None:
        return recognizer.config.threshold
    scores = sorted((_score(s.gate_score) for s in result.snippets), reverse=True)
    k = result.compute.snippets_selected
    return (scores[k - 1] + scores[k]) / 2


def test_checkpoint_loads_onto_the_gpu() -> None:
    model, _ = load_checkpoint(DEMO_CHECKPOINT, device=torch.device("cuda"))
    assert all(p.is_cuda for p in model.parameters())


def _score(value: float | None) -> float:
    assert value is not None  # a gate ran
    return value


def test_videos_in_flight_on_cuda_get_the_cpu_answers_without_synchronising_the_device(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    videos = [write_test_video(tmp_path / f"{i}.mp4", frames=frames, fps=12, size=(112, 112))
              for i, frames in enumerate((240, 96, 160))]
    cpu = Recognizer(path, device="cpu", isolate=False)
    with Recognizer(path, device="cuda", isolate=False, heavy_batch=4) as gpu:
        gpu.recognize(videos[0], Options())  # CUDA's first use (context, kernels) before the device is watched

        def forbidden(*args: object, **kwargs: object) -> None:
            raise AssertionError("the hot path synchronised the whole device")

        monkeypatch.setattr(torch.cuda, "synchronize", forbidden)
        gpu.loop.wait_s = 30.0  # a pass waits until every video in flight has asked: shared passes are certain
        for options in (Options(mode="dense"), Options(budget=0.25), Options()):
            together = dict(gpu.recognize_many(videos, options, in_flight=len(videos)))
            for video in videos:
                result = together[video]
                assert isinstance(result, RecognitionResult)
                _assert_same(cpu.recognize(video, options), result, options, cpu)
                assert result.timings["heavy"] > 0 and result.timings["head"] > 0  # from CUDA events
                assert not options.gated or result.timings["light"] > 0
        assert gpu.loop.passes["heavy"] < gpu.loop.requests["heavy"] or gpu.loop.passes["light"] < \
            gpu.loop.requests["light"]  # some pass carried more than one video


@pytest.mark.skipif(not gpu_decoding_works(), reason="torchcodec cannot decode on CUDA here")
def test_gpu_decoding_leaves_the_frames_on_the_device(video: Path) -> None:
    from pipelines.decoding import TorchCodecDecoder

    decoder = TorchCodecDecoder(video, device="cuda", on_device=True)
    try:
        frames = decoder.tensors([40, 3, 40, 200], size=64)
        assert frames.is_cuda and frames.dtype == torch.uint8 and tuple(frames.shape) == (4, 64, 64, 3)
        assert torch.equal(frames[0], frames[2])
        assert np.array_equal(frames.cpu().numpy(), decoder.frames([40, 3, 40, 200], size=64))
        whole = decoder.tensors([7], size=64, crop=False)
        assert whole.is_cuda and whole.shape[1] == 64 and whole.shape[2] >= 64
    finally:
        decoder.close()


@pytest.mark.skipif(not gpu_decoding_works(), reason="torchcodec cannot decode on CUDA here")
def test_the_recognizer_decodes_on_the_gpu_after_an_isolated_probe(video: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.recognizer as recognizer_module
    from pipelines.decoding import TorchCodecDecoder
    from pipelines.decoding import probe_isolated as isolated_probe

    probed: list[Path] = []

    def counting_probe(path: Path, **kwargs: object) -> object:
        probed.append(Path(path))
        return isolated_probe(path, **kwargs)  # type: ignore[arg-type]

    asked: list[bool] = []
    tensors = TorchCodecDecoder.tensors

    def counting_tensors(self: TorchCodecDecoder, *args: object, **kwargs: object) -> torch.Tensor:
        out = tensors(self, *args, **kwargs)  # type: ignore[arg-type]
        asked.append(out.is_cuda)
        return out

    monkeypatch.setattr(recognizer_module, "probe_isolated", counting_probe)
    monkeypatch.setattr(TorchCodecDecoder, "tensors", counting_tensors)
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    options = Options(budget=0.25, light_pass="nonref")
    with Recognizer(path, device="cuda", backend="torchcodec-cuda", isolate=True) as gpu:
        result = gpu.recognize(video, options)
    reference = Recognizer(path, device="cpu", isolate=False).recognize(video, options)
    assert probed == [video] and asked and all(asked)  # probed in a child, then every frame stayed on the device
    assert result.compute.snippets_selected == reference.compute.snippets_selected
    assert len(result.snippets) == len(reference.snippets)
