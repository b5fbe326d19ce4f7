"""Decoding in a child process, so a decoder that hangs, crashes or eats memory cannot take the caller down.

The child is a fresh interpreter (``python -m pipelines.decoding._child``, about 0.4 s to start: it
imports only numpy, PyAV and this package — multiprocessing's spawn/forkserver would re-import the
caller's ``__main__``, which for the CLI or service means torch, seconds per video). It caps its own
address space with ``RLIMIT_AS``, opens the backend and serves requests over a socket. Frames come
back as raw bytes received straight into the caller's output array. Each request has a deadline: past
it the child is killed and the request fails with ``decode_timeout``; a child that dies fails the
request with ``decoder_crashed`` (signal, abort) or ``decoder_out_of_memory``. The next request
starts a new child, so the caller decides whether to retry.

Without a pool a child serves one video and exits. A :class:`DecoderPool` keeps children started
ahead of time and hands a healthy one to the next video after a clean close (at most ``max_uses``
videos each): no start-up on the critical path, and several videos decode at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DecodeError, LimitError, OptionsError, VideoError, VidgateError
from .backends import Decoder, open_decoder
from .probe import VideoInfo

_CHILD = "pipelines.decoding._child"

_ERRORS: dict[str, type[VidgateError]] = {cls.__name__: cls for cls in
                                          (VidgateError, VideoError, DecodeError, LimitError, OptionsError)}


class _Child:
    """One decoding child process and its socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        # The child sees the caller's import path, so ``module:Class`` backends from anywhere resolve.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        try:
            self.process = subprocess.Popen([sys.executable, "-m", _CHILD, str(theirs.fileno())],
                                            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env)
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


