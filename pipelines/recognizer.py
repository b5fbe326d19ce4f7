"""The recognizer: one video in, a `RecognitionResult` out. Every user path (CLI, service, batch) runs here.

    probe ─► plan snippets ─► decode centre frames ─► light ─► gate ─► decode selected snippets ─► heavy ─► head

Work that is not selected is never done: unselected snippets are neither decoded in full nor passed
to the heavy network. Decoding runs in an isolated child process with a time and memory limit, and
the heavy pass decodes the next chunk of snippets while the current one is computed.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from models import Budget, CheckpointError, ComputeProfile, VidGate, load_checkpoint

from .decoding import IsolatedDecoder, open_decoder, probe
from .errors import Cancelled, ModelError
from .options import Mode, Options
from .planning import Snippet, plan_snippets, plan_video
from .results import Compute, Concept, Label, RecognitionResult, SnippetResult, model_info
from .transforms import heavy_input, light_input

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Limits:
    """Inputs beyond these are refused before any decoding."""

    max_file_bytes: int | None = None
    max_duration_s: float | None = None
    max_pixels: int | None = None


class _Timer:
    """Wall time per stage; on a GPU each stage waits for its kernels, so the time lands where it is spent."""

    def __init__(self, device: torch.device) -> None:
        self.seconds: dict[str, float] = {}
        self.cuda = device.type == "cuda"

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.cuda:
                torch.cuda.synchronize()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


class Recognizer:
    """Loads a model once and recognises any number of videos with it.

    Args:
        model: a checkpoint path, or a model already in memory.
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        backend: decoder backend (see ``pipelines.decoding.BACKENDS``).
        isolate: decode in a child process with a time and memory limit (recommended for untrusted input).
        decode_timeout_s: per-request decode time limit when isolated.
        decode_memory_bytes: address-space limit of the decoding child.
        limits: refuse inputs beyond these.
        max_snippets: snippets planned per video (spread uniformly over the video).
        seconds_per_snippet: plan one snippet per this many seconds instead (capped at ``max_snippets``).
        heavy_batch: snippets per heavy forward pass.
        threads: CPU threads for torch (0: leave torch's default).
        retain_passed: keep the clips of snippets the light pass decodes anyway (see `passed_snippets`).
    """

    def __init__(
        self,
        model: str | Path | VidGate,
        *,
        device: str = "auto",
        backend: str = "pyav",
        isolate: bool = True,
        decode_timeout_s: float = 120.0,
        decode_memory_bytes: int = 4 * 1024**3,
        limits: Limits | None = None,
        max_snippets: int = 64,
        seconds_per_snippet: float | None = None,
        heavy_batch: int = 16,
        threads: int = 0,
        retain_passed: bool = True,
    ) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(
            "cuda" if device == "auto" and torch.cuda.is_available() else "cpu" if device == "auto" else device
        )
        if isinstance(model, VidGate):
            self.model = model.to(self.device).eval()
        else:
            try:
                self.model, _ = load_checkpoint(model, device=self.device)
            except CheckpointError as exc:
                raise ModelError(str(exc)) from None
        self.config = self.model.config
        self.profile = ComputeProfile(self.model)
        self.backend = backend
        self.isolate = isolate
        self.decode_timeout_s = decode_timeout_s
        self.decode_memory_bytes = decode_memory_bytes
        self.limits = limits or Limits()
        self.max_snippets = max_snippets
        self.seconds_per_snippet = seconds_per_snippet
        self.heavy_batch = heavy_batch
        self.retain_passed = retain_passed
        self._prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidgate-decode")

    @property
    def model_info(self) -> dict[str, Any]:
        return model_info(asdict(self.config))

    def plan(self, num_frames: int, fps: float, options: Options | None = None) -> list[Snippet]:
        seconds = options.seconds_per_snippet if options and options.seconds_per_snippet else self.seconds_per_snippet
        if seconds:
            return plan_snippets(
                num_frames,
                fps,
                snippet_frames=self.config.snippet_frames,
                seconds_per_snippet=seconds,
                max_snippets=self.max_snippets,
            )
        return plan_video(num_frames, fps, snippet_frames=self.config.snippet_frames, max_snippets=self.max_snippets)

    def _decoder(self, path: Path, should_cancel: Callable[[], bool] | None) -> Any:
        """The video's decoder. Isolated, its child probes the file with the limits (this process never opens
        the container) and every request stops promptly when ``should_cancel`` turns True."""
        limits: dict[str, Any] = {"max_file_bytes": self.limits.max_file_bytes,
                                   "max_duration": self.limits.max_duration_s, "max_pixels": self.limits.max_pixels}
        if self.isolate:
            return IsolatedDecoder(path, self.backend, timeout_s=self.decode_timeout_s,
                                   memory_limit_bytes=self.decode_memory_bytes, limits=limits,
                                   should_cancel=should_cancel)
        return open_decoder(path, self.backend, info=probe(path, **limits))

    def _selection(self, gate_scores: torch.Tensor, options: Options) -> torch.Tensor:
        """The selection mask ``(T,)`` for the chosen mode."""
        n = gate_scores.shape[0]
        valid = torch.ones(1, n, dtype=torch.bool)
        if options.mode is Mode.DENSE:
            return torch.ones(n, dtype=torch.bool)
        if options.gated:
            threshold = options.threshold
            if threshold is None and options.budget is None and options.max_selected is None:
                threshold = self.config.threshold
            budget = Budget(fraction=options.budget, max_selected=options.max_selected, threshold=threshold)
            return _select(gate_scores, valid, budget)
        k = n if options.budget is None else math.ceil(options.budget * n)
        k = max(1, min(k, options.max_selected or n))
        if options.mode is Mode.UNIFORM:
            chosen = {int((i + 0.5) * n / k) for i in range(k)}
        else:
            chosen = set(random.Random(options.seed).sample(range(n), k))
        mask = torch.zeros(n, dtype=torch.bool)
        mask[sorted(chosen)] = True
        return mask

    @torch.no_grad()
    def recognize(
        self,
        video: str | Path | IO[bytes],
        options: Options | None = None,
        *,
        name: str | None = None,
        progress: Progress | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> RecognitionResult:
        """Recognise one video (a path or a binary file object)."""
        options = options or Options()
        report = progress or (lambda stage, fraction: None)
        with _as_path(video) as path:
            return self._recognize(path, options, name or _display_name(video), report, should_cancel)

    def _recognize(
        self, path: Path, options: Options, name: str, report: Progress, should_cancel: Callable[[], bool] | None
    ) -> RecognitionResult:
        timer = _Timer(self.device)
        c = self.config
        with timer.stage("total"):
            report("probe", 0.0)
            with timer.stage("probe"):
                decoder = self._decoder(path, should_cancel)
                try:
                    info = decoder.info
                except BaseException:
                    decoder.close()
                    raise
            plan = self.plan(info.num_frames, info.fps, options)
            gated = options.gated
            with decoder:
                retained: dict[int, np.ndarray] = {}
                gate_scores = torch.zeros(len(plan))
                activations = torch.zeros(len(plan), c.num_kernels)
                if gated:
                    report("light", 0.1)
                    with timer.stage("decode"):
                        centres = [s.centre_frame for s in plan]
                        if options.keyframes:
                            frames, _ = decoder.keyframe_near(centres, size=c.light_size)
                        else:
                            frames, retained = self._light_frames(decoder, plan, info)  # (T, S, S, 3)
                    with timer.stage("light"):
                        features = self.model.encode_frames(light_input(frames, c).to(self.device))  # (T, D)
                    del frames
                    with timer.stage("gate"):
                        out = self.model.select(features.unsqueeze(0))
                        gate_scores = out.gate_scores[0].float().cpu()
                        activations = out.concept_activations[0].float().cpu()
                _cancel_check(should_cancel)
                with timer.stage("gate"):
                    mask = self._selection(gate_scores, options)
                chosen = mask.nonzero().flatten().tolist()
                retained = {i: clip for i, clip in retained.items() if i in set(chosen)}
                heavy = self._heavy_features(decoder, [plan[i] for i in chosen], retained, timer, report, should_cancel)
            with timer.stage("head"):
                features_all = torch.zeros(1, len(plan), self.model.heavy.num_features, device=self.device)
                features_all[0, chosen] = heavy
                logits = self.model.classify(features_all, mask.unsqueeze(0).to(self.device).float())
                scores = self.model.scores(logits)[0].float().cpu()
        report("done", 1.0)
        return self._result(name, info, plan, gate_scores, activations, mask, scores, options, timer)

    def _heavy_features(
        self,
        decoder: Any,
        snippets: list[Snippet],
        retained: dict[int, np.ndarray],
        timer: _Timer,
        report: Progress,
        should_cancel: Callable[[], bool] | None,
    ) -> torch.Tensor:
        """Encode the selected snippets chunk by chunk: clips retained by the light pass first, then the rest,
        decoding chunk i+1 while chunk i is computed. Returns features in the order of ``snippets``."""
        c = self.config
        order = [s for s in snippets if s.index in retained] + [s for s in snippets if s.index not in retained]
        chunks = [order[i : i + self.heavy_batch] for i in range(0, len(order), self.heavy_batch)]

        def decode(chunk: list[Snippet]) -> tuple[np.ndarray, float]:
            if all(s.index in retained for s in chunk):
                return np.stack([retained[s.index] for s in chunk]), 0.0  # (S, L, H, W, 3), nothing decoded
            start = time.perf_counter()
            indices = [f for s in chunk for f in s.frame_indices(c.snippet_frames)]
            frames = decoder.frames(indices, size=c.heavy_size)
            return frames.reshape(len(chunk), c.snippet_frames, *frames.shape[1:]), time.perf_counter() - start

        autocast = torch.autocast("cuda", dtype=torch.float16) if self.device.type == "cuda" else nullcontext()
        outputs = []
        pending = self._prefetch.submit(decode, chunks[0]) if chunks else None
        try:
            for i in range(len(chunks)):
                assert pending is not None
                with timer.stage("decode_wait"):
                    clips, seconds = pending.result()
                timer.seconds["decode"] = timer.seconds.get("decode", 0.0) + seconds
                pending = self._prefetch.submit(decode, chunks[i + 1]) if i + 1 < len(chunks) else None
                _cancel_check(should_cancel)
                report("heavy", 0.3 + 0.7 * i / len(chunks))
                with timer.stage("heavy"), autocast:
                    outputs.append(self.model.encode_snippets(heavy_input(clips, c).to(self.device)).float())
        finally:
            # A failed or cancelled pass must not close the decoder under a prefetch still decoding.
            if pending is not None and not pending.cancel():
                with suppress(Exception):
                    pending.result()
        if not outputs:
            return torch.zeros(0, self.model.heavy.num_features, device=self.device)
        features = torch.cat(outputs)  # (S, F) in ``order``
        position = {s.index: row for row, s in enumerate(order)}
        return features[[position[s.index] for s in snippets]]

    def _light_frames(self, decoder: Any, plan: list[Snippet], info: Any) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Centre frames ``(T, S, S, 3)``, plus the clips worth keeping (see `passed_snippets`).

        With long keyframe intervals, reaching a centre frame decodes the first half of its snippet
        anyway; decoding the other half now (``snippet_frames / 2`` frames) is far cheaper than seeking
        back after the gate. Kept clips are at the model's input size and at most ``max_snippets`` of
        them exist, whatever the video's length; the heavy pass uses those of selected snippets and
        decodes nothing twice. Unselected kept clips are dropped without reaching the heavy network.
        """
        c = self.config
        passed = passed_snippets(plan, info.keyframes) if self.retain_passed else []
        if not passed:
            return decoder.frames([s.centre_frame for s in plan], size=c.light_size), {}
        wanted = sorted(
            {s.centre_frame for s in plan} | {f for i in passed for f in plan[i].frame_indices(c.snippet_frames)}
        )
        frames = decoder.frames(wanted, size=max(c.light_size, c.heavy_size))  # (N, S, S, 3)
        row = {f: r for r, f in enumerate(wanted)}
        centres = frames[[row[s.centre_frame] for s in plan]]
        clips = {i: frames[[row[f] for f in plan[i].frame_indices(c.snippet_frames)]] for i in passed}
        return centres, clips

    def _result(
        self,
        name: str,
        info: Any,
        plan: list[Snippet],
        gate_scores: torch.Tensor,
        activations: torch.Tensor,
        mask: torch.Tensor,
        scores: torch.Tensor,
        options: Options,
        timer: _Timer,
    ) -> RecognitionResult:
        c = self.config
        top = scores.topk(min(options.top_k, scores.numel()))
        labels = tuple(
            Label(c.classes[int(i)], round(float(s), 6)) for s, i in zip(top.values, top.indices, strict=True)
        )
        concept_top = activations.topk(min(3, activations.shape[1]), dim=1) if options.gated else None
        snippets = []
        for s in plan:
            concepts: tuple[Concept, ...] = ()
            if concept_top is not None:
                concepts = tuple(
                    Concept(int(k), round(float(v), 4))
                    for v, k in zip(concept_top.values[s.index], concept_top.indices[s.index], strict=True)
                )
            snippets.append(
                SnippetResult(
                    index=s.index,
                    start=round(s.start, 4),
                    end=round(s.end, 4),
                    frames=(s.start_frame, s.end_frame),
                    gate_score=round(float(gate_scores[s.index]), 6) if options.gated else None,
                    selected=bool(mask[s.index]),
                    concepts=concepts,
                )
            )
        selected = int(mask.sum())
        flops = self.profile.video(len(plan), selected, gated=options.gated)
        compute = Compute(
            snippets_total=len(plan),
            snippets_selected=selected,
            selected_fraction=round(selected / len(plan), 6),
            gflops=round(flops["total"], 6),
            gflops_dense=round(flops["dense"], 6),
            gflops_saved_fraction=round(1 - flops["total"] / flops["dense"], 6),
            gflops_by_stage={k: round(flops[k], 6) for k in ("light", "gate", "heavy", "head")},
        )
        timings = {
            k: round(timer.seconds.get(k, 0.0), 6)
            for k in ("probe", "decode", "decode_wait", "light", "gate", "heavy", "head", "total")
        }
        return RecognitionResult(
            video=name,
            duration=round(info.duration, 4),
            fps=round(info.fps, 4),
            num_frames=info.num_frames,
            width=info.width,
            height=info.height,
            mode=options.mode.value,
            labels=labels,
            snippets=tuple(snippets),
            compute=compute,
            timings=timings,
            model=self.model_info,
            options=options.to_dict(),
        )

    def close(self) -> None:
        self._prefetch.shutdown(wait=False)


