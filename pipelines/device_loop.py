"""One device loop per recognizer: the light pass, the gate and the heavy pass of every video in flight, in batches.

Videos call in from their own threads; one thread owns the model on the device and runs the forward passes;
each video gets its own rows back::

    video threads ──light+gate / heavy / head──► queue ──► loop thread: [light+gate a b c] [heavy a c] [head b] ...

* **Batching.** The loop serves the oldest request first, together with every queued request of the same
  kind (at most ``max_frames`` light frames or ``max_snippets`` heavy snippets per pass). While some videos
  in flight (`video`) have nothing queued, it waits up to ``wait_s`` for them: on CUDA a few milliseconds
  (a pass there is short and a wider batch costs little more); on the CPU not at all (a pass takes long
  enough that requests queue meanwhile).
* **Frames go up as uint8.** A host array is copied into pinned memory by the video's own thread and sent
  on a copy stream; frames already on the device (GPU decoding) are taken as they are. The compute stream
  waits for them through an event; the conversion to float, the resize and the normalisation then run on
  the device (`pipelines.transforms`, the functions training uses).
* **Nothing synchronises the device.** Every pass runs on the loop's own CUDA stream; what the host must read
  (the gate's decision, the class scores) comes back through pinned memory and an event that the video's
  thread waits for. Heavy features stay on the device until the head reads them. Stage times come from
  CUDA events, read once the video is done (`StageTimer`); on the CPU from ``perf_counter``.
* **One bad video fails alone.** A pass that raises is run again request by request, so only the requests
  that fail on their own get the error.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from models import SelectionRule, VidGate

from .timing import DeviceSpan, StageTimer
from .transforms import heavy_input, light_input

T = TypeVar("T")
Kind = Literal["light", "heavy", "call"]
Frames = np.ndarray | torch.Tensor  # (..., H, W, 3) uint8, on the host or on the loop's device


@dataclass(frozen=True)
class Selection:
    """What the gate decided for one video, on the host.

    Attributes:
        mask: the snippets selected. ``(T,)`` bool
        gate_scores: each snippet's gate score. ``(T,)`` float32
        concept_activations: each snippet's similarity to every concept kernel. ``(T, K)`` float32
    """

    mask: torch.Tensor
    gate_scores: torch.Tensor
    concept_activations: torch.Tensor


@dataclass
class _Request:
    kind: Kind
    size: int  # light frames or heavy snippets (what a pass's limit counts)
    payload: Any  # light: (frames, rule); heavy: frames; call: (fn, to_host)
    ready: torch.cuda.Event | None  # when the frames are on the device (CUDA)
    timer: StageTimer | None
    future: Future[Any]


class _Queue:
    """What the loop thread and the video threads share (the loop itself is held weakly by its thread, so a
    recognizer that is dropped without `close` stops its thread)."""

    def __init__(self, wait_s: float, max_frames: int, max_snippets: int) -> None:
        self.cond = threading.Condition()
        self.requests: list[_Request] = []
        self.in_flight = 0
        self.closed = False
        self.wait_s = wait_s
        self.limits: dict[Kind, int] = {"light": max_frames, "heavy": max_snippets, "call": 1}

    def put(self, request: _Request) -> None:
        with self.cond:
            if self.closed:
                raise RuntimeError("the device loop is closed")
            self.requests.append(request)
            self.cond.notify_all()

    def take(self) -> list[_Request] | None:
        """The next pass's requests: the oldest one and every queued one of its kind, within its limit."""
        with self.cond:
            while not self.requests and not self.closed:
                self.cond.wait()
            if not self.requests:
                return None
            deadline = time.monotonic() + self.wait_s
            while (len(self.requests) < self.in_flight and self._queued(self.requests[0].kind) < self._limit()
                   and not self.closed and (left := deadline - time.monotonic()) > 0):
                self.cond.wait(left)  # some videos in flight may be about to ask: give them a moment
            kind, limit = self.requests[0].kind, self._limit()
            batch: list[_Request] = []
            size = 0
            for request in list(self.requests):
                if request.kind != kind or (batch and (size + request.size > limit or kind == "call")):
                    continue
                batch.append(request)
                size += request.size
                self.requests.remove(request)
            return batch

    def close(self) -> None:
        with self.cond:
            self.closed = True
            left, self.requests = self.requests, []
            self.cond.notify_all()
        for request in left:
            request.future.set_exception(RuntimeError("the device loop is closed"))

    def _queued(self, kind: Kind) -> int:
        return sum(r.size for r in self.requests if r.kind == kind)

    def _limit(self) -> int:
        return self.limits[self.requests[0].kind]


