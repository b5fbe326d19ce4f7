"""The CUDA path gives the CPU path's answers (skipped on machines without a GPU).

On a GPU the recognizer batches heavy snippets under fp16 autocast; the gate, the selection and the
labels must not change because of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models import DEMO_CHECKPOINT, load_checkpoint
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
        a, b = cpu.recognize(video, options), gpu.recognize(video, options)
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
            continue
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
