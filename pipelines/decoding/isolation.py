"""Decoding in a child process, so a decoder that hangs, crashes or eats memory cannot take the caller down.

The child is started once per video as a fresh interpreter (``python -m pipelines.decoding._child``,
about 0.4 s: it imports only numpy, PyAV and this package — multiprocessing's spawn/forkserver would
re-import the caller's ``__main__``, which for the CLI or service means torch, seconds per video),
caps its own address space with ``RLIMIT_AS``, opens the backend and serves requests over a socket. Frames come back
as raw bytes received straight into the caller's output array. Each request has a deadline: past it
the child is killed and the request fails with ``decode_timeout``; a child that dies fails the request
with ``decoder_crashed`` (signal, abort) or ``decoder_out_of_memory``. The next request starts a new
child, so the caller decides whether to retry.
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

_ERRORS: dict[str, type[VidgateError]] = {cls.__name__: cls for cls in
                                          (VidgateError, VideoError, DecodeError, LimitError, OptionsError)}


class IsolatedDecoder(Decoder):
    """The :class:`Decoder` interface, served by a backend running in a time- and memory-limited child.

    Args:
        path: the video file.
        backend: backend name or ``module:Class`` import path (imported in the child).
        timeout_s: deadline of each request (and of opening the video), in seconds.
        memory_limit_bytes: address-space limit of the child (None: unlimited).
        info: the result of :func:`probe` if already known, passed to the child.
    """

    def __init__(self, path: str | Path, backend: str = "pyav", *, timeout_s: float = 60.0,
                 memory_limit_bytes: int | None = 4 << 30, info: VideoInfo | None = None) -> None:
        self.path = Path(path)
        self.backend = backend
        self.timeout_s = timeout_s
        self.memory_limit_bytes = memory_limit_bytes
        self._info = info
        self._lock = threading.Lock()  # one request at a time (the recognizer prefetches from a thread)
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._finalizer: weakref.finalize[..., Any] | None = None
        self._closed = False

    @property
    def info(self) -> VideoInfo:  # type: ignore[override]
        if self._info is None:
            with self._lock:
                self._start()
        assert self._info is not None
        return self._info

    @property
    def pid(self) -> int | None:
        """Process id of the running child, if any (tests kill it to simulate a crash)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def frames(self, indices: Sequence[int], *, size: int | None = None) -> np.ndarray:
        with self._lock:
            array, _ = self._request(("frames", [int(i) for i in indices], size))
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
        if self._process is not None:
            return
        ours, theirs = socket.socketpair()
        # The child sees the caller's import path, so ``module:Class`` backends from anywhere resolve.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        try:
            process = subprocess.Popen([sys.executable, "-m", "pipelines.decoding._child", str(theirs.fileno())],
                                       pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env)
        finally:
            theirs.close()
        conn = multiprocessing.connection.Connection(ours.detach())
        self._process, self._conn = process, conn
        self._finalizer = weakref.finalize(self, _kill, process, conn)
        conn.send(("open", str(self.path), self.backend, self._info, self.memory_limit_bytes))
        reply = self._receive(time.monotonic() + self.timeout_s, "opening the video")
        self._info = reply[1]

    def _request(self, message: tuple[Any, ...]) -> tuple[np.ndarray, Any]:
        self._start()
        assert self._conn is not None
        deadline = time.monotonic() + self.timeout_s
        try:
            self._conn.send(message)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            self._raise_death("sending a request")
        _, shape, extra = self._receive(deadline, "decoding")
        array = np.empty(shape, dtype=np.uint8)  # (N, H, W, 3)
        if not self._conn.poll(max(0.0, deadline - time.monotonic())):
            self._timeout("receiving frames")
        try:
            if array.size:
                self._conn.recv_bytes_into(array.data.cast("B"))
            else:
                self._conn.recv_bytes()  # memoryview cannot cast an empty array
        except (EOFError, ConnectionResetError, OSError):
            self._raise_death("receiving frames")
        return array, extra

    def _receive(self, deadline: float, doing: str) -> tuple[Any, ...]:
        assert self._conn is not None
        if not self._conn.poll(max(0.0, deadline - time.monotonic())):
            self._timeout(doing)
        try:
            reply: tuple[Any, ...] = self._conn.recv()
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
        process = self._process
        assert process is not None
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
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is None or conn is None:
            return
        if graceful and process.poll() is None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                conn.send(("close",))
                process.wait(timeout=2)
        _kill(process, conn)


def _kill(process: subprocess.Popen[bytes], conn: multiprocessing.connection.Connection) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    conn.close()


def serve(fd: int) -> None:
    """The child's entry point: receive the open request on socket ``fd``, then serve (see ``_child``)."""
    conn = multiprocessing.connection.Connection(fd)
    try:
        _, path, backend, info, memory_limit_bytes = conn.recv()
    except EOFError:
        return
    _serve(conn, path, backend, info, memory_limit_bytes)


def _serve(conn: multiprocessing.connection.Connection, path: str, backend: str, info: VideoInfo | None,
           memory_limit_bytes: int | None) -> None:
    """The child: cap memory, open the backend, answer requests until told to close or the pipe ends."""
    if memory_limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    try:
        decoder = open_decoder(path, backend, info=info)
    except VidgateError as exc:
        _reply_error(conn, type(exc).__name__, exc.code, exc.message, fatal=True)
        return
    except Exception as exc:
        _reply_error(conn, "DecodeError", "decode_failed", f"{Path(path).name}: {type(exc).__name__}: {exc}",
                     fatal=True)
        return
    try:
        conn.send(("ready", decoder.info))
        while True:
            try:
                message = conn.recv()
            except EOFError:
                break
            if message[0] == "close":
                break
            try:
                array, extra = _answer(decoder, message)
            except VidgateError as exc:  # bad request or undecodable frame: the child stays usable
                _reply_error(conn, type(exc).__name__, exc.code, exc.message, fatal=False)
                continue
            conn.send(("ok", array.shape, extra))
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
    finally:
        decoder.close()


def _answer(decoder: Decoder, message: tuple[Any, ...]) -> tuple[np.ndarray, Any]:
    kind, indices, size = message
    if kind == "keyframes":
        array, extra = decoder.keyframe_near(indices, size=size)
    else:
        array, extra = decoder.frames(indices, size=size), None
    return np.ascontiguousarray(array), extra


def _reply_error(conn: multiprocessing.connection.Connection, kind: str, code: str, text: str, *,
                 fatal: bool) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        conn.send(("error", kind, code, text, fatal))