def passed_snippets(plan: list[Snippet], keyframes: tuple[int, ...] | None) -> list[int]:
    """Snippets whose clips the light pass should keep: decoding them later would cost far more.

    Reaching a centre frame decodes every frame from the keyframe before it, so when that keyframe
    is at or before the snippet's first frame, the first half of the snippet is decoded anyway and
    the second half costs only ``snippet_frames / 2`` more frames. Decoding the snippet after the
    gate instead would mean seeking back and decoding again from that keyframe — worth avoiding when
    the keyframe lies at least one snippet length before the snippet (long keyframe intervals).
    """
    if not keyframes:
        return []
    keys = np.asarray(keyframes)

    def keyframe_before(index: int) -> int:
        return int(keys[max(0, int(np.searchsorted(keys, index, side="right")) - 1)])

    return [s.index for s in plan if keyframe_before(s.centre_frame) <= s.start_frame - s.num_frames]


def _select(gate_scores: torch.Tensor, valid: torch.Tensor, budget: Budget) -> torch.Tensor:
    from models import select_snippets

    return select_snippets(gate_scores.unsqueeze(0), valid, budget)[0]


def _cancel_check(should_cancel: Callable[[], bool] | None) -> None:
    if should_cancel is not None and should_cancel():
        raise Cancelled("cancelled")


def _display_name(video: str | Path | IO[bytes]) -> str:
    if isinstance(video, str | Path):
        return Path(video).name
    return Path(str(getattr(video, "name", "upload"))).name


@contextmanager
def _as_path(video: str | Path | IO[bytes]) -> Iterator[Path]:
    """Decoders need a path: a file object is spooled to a private temporary file first."""
    if isinstance(video, str | Path):
        yield Path(video)
        return
    fd, name = tempfile.mkstemp(prefix="vidgate-", suffix=".video")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(video, out, length=1024 * 1024)
        yield Path(name)
    finally:
        os.unlink(name)