class DecoderPool:
    """Decoding children started ahead of time and reused across videos.

    Args:
        size: children kept started and idle (at least one per spare core is a good start).
        memory_limit_bytes: address-space limit of every child (None: unlimited).
        max_uses: videos a child serves before it is replaced (bounds what a leaking decoder can hold).
    """

    def __init__(self, size: int = 1, *, memory_limit_bytes: int | None = 4 << 30, max_uses: int = 50) -> None:
        self.size = max(1, size)
        self.memory_limit_bytes = memory_limit_bytes
        self.max_uses = max_uses
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self._closed = False
        self._fill()

    def _fill(self) -> None:
        with self._lock:
            while not self._closed and len(self._idle) < self.size:
                self._idle.append(_Child())

    def acquire(self) -> _Child:
        """An idle started child, or a new one when all are busy (more videos at once than ``size``)."""
        with self._lock:
            if self._closed:
                raise OptionsError("the decoder pool is closed")
            while self._idle and not self._idle[0].alive():
                self._idle.pop(0).kill()
            return self._idle.pop(0) if self._idle else _Child()

    def release(self, child: _Child) -> None:
        """Take back a child whose video was closed cleanly; extra or worn-out ones are stopped."""
        with self._lock:
            keep = not self._closed and child.alive() and child.uses < self.max_uses and len(self._idle) < self.size
            if keep:
                self._idle.append(child)
        if not keep:
            _ask_to_exit(child)
        self._fill()  # a worn-out child's replacement starts now, off the next video's critical path

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
        timeout_s: deadline of each request (and of opening the video), in seconds.
        memory_limit_bytes: address-space limit of the child (None: unlimited; with a pool, the pool's).
        info: the result of :func:`probe` if already known, passed to the child.
        pool: take a started child from this pool and give it back on a clean close.
    """

    def __init__(self, path: str | Path, backend: str = "pyav", *, timeout_s: float = 60.0,
                 memory_limit_bytes: int | None = 4 << 30, info: VideoInfo | None = None,
                 pool: DecoderPool | None = None) -> None:
        self.path = Path(path)
        self.backend = backend
        self.timeout_s = timeout_s
        self.pool = pool
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
               deblock: bool = True) -> np.ndarray:
        with self._lock:
            array, _ = self._request(("frames", [int(i) for i in indices], size, skip_nonref, deblock))
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
        child = self.pool.acquire() if self.pool is not None else _Child()
        child.uses += 1
        self._child = child
        child.conn.send(("open", str(self.path), self.backend, self._info, self.memory_limit_bytes))
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
        if not conn.poll(max(0.0, deadline - time.monotonic())):
            self._timeout("receiving frames")
        try:
            if array.size:
                conn.recv_bytes_into(array.data.cast("B"))
            else:
                conn.recv_bytes()  # memoryview cannot cast an empty array
        except (EOFError, ConnectionResetError, OSError):
            self._raise_death("receiving frames")
        return array, extra

    def _receive(self, deadline: float, doing: str) -> tuple[Any, ...]:
        assert self._child is not None
        conn = self._child.conn
        if not conn.poll(max(0.0, deadline - time.monotonic())):
            self._timeout(doing)
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


def _kill(process: subprocess.Popen[bytes], conn: multiprocessing.connection.Connection) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    conn.close()


def serve(fd: int) -> None:
    """The child's entry point: serve one video after another on socket ``fd`` (see ``_child``)."""
    conn = multiprocessing.connection.Connection(fd)
    limited = False
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message[0] != "open":
            return  # "exit", or a request for a video that is not open
        _, path, backend, info, memory_limit_bytes = message
        if memory_limit_bytes and not limited:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
            limited = True
        if not _serve(conn, path, backend, info, memory_limit_bytes):
            return


def _serve(conn: multiprocessing.connection.Connection, path: str, backend: str, info: VideoInfo | None,
           memory_limit_bytes: int | None) -> bool:
    """Open the backend and answer requests for one video; True when closed on request (serve another)."""
    try:
        decoder = open_decoder(path, backend, info=info)
    except VidgateError as exc:
        _reply_error(conn, type(exc).__name__, exc.code, exc.message, fatal=True)
        return False
    except Exception as exc:
        _reply_error(conn, "DecodeError", "decode_failed", f"{Path(path).name}: {type(exc).__name__}: {exc}",
                     fatal=True)
        return False
    try:
        conn.send(("ready", decoder.info))
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return False
            if message[0] == "close":
                conn.send(("closed",))
                return True
            if message[0] == "exit":
                return False
            try:
                array, extra = _answer(decoder, message)
            except VidgateError as exc:  # bad request or undecodable frame: the child stays usable
                _reply_error(conn, type(exc).__name__, exc.code, exc.message, fatal=False)
                continue
            conn.send(("ok", array.shape, extra, decoder.decoded_frames))
            conn.send_bytes(array.data.cast("B") if array.size else b"")
            del array
    except MemoryError as exc:
        _reply_error(conn, "DecodeError", "decoder_out_of_memory",
                     f"{Path(path).name}: decoder ran out of memory (limit {memory_limit_bytes} bytes): {exc}",
                     fatal=True)
        os._exit(3)  # state after a failed allocation is not trustworthy
    except Exception as exc:
        _reply_error(conn, "DecodeError", "decode_failed", f"{Path(path).name}: {type(exc).__name__}: {exc}",
                     fatal=True)
        return False
    finally:
        decoder.close()


def _answer(decoder: Decoder, message: tuple[Any, ...]) -> tuple[np.ndarray, Any]:
    kind, indices, size, *hints = message
    if kind == "keyframes":
        array, extra = decoder.keyframe_near(indices, size=size)
    elif hints == [True, True]:  # the defaults: third-party backends need not know the hints
        array, extra = decoder.frames(indices, size=size), None
    else:
        skip_nonref, deblock = hints
        array, extra = decoder.frames(indices, size=size, skip_nonref=skip_nonref, deblock=deblock), None
    return np.ascontiguousarray(array), extra


def _reply_error(conn: multiprocessing.connection.Connection, kind: str, code: str, text: str, *,
                 fatal: bool) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        conn.send(("error", kind, code, text, fatal))
