"""Decoding in a child process, so a decoder that hangs, crashes or eats memory cannot take the caller down.

Every read of an untrusted file goes through here — the probe included (`probe_isolated`, and an
`IsolatedDecoder` without ``info`` probes in its child), so the caller's process never opens the container.

The child runs ``python -m pipelines.decoding._child``: it imports only numpy, PyAV and this package
(multiprocessing's spawn/forkserver would re-import the caller's ``__main__``, which for the CLI or service
means torch, seconds per video). Before it touches a file the child limits
itself: address space (``RLIMIT_AS``), open files (``RLIMIT_NOFILE``), no core files. It probes the video
with the caller's limits (unless given ``info``), opens the backend and serves requests over a socket.
Frames come back as raw bytes received straight into the caller's output array. Each request has a
deadline: past it the child is killed and the request fails with ``decode_timeout``; a child that dies
fails the request with ``decoder_crashed`` (signal, abort) or ``decoder_out_of_memory``. While a request
waits, the caller's ``should_cancel`` is polled every 0.2 s: a cancel kills the child and raises
`Cancelled`. The next request starts a new child, so the caller decides whether to retry.

Where the child comes from, by the kind of session (docs/decoding.md, "Where a child comes from", has the
measurements): short sessions on untrusted files (``fork=True``: `probe_isolated`, thumbnails and clips)
take a fresh fork of the warm fork server (`_zygote`), so the API process pays a fork, not an interpreter
start, and no child serves a second untrusted file. Decoding sessions take a started interpreter from a
:class:`DecoderPool`, handed to the next video after a clean close (at most ``max_uses`` videos each): no
start-up on the critical path, several videos decode at once, and a crash names its signal (a forked
child's exit status belongs to the fork server). Without either, a new interpreter serves one video.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Cancelled, DecodeError, LimitError, OptionsError, VideoError, VidgateError
from ._zygote import Forked, Zygote, child_env
from .backends import Decoder
from .probe import VideoInfo

_CHILD = "pipelines.decoding._child"
_ZYGOTE = Zygote()  # this process's probe fork server, started on the first isolated probe
MAX_OPEN_FILES = 64  # the child's RLIMIT_NOFILE: a video needs one; a demuxer following references needs many
_POLL_S = 0.2

_ERRORS: dict[str, type[VidgateError]] = {cls.__name__: cls for cls in
                                          (VidgateError, VideoError, DecodeError, LimitError, OptionsError)}


class _Child:
    """One decoding child process and its socket (``forked``: from the probe fork server)."""

    def __init__(self, *, forked: bool = False) -> None:
        self.process: subprocess.Popen[bytes] | Forked
        if forked:
            self.process, ours = _ZYGOTE.spawn()
        else:
            ours, theirs = socket.socketpair()
            try:
                self.process = subprocess.Popen([sys.executable, "-m", _CHILD, str(theirs.fileno())],
                                                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                                env=child_env())
            finally:
                theirs.close()
        self.conn = multiprocessing.connection.Connection(ours.detach())
        self.uses = 0
        self._finalizer = weakref.finalize(self, _kill, self.process, self.conn)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self._finalizer.detach()
        _kill(self.process, self.conn)


def cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class DecoderPool:
    """Decoding children started ahead of time and reused across videos.

    The pool keeps ``size`` children, busy and idle together: a video takes an idle one and hands it back when
    it closes, so as many videos at once as ``size`` never wait for a start, and a child is replaced only when
    it dies or wears out. A video beyond ``size`` at once gets a child of its own, stopped when it closes.

    Args:
        size: children kept (one per video decoding at once; one per core is a good start).
        memory_limit_bytes: address-space limit of every child (None: unlimited).
        max_uses: videos a child serves before it is replaced (bounds what a leaking decoder can hold).
        codec_threads: each child's codec threads (``pyav``); default: the cores shared out among the
            children, at least one. The children decode videos side by side: a child's own frame threads
            would only compete with them for the cores, and each seek drains them (docs/decoding.md).
    """

    def __init__(self, size: int = 1, *, memory_limit_bytes: int | None = 4 << 30, max_uses: int = 50,
                 codec_threads: int | None = None) -> None:
        self.size = max(1, size)
        self.memory_limit_bytes = memory_limit_bytes
        self.max_uses = max_uses
        self.codec_threads = max(1, cores() // self.size) if codec_threads is None else codec_threads
        self.started = 0  # children started so far
        self._idle: list[_Child] = []
        self._busy = 0  # children handed out and not yet given back
        self._lock = threading.Lock()
        self._closed = False
        self._fill()

    def _start(self) -> _Child:
        self.started += 1
        return _Child()

    def _fill(self) -> None:
        with self._lock:
            while not self._closed and len(self._idle) + self._busy < self.size:
                self._idle.append(self._start())

    def acquire(self) -> _Child:
        """An idle started child, or a new one when all are busy (more videos at once than ``size``)."""
        with self._lock:
            if self._closed:
                raise OptionsError("the decoder pool is closed")
            while self._idle and not self._idle[0].alive():
                self._idle.pop(0).kill()
            child = self._idle.pop(0) if self._idle else self._start()
            self._busy += 1
            return child

    def release(self, child: _Child) -> None:
        """Take back a child whose video was closed (or that died); extra, dead or worn-out ones are stopped."""
        with self._lock:
            self._busy -= 1
            keep = (not self._closed and child.alive() and child.uses < self.max_uses
                    and len(self._idle) + self._busy < self.size)
            if keep:
                self._idle.append(child)
        if not keep:
            _ask_to_exit(child)
        self._fill()  # a dead or worn-out child's replacement starts now, off the next video's critical path

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            _ask_to_exit(child)

    def __enter__(self) -> DecoderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class IsolatedDecoder(Decoder):
    """The :class:`Decoder` interface, served by a backend running in a time- and memory-limited child.

    Args:
        path: the video file.
        backend: backend name or ``module:Class`` import path (imported in the child).
        timeout_s: deadline of each request (and of probing and opening the video), in seconds.
        memory_limit_bytes: address-space limit of the child (None: unlimited; with a pool, the pool's).
        info: the result of :func:`probe` if already known, passed to the child (else the child probes).
        pool: take a started child from this pool and give it back on a clean close.
        limits: keyword arguments of :func:`probe` (``max_file_bytes``, ``max_duration``, ``max_pixels``)
            the child's probe applies.
        max_open_files: the child's open-file limit.
        should_cancel: polled while a request waits; True stops the child and raises `Cancelled`.
        fork: take the child from the warm fork server (milliseconds to start: for short sessions such as
            a probe or a thumbnail) instead of starting an interpreter or taking one from ``pool``.
    """

    def __init__(self, path: str | Path, backend: str = "pyav", *, timeout_s: float = 60.0,
                 memory_limit_bytes: int | None = 4 << 30, info: VideoInfo | None = None,
                 pool: DecoderPool | None = None, limits: dict[str, Any] | None = None,
                 max_open_files: int = MAX_OPEN_FILES, should_cancel: Callable[[], bool] | None = None,
                 fork: bool = False, _probe_only: bool = False) -> None:
        self.path = Path(path)
        self.backend = backend
        self.timeout_s = timeout_s
        self.pool = pool
        self.limits = dict(limits or {})
        self.max_open_files = max_open_files
        self.should_cancel = should_cancel
        self.fork = fork
        self._probe_only = _probe_only
        self.memory_limit_bytes = pool.memory_limit_bytes if pool is not None else memory_limit_bytes
        self._info = info
        self._lock = threading.Lock()  # one request at a time (the recognizer prefetches from a thread)
        self._child: _Child | None = None
        self._closed = False
        self._decoded_before = 0  # frames decoded by children that are gone
        self._decoded_now = 0

    @property
    def info(self) -> VideoInfo:  # type: ignore[override]
        if self._info is None:
            with self._lock:
                self._start()
        assert self._info is not None
        return self._info

    @property
    def decoded_frames(self) -> int:  # type: ignore[override]
        """Frames the backend handed to its codec for this video (as far as the backend counts them)."""
        return self._decoded_before + self._decoded_now

    @property
    def pid(self) -> int | None:
        """Process id of the running child, if any (tests kill it to simulate a crash)."""
        child = self._child
        return child.process.pid if child is not None and child.alive() else None

    def frames(self, indices: Sequence[int], *, size: int | None = None, skip_nonref: bool = True,
               deblock: bool = True, crop: bool = True) -> np.ndarray:
        with self._lock:
            array, _ = self._request(("frames", [int(i) for i in indices], size, skip_nonref, deblock, crop))
        return array

    def keyframe_near(self, indices: Sequence[int], *, size: int | None = None) -> tuple[np.ndarray, list[int]]:
        with self._lock:
            array, actual = self._request(("keyframes", [int(i) for i in indices], size))
        return array, list(actual)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop(graceful=True)

    def _start(self) -> None:
        if self._closed:
            raise OptionsError("the decoder is closed")
        if self._child is not None:
            return
        if self.fork:  # from the warm fork server: milliseconds, not an interpreter start
            child = _Child(forked=True)
        else:
            child = self.pool.acquire() if self.pool is not None else _Child()
        child.uses += 1
        self._child = child
        child.conn.send(("open", str(self.path), self.backend, self._info, self.memory_limit_bytes, self.limits,
                         self.max_open_files, self._probe_only, self.pool.codec_threads if self.pool else 0))
        reply = self._receive(time.monotonic() + self.timeout_s, "opening the video")
        self._info = reply[1]

    def _request(self, message: tuple[Any, ...]) -> tuple[np.ndarray, Any]:
        self._start()
        assert self._child is not None
        conn = self._child.conn
        deadline = time.monotonic() + self.timeout_s
        try:
            conn.send(message)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            self._raise_death("sending a request")
        _, shape, extra, decoded = self._receive(deadline, "decoding")
        self._decoded_now = decoded
        array = np.empty(shape, dtype=np.uint8)  # (N, H, W, 3)
        self._wait(deadline, "receiving frames")
        try:
            if array.size:
                conn.recv_bytes_into(array.data.cast("B"))
            else:
                conn.recv_bytes()  # memoryview cannot cast an empty array
        except (EOFError, ConnectionResetError, OSError):
            self._raise_death("receiving frames")
        return array, extra

    def _wait(self, deadline: float, doing: str) -> None:
        """Until the child's next message arrives; past ``deadline`` → ``decode_timeout``, on cancel → `Cancelled`."""
        assert self._child is not None
        conn = self._child.conn
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._timeout(doing)
            step = min(remaining, _POLL_S) if self.should_cancel is not None else remaining
            if conn.poll(max(0.0, step)):
                return
            if self.should_cancel is not None and self.should_cancel():
                self._stop(graceful=False)
                raise Cancelled(f"{self.path.name}: cancelled while {doing}")

    def _receive(self, deadline: float, doing: str) -> tuple[Any, ...]:
        assert self._child is not None
        conn = self._child.conn
        self._wait(deadline, doing)
        try:
            reply: tuple[Any, ...] = conn.recv()
        except (EOFError, ConnectionResetError, OSError):
            self._raise_death(doing)
        if reply[0] == "error":
            _, kind, code, text, fatal = reply
            if fatal:
                self._stop(graceful=False)
            raise _ERRORS.get(kind, DecodeError)(text, code=code)
        return reply

    def _timeout(self, doing: str) -> None:
        self._stop(graceful=False)
        raise DecodeError(f"{self.path.name}: decoder gave no answer within {self.timeout_s:g} s while {doing}; "
                          "it was stopped", code="decode_timeout")

    def _raise_death(self, doing: str) -> None:
        assert self._child is not None
        process = self._child.process
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._stop(graceful=False)
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            hint = " (killed: possibly the system ran out of memory)" if -code == signal.SIGKILL else ""
            raise DecodeError(f"{self.path.name}: decoder crashed with {name} while {doing}{hint}",
                              code="decoder_crashed")
        if code is None:  # a forked probe child: only its death is known
            raise DecodeError(f"{self.path.name}: the decoder process died while {doing}", code="decoder_crashed")
        raise DecodeError(f"{self.path.name}: decoder exited (status {code}) while {doing}", code="decoder_crashed")

    def _stop(self, *, graceful: bool) -> None:
        child, self._child = self._child, None
        self._decoded_before += self._decoded_now
        self._decoded_now = 0
        if child is None:
            return
        if graceful and child.alive() and _close_video(child):
            if self.pool is not None:
                self.pool.release(child)
            else:
                _ask_to_exit(child)
            return
        child.kill()
        if self.pool is not None:
            self.pool.release(child)  # dead: dropped, and a fresh one started in its place


def _close_video(child: _Child) -> bool:
    """Ask the child to close its video; True when it answered (and can serve another)."""
    try:
        child.conn.send(("close",))
        if child.conn.poll(2.0):
            return bool(child.conn.recv() == ("closed",))
    except (OSError, EOFError):
        pass
    return False


def _ask_to_exit(child: _Child) -> None:
    with contextlib.suppress(OSError):
        child.conn.send(("exit",))
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.process.wait(timeout=2)
    child.kill()


def _kill(process: subprocess.Popen[bytes] | Forked, conn: multiprocessing.connection.Connection) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    conn.close()


def probe_isolated(path: str | Path, *, timeout_s: float = 60.0, memory_limit_bytes: int | None = 4 << 30,
                   max_open_files: int = MAX_OPEN_FILES, **limits: Any) -> VideoInfo:
    """:func:`probe` in a limited child process (time, memory, open files): for untrusted files.

    The child is forked from a warm fork server (`_zygote`): a probe costs milliseconds of start-up.

    Args:
        path: the video file.
        timeout_s: the probe's deadline (``decode_timeout`` past it).
        memory_limit_bytes: address-space limit of the child.
        max_open_files: the child's open-file limit.
        limits: :func:`probe`'s ``max_file_bytes``, ``max_duration``, ``max_pixels``.

    Raises:
        VideoError, DecodeError, LimitError: as :func:`probe`, plus ``decode_timeout``, ``decoder_crashed``
            and ``decoder_out_of_memory`` when the child overran or died.
    """
    decoder = IsolatedDecoder(path, "pyav", timeout_s=timeout_s, memory_limit_bytes=memory_limit_bytes,
                              limits=limits, max_open_files=max_open_files, fork=True, _probe_only=True)
    try:
        return decoder.info
    finally:
        decoder.close()