class DeviceLoop:
    """Runs a model's light, gate, heavy and head passes for every video in flight, batched across videos.

    Args:
        model: the model, already on ``device`` and in eval mode.
        device: where it runs.
        max_frames: most light frames in one pass.
        max_snippets: most heavy snippets in one pass.
        wait_s: how long a pass waits for videos in flight that have nothing queued yet (default: 5 ms on
            CUDA, 0 on the CPU).

    Attributes:
        passes: forward passes run, by kind (``light`` counts the light network and the gate once).
        requests: requests served, by kind.
        batch_sizes: how many requests each of the last 4096 light and heavy passes carried, in order (for tests
            and benches).
    """

    def __init__(self, model: VidGate, device: torch.device, *, max_frames: int = 512, max_snippets: int = 64,
                 wait_s: float | None = None) -> None:
        self.model = model
        self.cuda = device.type == "cuda"
        if self.cuda and device.index is None:  # "cuda": the current device, named (streams and threads need its index)
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = device
        self._queue = _Queue(wait_s if wait_s is not None else 0.005 if self.cuda else 0.0, max_frames, max_snippets)
        self._stream = _new_stream(device) if self.cuda else None  # every pass runs on it
        self._copy = _new_stream(device) if self.cuda else None  # uploads from pinned memory
        self.passes: dict[str, int] = {"light": 0, "heavy": 0, "call": 0}
        self.requests: dict[str, int] = {"light": 0, "heavy": 0, "call": 0}
        self.batch_sizes: deque[tuple[str, int]] = deque(maxlen=4096)
        self._thread = threading.Thread(target=_serve, args=(weakref.ref(self), self._queue), daemon=True,
                                        name="vidgate-device-loop")
        self._thread.start()
        # Dropped without `close`, or still open at exit: stop the thread and wait for it, so that it is gone before
        # the interpreter finalises (a thread woken then would die inside torch's C++ frames).
        self._stop = weakref.finalize(self, _stop, self._queue, self._thread)

    @property
    def wait_s(self) -> float:
        return self._queue.wait_s

    @wait_s.setter
    def wait_s(self, seconds: float) -> None:
        self._queue.wait_s = seconds

    def close(self) -> None:
        """Stop the loop thread; requests still queued fail."""
        self._stop()

    @contextmanager
    def video(self) -> Iterator[None]:
        """Declare a video in flight while inside (a pass waits for such videos; see ``wait_s``)."""
        with self._queue.cond:
            self._queue.in_flight += 1
        try:
            yield
        finally:
            with self._queue.cond:
                self._queue.in_flight -= 1
                self._queue.cond.notify_all()

    # ---- what a video's thread calls ---------------------------------------------------------------------

    def light(self, frames: Frames, rule: SelectionRule | None, *, timer: StageTimer | None = None) -> Selection:
        """The light network and the gate for one video's square light frames ``(T, S, S, 3) uint8``: the gate's
        decision under ``rule`` (None: the model's learned threshold). Adds the ``light`` and ``gate`` passes'
        times to ``timer``."""
        tensor, ready = self._stage(frames)
        selection, host_ready = self._ask("light", tensor.shape[0], (tensor, rule), ready, timer)
        if host_ready is not None:
            host_ready.synchronize()  # this request's copies only, not the device
        result: Selection = selection
        return result

    def heavy(self, snippets: Frames, *, timer: StageTimer | None = None) -> torch.Tensor:
        """Heavy features ``(S, F)`` float32, on the device, of square snippet frames ``(S, L, H, W, 3) uint8``.
        Adds the ``heavy`` pass's time to ``timer``."""
        tensor, ready = self._stage(snippets)
        features, _ = self._ask("heavy", tensor.shape[0], tensor, ready, timer)
        result: torch.Tensor = features
        return result

    def call(self, fn: Callable[[], T], *, stage: str | None = None, timer: StageTimer | None = None) -> T:
        """Run ``fn`` on the loop thread (the head, the evidence, FLOP counting: anything that uses the model);
        adds its time to ``timer`` as ``stage``."""
        value, _ = self._ask("call", 1, (fn, False, stage), None, timer)
        result: T = value
        return result

    def fetch(self, fn: Callable[[], tuple[torch.Tensor, ...]], *, stage: str | None = None,
              timer: StageTimer | None = None) -> tuple[torch.Tensor, ...]:
        """As `call`, for an ``fn`` that returns tensors: they come back on the host (copied without stalling
        the loop; this thread waits for its own copies)."""
        value, ready = self._ask("call", 1, (fn, True, stage), None, timer)
        if ready is not None:
            ready.synchronize()
        result: tuple[torch.Tensor, ...] = value
        return result

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """A small host tensor on the device, for a function run by `call` (through pinned memory: a copy from
        pageable memory would wait for the stream)."""
        if not self.cuda:
            return tensor
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def _stage(self, frames: Frames) -> tuple[torch.Tensor, torch.cuda.Event | None]:
        """The frames as a tensor the loop can read: on the CPU as they are; on CUDA on the device, with the event
        after which they are there (a host array goes through pinned memory on the copy stream)."""
        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(np.ascontiguousarray(frames))
        if not self.cuda:
            return frames, None
        ready = _event()
        if frames.is_cuda:  # made on the device (GPU decoding), on this thread's current stream
            ready.record(torch.cuda.current_stream(self.device))
            return frames, ready
        assert self._copy is not None
        with torch.cuda.stream(self._copy):
            on_device = frames.pin_memory().to(self.device, non_blocking=True)
            ready.record(self._copy)
        return on_device, ready

    def _ask(self, kind: Kind, size: int, payload: Any, ready: torch.cuda.Event | None,
             timer: StageTimer | None) -> tuple[Any, torch.cuda.Event | None]:
        future: Future[tuple[Any, torch.cuda.Event | None]] = Future()
        self._queue.put(_Request(kind, size, payload, ready, timer, future))
        return future.result()

    # ---- the loop thread ---------------------------------------------------------------------------------

    def _run(self, batch: list[_Request]) -> None:
        kind = batch[0].kind
        self.requests[kind] += len(batch)
        if kind != "call":
            self.batch_sizes.append((kind, len(batch)))
        stream = torch.cuda.stream(self._stream) if self._stream is not None else nullcontext()
        with stream:
            for request in batch:
                if request.ready is not None:
                    assert self._stream is not None
                    self._stream.wait_event(request.ready)  # the device waits, not the host
                    if kind != "call":
                        tensor = request.payload[0] if kind == "light" else request.payload
                        tensor.record_stream(self._stream)  # made on another stream, read on this one
            try:
                results = self._pass(kind, batch)
            except Exception as exc:
                if len(batch) == 1:
                    batch[0].future.set_exception(exc)
                    return
                for request in batch:  # one video's input may be what failed: run each alone
                    try:
                        (result,) = self._pass(kind, [request])
                    except Exception as alone:
                        request.future.set_exception(alone)
                    else:
                        request.future.set_result(result)
                return
        for request, result in zip(batch, results, strict=True):
            request.future.set_result(result)

    def _pass(self, kind: Kind, batch: list[_Request]) -> list[tuple[Any, torch.cuda.Event | None]]:
        """One pass over ``batch``: each request's result and the event after which it is on the host. The
        requests' timers hear of the pass only once it has succeeded."""
        self.passes[kind] += 1
        spans: list[tuple[list[_Request], str, DeviceSpan]] = []
        if kind == "light":
            results = self._light(batch, spans)
        elif kind == "heavy":
            results = self._heavy(batch, spans)
        else:
            fn, to_host, stage = batch[0].payload
            value, span = self._timed(fn)
            if stage is not None:
                spans.append((batch, stage, span))
            results = [self._to_host(value) if to_host else (value, None)]
        for requests, stage, span in spans:  # a pass shared by several videos counts in full for each
            for request in requests:
                if request.timer is not None:
                    request.timer.add_pass(stage, span)
        return results

    def _light(self, batch: list[_Request], spans: list[tuple[list[_Request], str, DeviceSpan]]
               ) -> list[tuple[Any, torch.cuda.Event | None]]:
        model, config = self.model, self.model.config
        lengths = [r.size for r in batch]
        features, light_span = self._timed(lambda: model.encode_frames(
            torch.cat([light_input(r.payload[0], config) for r in batch])))  # (ΣT, D)
        spans.append((batch, "light", light_span))
        parts = features.split_with_sizes(lengths)
        groups: dict[SelectionRule | None, list[int]] = {}
        for i, request in enumerate(batch):
            groups.setdefault(request.payload[1], []).append(i)
        out: list[tuple[Any, torch.cuda.Event | None]] = [(None, None)] * len(batch)
        for rule, members in groups.items():  # one selection per rule: each video's under its own policy
            longest = max(lengths[i] for i in members)
            padded = features.new_zeros(len(members), longest, features.shape[1])  # (B, T, D)
            valid = torch.zeros(len(members), longest, dtype=torch.bool, device=features.device)  # (B, T)
            for row, i in enumerate(members):
                padded[row, : lengths[i]] = parts[i]
                valid[row, : lengths[i]] = True
            gate, gate_span = self._timed(partial(model.select, padded, valid, rule=rule))
            spans.append(([batch[i] for i in members], "gate", gate_span))
            for row, i in enumerate(members):
                n = lengths[i]
                (mask, scores, activations), ready = self._to_host(
                    (gate.mask[row, :n].bool(), gate.gate_scores[row, :n].float(),
                     gate.concept_activations[row, :n].float()))
                out[i] = (Selection(mask, scores, activations), ready)
        return out

    def _heavy(self, batch: list[_Request], spans: list[tuple[list[_Request], str, DeviceSpan]]
               ) -> list[tuple[Any, torch.cuda.Event | None]]:
        config = self.model.config
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.cuda else nullcontext()
        def encode() -> torch.Tensor:  # the whole pass, its input's conversion included (as the light pass's)
            inputs = torch.cat([heavy_input(r.payload, config) for r in batch])  # (ΣS, 3, L, H, W)
            with autocast:
                return self.model.encode_snippets(inputs).float()  # (ΣS, F)

        features, span = self._timed(encode)
        spans.append((batch, "heavy", span))
        return [(part, None) for part in features.split_with_sizes([r.size for r in batch])]

    def _timed(self, fn: Callable[[], T]) -> tuple[T, DeviceSpan]:
        if self._stream is None:
            start = time.perf_counter()
            value = fn()
            return value, time.perf_counter() - start
        begin, end = _event(timing=True), _event(timing=True, host_waits=True)
        begin.record(self._stream)
        value = fn()
        end.record(self._stream)
        return value, (begin, end)

    def _to_host(self, tensors: tuple[torch.Tensor, ...]) -> tuple[tuple[torch.Tensor, ...], torch.cuda.Event | None]:
        """Copies of ``tensors`` on the host, and the event after which they are there (None: already)."""
        if not self.cuda:
            return tuple(t.cpu() for t in tensors), None
        copies = tuple(torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(t, non_blocking=True)
                       for t in tensors)
        ready = _event(host_waits=True)
        ready.record(self._stream)
        return copies, ready


