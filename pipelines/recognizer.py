"""The recognizer: one video in, a `RecognitionResult` out. Every user path (CLI, service, batch) runs here.

    probe ─► plan snippets ─► decode light frames ─► light ─► gate ─► decode selected snippets ─► heavy ─► head

Work that is not selected is never done: unselected snippets are neither decoded in full nor passed
to the heavy network. The gate selects once: its mask, under the caller's policy, is what the heavy pass
reads (`pipelines.selection`). The per-snippet evidence is computed only when asked for
(`pipelines.evidence`). Decoding runs in isolated child processes (a small pool, reused across videos)
with a time and memory limit; the heavy pass decodes the next chunk of snippets while the current one
is computed. The networks run in the recognizer's device loop (`pipelines.device_loop`): every video in
flight (concurrent `recognize` calls, or the videos `recognize_many` keeps going) hands its light frames and
snippets to one thread that owns the model and batches them across videos.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import torch

from models import CheckpointError, ComputeProfile, VidGate, load_checkpoint
from models.card import ModelCard
from models.checkpoint import read_card

from .decoding import (
    DecodeCost,
    Decoder,
    DecoderPool,
    IsolatedDecoder,
    TorchCodecDecoder,
    VideoInfo,
    centre_crop,
    choose_backend,
    open_decoder,
    probe,
    probe_isolated,
)
from .device_loop import DeviceLoop, Frames
from .errors import ModelError, OptionsError, VidgateError
from .evidence import HeadInput, HeadSink, evidence_terms
from .options import LightPass, Options
from .passes import Progress, cancel_check, heavy_pass_features, host_frames, light_pass_frames
from .planning import Snippet, align_to_keyframes, light_frames, plan_snippets, plan_video, relative_times
from .results import Decoding, Label, RecognitionResult, assemble, model_info, snippet_evidence
from .selection import baseline_mask, gate_rule
from .timing import StageTimer

AUTO_FALLBACK = "fast"  # what ``auto`` runs where it does not align (docs/inference.md: the measured choice)
# Receives decoded centre frames ``{snippet index: (H, W, 3) uint8}`` as the recognizer meets them, whole (aspect
# kept, the shorter side the network's input size; the networks see their centre square): every snippet's from
# the light pass, and the selected ones' from the heavy pass when no light pass ran or it saw keyframes (which may
# lie outside the snippet). For thumbnails that cost no extra decoding; every frame it receives lies inside its
# snippet.
FrameSink = Callable[[dict[int, np.ndarray]], None]


@dataclass(frozen=True)
class Limits:
    """Inputs beyond these are refused before any decoding."""

    max_file_bytes: int | None = None
    max_duration_s: float | None = None
    max_pixels: int | None = None


@dataclass
class _Video:
    """One video between its light decode and its result (what `recognize_many` prepares ahead)."""

    path: Path
    name: str
    options: Options
    info: VideoInfo
    plan: list[Snippet]
    light_pass: str
    decoder: Decoder
    timer: StageTimer
    light: Frames | None = None  # (T, S, S or W, 3) light frames, when a gate runs (whole for a FrameSink)
    retained: dict[int, Frames] = field(default_factory=dict)  # snippet index -> (L, S, S, 3)
    frames_light: int = 0


class Recognizer:
    """Loads a model once and recognises any number of videos with it. Use as a context manager, or call
    :meth:`close`.

    Args:
        model: a checkpoint path, or a model already in memory.
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        backend: decoder backend (see ``pipelines.decoding.BACKENDS``); ``auto``: GPU decoding
            (``torchcodec-cuda``) when the model runs on CUDA and it works, else ``pyav``. GPU decoding on the
            model's device keeps the frames there: it decodes in this process, after an isolated probe.
        isolate: decode in child processes with a time and memory limit (recommended for untrusted input).
        decode_timeout_s: per-request decode time limit when isolated.
        decode_memory_bytes: address-space limit of each decoding child.
        limits: refuse inputs beyond these.
        max_snippets: snippets planned per video (spread uniformly over the video); default: the
            model's own, what training planned (``ModelConfig.max_snippets``).
        seconds_per_snippet: plan one snippet per this many seconds instead (capped at ``max_snippets``).
        heavy_batch: snippets per heavy chunk (a video's request to the device loop; a pass takes up to four
            times as many snippets, of any videos).
        threads: CPU threads for torch (0: leave torch's default).
        retain_passed: keep the frames of snippets the light pass decodes anyway (see `passed_snippets`).
        decoders: decoding children kept started and reused across videos when isolated (0: a fresh
            child per video). `recognize_many` keeps this many videos in flight (at least two).
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
        max_snippets: int | None = None,
        seconds_per_snippet: float | None = None,
        heavy_batch: int = 16,
        threads: int = 0,
        retain_passed: bool = True,
        decoders: int = 1,
    ) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(
            "cuda" if device == "auto" and torch.cuda.is_available() else "cpu" if device == "auto" else device
        )
        self.card: ModelCard | None = None  # a model in memory has no card
        if isinstance(model, VidGate):
            self.model = model.to(self.device).eval()
        else:
            try:
                self.model, _ = load_checkpoint(model, device=self.device)
                self.card = read_card(model)
            except CheckpointError as exc:
                raise ModelError(str(exc)) from None
        self.config = self.model.config
        self.profile = ComputeProfile(self.model)
        self.backend = choose_backend(backend, device=self.device.type)
        if self.backend == "torchcodec-cuda" and self.device.type != "cuda":
            raise OptionsError(f"decoder backend 'torchcodec-cuda' decodes onto the GPU the model runs on; this model "
                               f"runs on {self.device.type}: use 'pyav' (or 'torchcodec' on the CPU)")
        self.isolate = isolate
        self.decode_timeout_s = decode_timeout_s
        self.decode_memory_bytes = decode_memory_bytes
        self.limits = limits or Limits()
        self.max_snippets = max_snippets or self.config.max_snippets
        self.seconds_per_snippet = seconds_per_snippet
        self.heavy_batch = heavy_batch
        self.retain_passed = retain_passed
        self.decoders = decoders
        # GPU decoding on the model's device decodes in this process: no decoding children to keep.
        self.decodes_on_device = self.backend == "torchcodec-cuda"  # (refused above off the GPU)
        pooled = isolate and decoders and not self.decodes_on_device
        self._pool = DecoderPool(decoders, memory_limit_bytes=decode_memory_bytes) if pooled else None
        # Threads that decode a video's next heavy chunk while its current one is in the device loop.
        self._prefetch = ThreadPoolExecutor(max_workers=max(4, decoders + 2), thread_name_prefix="vidgate-decode")
        self.loop = DeviceLoop(self.model, self.device, max_snippets=4 * heavy_batch)
        # The per-frame and per-snippet FLOP counts, now: a process's first count also imports torch's compiler
        # stack (about a second on 2 cores), a start-up cost the first video's timings should not carry.
        self._closed = False
        try:
            self.loop.call(lambda: (self.profile.light_per_frame(), self.profile.heavy_per_snippet()))
        except BaseException:
            self.close()  # the decoding children and the loop thread are already running
            raise

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Wait for decoding threads to finish, stop the device loop and the decoding children."""
        if self._closed:
            return
        self._closed = True
        self._prefetch.shutdown(wait=True, cancel_futures=True)
        self.loop.close()
        if self._pool is not None:
            self._pool.close()

    @property
    def model_info(self) -> dict[str, Any]:
        return model_info(asdict(self.config), self.card)

    def plan(self, num_frames: int, fps: float, options: Options | None = None) -> list[Snippet]:
        """The uniform plan (what training sees)."""
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

    def plan_for(self, info: VideoInfo, options: Options | None = None) -> tuple[list[Snippet], str]:
        """The plan and the light pass that will run (``auto`` resolved) for one video.

        ``auto`` aligns the plan only when that keeps every snippet (keyframes at least as many as
        snippets: each moves to a keyframe near its uniform place) and at least halves the light pass's
        frames by the cost model; otherwise it keeps the uniform plan with the ``fast`` light pass. Both
        rules come from measurement (docs/inference.md): plans with fewer, keyframe-aligned snippets and
        the keyframe light pass cost accuracy on the test sets, ``fast`` did not.
        """
        options = options or Options()
        light_pass = LightPass(options.light_pass).value
        uniform = self.plan(info.num_frames, info.fps, options)
        if light_pass not in ("auto", "aligned"):
            return uniform, light_pass
        explicit = options.seconds_per_snippet is not None  # a density the caller asked for: auto keeps it
        if not info.keyframes or (light_pass == "auto" and explicit):
            return uniform, AUTO_FALLBACK if light_pass == "auto" else "nonref"
        aligned = align_to_keyframes(info.num_frames, info.fps, info.keyframes,
                                     snippet_frames=self.config.snippet_frames, max_snippets=len(uniform))
        if aligned is None:
            return uniform, AUTO_FALLBACK if light_pass == "auto" else "nonref"
        if light_pass == "auto":
            cost = DecodeCost(info.table) if info.table is not None else None
            halves = cost is not None and (2 * cost.frames(light_frames(aligned, info.keyframes))
                                           <= cost.frames(s.centre_frame for s in uniform))
            if len(aligned) < len(uniform) or not halves:
                return uniform, AUTO_FALLBACK
        return aligned, "aligned"

    def _decoder(self, path: Path, should_cancel: Callable[[], bool] | None) -> Decoder:
        """The video's decoder. Isolated, its child probes the file with the limits (this process never opens
        the container) and every request stops promptly when ``should_cancel`` turns True.

        GPU decoding on the model's device (``torchcodec-cuda``) keeps the frames on the device, so it cannot
        run in a child: the file is probed first (isolated: in a limited child, the same probe every upload
        gets), and only a file that passes reaches the GPU decoder, in this process. The trade-off: a file
        that parses cleanly but breaks the decoder later can take this process down, and a request has no
        time limit (docs/decoding.md, "GPU decoding")."""
        limits: dict[str, Any] = {"max_file_bytes": self.limits.max_file_bytes,
                                   "max_duration": self.limits.max_duration_s, "max_pixels": self.limits.max_pixels}
        if self.decodes_on_device:
            info = (probe_isolated(path, timeout_s=self.decode_timeout_s, memory_limit_bytes=self.decode_memory_bytes,
                                   **limits) if self.isolate else probe(path, **limits))
            return TorchCodecDecoder(path, info, device=str(self.device), on_device=True)
        if self.isolate:
            return IsolatedDecoder(path, self.backend, timeout_s=self.decode_timeout_s,
                                   memory_limit_bytes=self.decode_memory_bytes, pool=self._pool, limits=limits,
                                   should_cancel=should_cancel)
        return open_decoder(path, self.backend, info=probe(path, **limits))

    @torch.no_grad()
    def recognize(
        self,
        video: str | Path | IO[bytes],
        options: Options | None = None,
        *,
        name: str | None = None,
        progress: Progress | None = None,
        should_cancel: Callable[[], bool] | None = None,
        centre_frames: FrameSink | None = None,
        head: HeadSink | None = None,
    ) -> RecognitionResult:
        """Recognise one video (a path or a binary file object).

        ``progress(stage, fraction)`` hears of every stage (probe, light, gate, each heavy chunk as
        ``heavy i/n``, head, done); ``centre_frames`` receives the centre frames decoded on the way (`FrameSink`);
        ``head`` receives what the head read when the evidence was not asked for, from which `explain` computes it.
        """
        options = options or Options()
        report = progress or (lambda stage, fraction: None)
        with _as_path(video) as path:
            prepared = self._prepare(path, options, name or _display_name(video), report, should_cancel,
                                     whole=centre_frames is not None)
            return self._finish(prepared, report, should_cancel, centre_frames, head)

    def explain(self, head: HeadInput, labels: list[str]) -> list[tuple[Label, ...]]:
        """Each snippet's evidence for ``labels`` (a result's returned labels), from what the head read
        (`HeadInput`, kept by ``recognize(..., head=...)``): what ``Options(evidence=True)`` would have
        reported, without decoding the video again."""
        terms = self.loop.call(lambda: evidence_terms(self.model, head))  # (T, C)
        selected = [False] * head.times.shape[0]
        for i in head.selected.tolist():
            selected[i] = True
        return snippet_evidence(terms.tolist(), selected, self.config.classes, labels)

    def recognize_many(
        self, videos: Iterable[str | Path], options: Options | None = None, *, in_flight: int | None = None
    ) -> Iterator[tuple[Path, RecognitionResult | VidgateError]]:
        """Recognise videos, several at once, and yield their results in order.

        Yields ``(path, result)``, or ``(path, error)`` for a video that is bad input. ``in_flight`` videos
        (default: ``decoders``, at least two) go at once, each on its own thread: while some decode, the device
        loop batches the others' passes. A caller that stops early cancels the videos still in flight.
        """
        options = options or Options()
        width = max(2, self.decoders) if in_flight is None else max(1, in_flight)
        stop = threading.Event()
        pending: deque[tuple[Path, Future[RecognitionResult]]] = deque()
        paths = iter(Path(v) for v in videos)
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="vidgate-video") as threads:
            try:
                while True:
                    while len(pending) < width:
                        path = next(paths, None)
                        if path is None:
                            break
                        pending.append((path, threads.submit(self._recognize_path, path, options, stop.is_set)))
                    if not pending:
                        return
                    path, future = pending.popleft()
                    try:
                        yield path, future.result()
                    except VidgateError as exc:
                        yield path, exc
            finally:
                stop.set()  # a caller that stops early: the videos in flight stop at their next check
                for _, future in pending:
                    future.cancel()

    @torch.no_grad()
    def _recognize_path(self, path: Path, options: Options, should_cancel: Callable[[], bool]) -> RecognitionResult:
        report: Progress = lambda stage, fraction: None  # noqa: E731
        return self._finish(self._prepare(path, options, path.name, report, should_cancel), report, should_cancel)

    def _prepare(self, path: Path, options: Options, name: str, report: Progress,
                 should_cancel: Callable[[], bool] | None = None, *, whole: bool = False) -> _Video:
        """Probe, plan and decode the light frames (runs ahead of the model in `recognize_many`); ``whole``:
        keep them whole, for a `FrameSink` (the light network sees their centre)."""
        timer = StageTimer()
        start = time.perf_counter()
        report("probe", 0.0)
        with timer.stage("probe"):
            decoder = self._decoder(path, should_cancel)
            try:
                info = decoder.info  # isolated: probed in the decoding child
            except BaseException:
                decoder.close()
                raise
        try:
            plan, light_pass = self.plan_for(info, options)
        except BaseException:
            decoder.close()
            raise
        video = _Video(path, name, options, info, plan, light_pass, decoder, timer)
        try:
            if options.gated:
                report("light", 0.05)
                with timer.stage("decode_light"):
                    video.light, video.retained = light_pass_frames(
                        decoder, plan, info, light_pass, self.config, retain=self.retain_passed, whole=whole)
                video.frames_light = decoder.decoded_frames
        except BaseException:
            decoder.close()
            raise
        timer.add("total", time.perf_counter() - start)
        return video

    def _finish(self, video: _Video, report: Progress, should_cancel: Callable[[], bool] | None,
                centre_frames: FrameSink | None = None, head: HeadSink | None = None) -> RecognitionResult:
        """Light network, gate (which selects), heavy pass and head for a prepared video, through the device loop."""
        c, timer, options, plan = self.config, video.timer, video.options, video.plan
        start = time.perf_counter()
        gated = options.gated
        light_in_snippet = gated and video.light_pass != "keyframe"  # the light frames lie inside their snippets
        gate_scores = torch.zeros(len(plan))
        concepts: list[list[tuple[int, float]]] | None = None
        with self.loop.video(), video.decoder as decoder:
            if gated:
                assert video.light is not None
                if centre_frames is not None and light_in_snippet:
                    centre_frames({s.index: host_frames(video.light[i]) for i, s in enumerate(plan)})
                square = centre_crop(video.light, min(video.light.shape[1:3]), axes=(1, 2))  # (T, S, S, 3)
                video.light = None
                selection = self.loop.light(square, gate_rule(options), timer=timer)
                report("gate", 0.2)
                mask = selection.mask  # (T,): the gate's selection is the one the heavy pass reads
                gate_scores = selection.gate_scores
                activations = selection.concept_activations  # (T, K)
                top = activations.topk(min(3, activations.shape[1]), dim=1)
                concepts = [list(zip(i.tolist(), v.tolist(), strict=True)) for v, i in zip(*top, strict=True)]
            else:
                mask = baseline_mask(len(plan), options)
            cancel_check(should_cancel)
            chosen = mask.nonzero().flatten().tolist()
            retained = {i: frames for i, frames in video.retained.items() if i in set(chosen)}
            video.retained = {}
            chunks, order = heavy_pass_features(
                decoder, [plan[i] for i in chosen], retained, self.config, chunk=self.heavy_batch, loop=self.loop,
                executor=self._prefetch, timer=timer, report=report, should_cancel=should_cancel,
                centre_frames=None if light_in_snippet else centre_frames)
            frames_total = decoder.decoded_frames
        report("head", 0.97)
        times = relative_times(plan, video.info.num_frames)
        keep = options.evidence or head is not None
        scores, *kept = self.loop.fetch(lambda: self._head(chunks, order, mask, times, keep=keep), stage="head",
                                        timer=timer)
        head_in = HeadInput(features=kept[0].numpy(), selected=np.asarray(chosen, dtype=np.int64),
                            times=np.asarray(times, dtype=np.float32)) if keep else None
        evidence = None
        if options.evidence:
            assert head_in is not None
            report("evidence", 0.98)
            evidence = self.loop.call(lambda: evidence_terms(self.model, head_in).tolist(), stage="evidence",
                                      timer=timer)
        elif head is not None:  # for `explain`, later
            assert head_in is not None
            head(head_in)
        flops = self.loop.call(lambda: self.profile.video(len(plan), len(chosen), gated=gated))
        timer.add("total", time.perf_counter() - start)
        seconds = timer.resolve()
        seconds["decode"] = seconds.get("decode_light", 0.0) + seconds.get("decode_heavy", 0.0)
        report("done", 1.0)
        return assemble(
            name=video.name,
            info=video.info,
            plan=plan,
            mode=options.mode.value,
            classes=c.classes,
            scores=scores.tolist(),
            top_k=options.top_k,
            gate_scores=gate_scores.tolist() if gated else None,
            concepts=concepts,
            selected=mask.tolist(),
            evidence=evidence,
            flops=flops,
            decoding=Decoding(light_pass=video.light_pass if gated or video.light_pass == "aligned" else "none",
                              frames_light=video.frames_light, frames_total=frames_total),
            seconds=seconds,
            model=self.model_info,
            options=options.to_dict(),
        )

    def _head(self, chunks: list[torch.Tensor], order: list[int], mask: torch.Tensor, times: list[float], *,
              keep: bool) -> tuple[torch.Tensor, ...]:
        """On the loop thread: the class scores ``(C,)`` from the heavy features of the selected snippets
        (``chunks``, of snippets ``order``), and with ``keep`` those features ``(S, F)`` in snippet order."""
        loop, t = self.loop, mask.shape[0]
        features = torch.zeros(t, self.model.heavy.num_features, device=self.device)  # (T, F)
        if chunks:
            features.index_copy_(0, loop.to_device(torch.tensor(order)), torch.cat(chunks))
        on_device = loop.to_device(torch.tensor([times]))  # (1, T)
        logits = self.model.classify(features.unsqueeze(0), loop.to_device(mask).unsqueeze(0).float(), on_device)
        scores = self.model.scores(logits)[0].float()  # (C,)
        if not keep:
            return (scores,)
        return scores, features[loop.to_device(mask.nonzero().flatten())]  # (S, F)


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
