"""The device loop: passes batched across videos in flight give each video the answer it gets alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from models import ModelConfig, SelectionRule, VidGate
from pipelines.device_loop import DeviceLoop
from pipelines.options import Options
from pipelines.recognizer import Recognizer
from pipelines.results import RecognitionResult
from pipelines.timing import StageTimer

from ..helpers import tiny_checkpoint, write_test_video

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model() -> VidGate:
    torch.manual_seed(0)
    return VidGate(ModelConfig(classes=("a", "b", "c"), light="tiny2d", heavy="tiny3d", light_size=32, heavy_size=32,
                               num_kernels=4, gate_hidden=16)).eval()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("videos")
    return [write_test_video(folder / "a.mp4", frames=160, fps=16),
            write_test_video(folder / "b.mp4", frames=96, fps=12, gop=12),
            write_test_video(folder / "c.mp4", frames=240, fps=12, size=(80, 64))]


def _frames(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _together(loop: DeviceLoop, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` from their own threads as videos in flight, each declared before any asks (so that a pass
    waits for all of them: the loop's ``wait_s`` is long in these tests)."""
    ready = threading.Barrier(len(calls))

    def one(call: Callable[[], Any]) -> Any:
        with loop.video():
            ready.wait(timeout=30)
            return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(one, call) for call in calls]
        return [f.result(timeout=60) for f in futures]


def test_two_videos_in_flight_share_each_pass_and_get_their_own_rows(model: VidGate) -> None:
    loop = DeviceLoop(model, CPU, wait_s=30.0)
    first, second = _frames(12, 32, 1), _frames(7, 32, 2)
    rules = (SelectionRule(budget=0.25), SelectionRule(max_selected=2))
    alone = [loop.light(first, rules[0]), loop.light(second, rules[1])]
    clips = [_frames(3 * 8, 32, 3).reshape(3, 8, 32, 32, 3), _frames(2 * 8, 32, 4).reshape(2, 8, 32, 32, 3)]
    heavy_alone = [loop.heavy(c) for c in clips]
    passes = dict(loop.passes)
    timers = [StageTimer(), StageTimer()]
    light = _together(loop, [lambda: loop.light(first, rules[0], timer=timers[0]),
                             lambda: loop.light(second, rules[1], timer=timers[1])])
    heavy = _together(loop, [lambda: loop.heavy(clips[0], timer=timers[0]),
                             lambda: loop.heavy(clips[1], timer=timers[1])])
    assert loop.passes["light"] == passes["light"] + 1 and loop.passes["heavy"] == passes["heavy"] + 1
    assert list(loop.batch_sizes)[-2:] == [("light", 2), ("heavy", 2)]
    for together, one in zip(light, alone, strict=True):  # padded to the longer video, each under its own rule
        assert together.mask.tolist() == one.mask.tolist()
        assert torch.allclose(together.gate_scores, one.gate_scores, atol=1e-5)
        assert torch.allclose(together.concept_activations, one.concept_activations, atol=1e-5)
    assert [int(s.mask.sum()) for s in light] == [3, 2]  # ceil(12 × 0.25); at most 2
    for shared, own in zip(heavy, heavy_alone, strict=True):
        assert shared.shape == own.shape and torch.allclose(shared, own, atol=1e-5)
    for timer in timers:  # a shared pass counts in full for each video
        assert {"light", "gate", "heavy"} <= set(timer.resolve()) and timer.seconds["heavy"] > 0
    loop.close()