def _stop(queue: _Queue, thread: threading.Thread) -> None:
    queue.close()
    if thread is not threading.current_thread():
        thread.join()


def _new_stream(device: torch.device) -> torch.cuda.Stream:
    return torch.cuda.Stream(device)  # type: ignore[no-untyped-call]


def _event(*, timing: bool = False, host_waits: bool = False) -> torch.cuda.Event:
    """``host_waits``: a host thread will wait for it, asleep (a non-blocking event's wait spins a core, which
    the decoding children need)."""
    return torch.cuda.Event(enable_timing=timing, blocking=host_waits)  # type: ignore[no-untyped-call]


def _serve(ref: weakref.ReferenceType[DeviceLoop], queue: _Queue) -> None:
    """The loop thread: takes a pass's requests, runs them, until the loop closes or is dropped."""
    device = None
    with torch.no_grad():  # grad mode is per thread; the evidence turns it on where it needs it
        while True:
            batch = queue.take()
            if batch is None:
                return
            loop = ref()
            if loop is None:
                for request in batch:
                    request.future.set_exception(RuntimeError("the device loop is closed"))
                return
            if loop.cuda and device is None:
                device = loop.device
                torch.cuda.set_device(device)
            try:
                loop._run(batch)
            except BaseException as exc:  # a bug in the loop itself: fail the batch, keep serving
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
            del loop