def test_a_failing_video_does_not_poison_the_others_in_its_pass(model: VidGate, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    loop = DeviceLoop(model, CPU, wait_s=30.0)
    good = _frames(2 * 8, 32, 5).reshape(2, 8, 32, 32, 3)
    white = np.full((1, 8, 32, 32, 3), 255, dtype=np.uint8)  # the input this model cannot take
    expected = loop.heavy(good)
    encode = model.encode_snippets
    seen: list[int] = []

    def fragile(snippets: torch.Tensor) -> torch.Tensor:
        seen.append(snippets.shape[0])
        if (snippets.flatten(1) > 2.4).all(dim=1).any():  # a white snippet, normalised
            raise RuntimeError("the heavy network failed on a white snippet")
        return encode(snippets)

    monkeypatch.setattr(model, "encode_snippets", fragile)

    def poisoned() -> BaseException | None:
        try:
            loop.heavy(white)
        except RuntimeError as exc:
            return exc
        return None

    features, error = _together(loop, [lambda: loop.heavy(good), poisoned])
    assert seen[0] == 3 and sorted(seen[1:]) == [1, 2]  # the shared pass failed; then each video alone
    assert isinstance(error, RuntimeError) and "white snippet" in str(error)
    assert torch.allclose(features, expected, atol=1e-5)
    monkeypatch.setattr(model, "encode_snippets", encode)
    assert torch.allclose(loop.heavy(good), expected, atol=1e-5)  # the loop serves on
    loop.close()


def test_calls_run_on_the_loop_thread_and_a_closed_loop_refuses(model: VidGate) -> None:
    loop = DeviceLoop(model, CPU)
    assert loop.call(lambda: threading.current_thread().name) == "vidgate-device-loop"
    with pytest.raises(ValueError, match="nope"):
        loop.call(lambda: (_ for _ in ()).throw(ValueError("nope")))
    assert loop.call(lambda: torch.is_grad_enabled()) is False
    (host,) = loop.fetch(lambda: (torch.ones(3),))
    assert host.tolist() == [1.0, 1.0, 1.0]
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call(lambda: 1)


def _key(result: RecognitionResult) -> tuple[Any, ...]:
    return ([s.selected for s in result.snippets], [lab.label for lab in result.labels], result.compute.light_pass)


@contextmanager
def _declared_together(recognizer: Recognizer, count: int) -> Iterator[None]:
    """Each video, once in flight, waits until ``count`` are: their first passes then run together."""
    barrier = threading.Barrier(count)
    declare = recognizer.loop.video

    @contextmanager
    def video() -> Iterator[None]:
        with declare():
            barrier.wait(timeout=60)
            yield

    recognizer.loop.video = video  # type: ignore[method-assign]
    try:
        yield
    finally:
        recognizer.loop.video = declare  # type: ignore[method-assign]


@pytest.mark.parametrize("options", [Options(budget=0.25), Options(), Options(mode="dense")],
                         ids=["budget", "learned-threshold", "dense"])
def test_videos_recognised_together_get_the_answers_they_get_alone(videos: list[Path], tmp_path: Path,
                                                                    options: Options) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "tiny.safetensors")
    with Recognizer(checkpoint, isolate=False, heavy_batch=4) as recognizer:
        alone = {v: recognizer.recognize(v, options) for v in videos}
        recognizer.loop.wait_s = 30.0  # a pass waits for every video in flight: the shared passes are certain
        with _declared_together(recognizer, len(videos)), ThreadPoolExecutor(len(videos)) as pool:
            together = dict(zip(videos, pool.map(lambda v: recognizer.recognize(v, options), videos), strict=True))
        shared = [n for kind, n in recognizer.loop.batch_sizes if kind == ("light" if options.gated else "heavy")]
        assert max(shared) > 1  # the first passes carried several videos
        recognizer.loop.wait_s = 0.0
        many = dict(recognizer.recognize_many(videos, options, in_flight=len(videos)))
    for video in videos:
        for result in (together[video], many[video]):
            assert isinstance(result, RecognitionResult)
            assert _key(result) == _key(alone[video])
            assert [lab.score for lab in result.labels] == pytest.approx([lab.score for lab in alone[video].labels],
                                                                          abs=1e-4)
            if options.gated:
                assert [s.gate_score for s in result.snippets] == pytest.approx(
                    [s.gate_score for s in alone[video].snippets], abs=1e-5)
            assert result.timings["heavy"] > 0 and result.timings["head"] > 0
