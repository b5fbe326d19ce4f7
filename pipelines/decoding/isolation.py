"""Decoding in a child process, so a decoder that hangs, crashes or eats memory cannot take the caller down.

Every read of an untrusted file goes through here — the probe included (`probe_isolated`, and the
`IsolatedDecoder`'s child probes before it decodes), so the caller's process never opens the container.

The child is started once per video as a fresh interpreter (``python -m pipelines.decoding._child``,
about 0.4 s: it imports only numpy, PyAV and this package — multiprocessing's spawn/forkserver would
re-import the caller's ``__main__``, which for the CLI or service means torch, seconds per video),
limits itself (address space ``RLIMIT_AS``, open files ``RLIMIT_NOFILE``, no core files), probes the
video with the caller's limits, opens the backend and serves requests over a socket. Frames come back
as raw bytes received straight into the caller's output array. Each request has a deadline: past it
the child is killed and the request fails with ``decode_timeout``; a child that dies fails the request
with ``decoder_crashed`` (signal, abort) or ``decoder_out_of_memory``. While a request waits, the
caller's ``should_cancel`` is polled every 0.2 s: a cancel kills the child and raises `Cancelled`.
The next request starts a new child, so the caller decides whether to retry.
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Cancelled, DecodeError, LimitError, OptionsError, VideoError, VidgateError
from ._zygote import Zygote
from .backends import Decoder, open_decoder
from .probe import VideoInfo, probe

_ZYGOTE = Zygote()  # this process's probe fork server, started on the first isolated probe
MAX_OPEN_FILES = 64  # the child's RLIMIT_NOFILE: a video needs one; a demuxer following references needs many
_POLL_S = 0.2

_ERRORS: dict[str, type[VidgateError]] = {cls.__name__: cls for cls in
                                          (VidgateError, VideoError, DecodeError, LimitError, OptionsError)}


class IsolatedDecoder(Decoder):
    """The :class:`Decoder` interface, served by a backend running in a time- and memory-limited child.

    Args:
        path: the video file.
        backend: backend name or ``module:Class`` import path (imported in the child).
        timeout_s: deadline of each request (and of probing and opening the video), in seconds.
        memory_limit_bytes: address-space limit of the child (None: unlimited).
        info: the result of :func:`probe` if already known, passed to the child (else the child probes).
        limits: keyword arguments of :func:`probe` (``max_file_bytes``, ``max_duration``, ``max_pixels``)
            the child's probe applies.
        max_open_files: the child's open-file limit.
        should_cancel: polled while a request waits; True stops the child and raises `Cancelled`.
    """

    def __init__(self, path: str | Path, backend: str = "pyav", *, timeout_s: float = 60.0,
                 memory_limit_bytes: int | None = 4 << 30, info: VideoInfo | None = None,
                 limits: dict[str, Any] | None = None, max_open_files: int = MAX_OPEN_FILES,
                 should_cancel: Callable[[], bool] | None = None, _probe_only: bool = False) -> None:
        self.path = Path(path)
        self.backend = backend
        self.timeout_s = timeout_s
        self.memory_limit_bytes = memory_limit_bytes
        self.limits = dict(limits or {})
        self.max_open_files = max_open_files
        self.should_cancel = should_cancel
        self._probe_only = _probe_only
        self._info = info
        self._lock = threading.Lock()  # one request at a time (the recognizer prefetches from a thread)
        self._process: Any = None  # subprocess.Popen, or a _zygote.Forked child for a probe
        self._conn: multiprocessing.connection.Connection | None = None
        self._finalizer: weakref.finalize | None = None
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
        process: Any
        if self._probe_only:  # a probe: forked from the warm fork server (milliseconds, not an interpreter)
            process, ours = _ZYGOTE.spawn()
        else:
            ours, theirs = socket.socketpair()
            # The child sees the caller's import path, so ``module:Class`` backends from anywhere resolve.
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
            try:
                process = subprocess.Popen([sys.executable, "-m", "pipelines.decoding._child",
                                            str(theirs.fileno())], pass_fds=[theirs.fileno()],
                                           stdin=subprocess.DEVNULL, env=env)
            finally:
                theirs.close()
        conn = multiprocessing.connection.Connection(ours.detach())
        self._process, self._conn = process, conn
        self._finalizer = weakref.finalize(self, _kill, process, conn)
        conn.send({"path": str(self.path), "backend": self.backend, "info": self._info, "limits": self.limits,
                   "memory_limit_bytes": self.memory_limit_bytes, "max_open_files": self.max_open_files,
                   "probe_only": self._probe_only})
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
        self._wait(deadline, "receiving frames")
        try:
            if array.size:
                self._conn.recv_bytes_into(array.data.cast("B"))
            else:
                self._conn.recv_bytes()  # memoryview cannot cast an empty array
        except (EOFError, ConnectionResetError, OSError):
            self._raise_death("receiving frames")
        return array, extra

    def _wait(self, deadline: float, doing: str) -> None:
        """Until the child's next message arrives; past ``deadline`` → ``decode_timeout``, on cancel → `Cancelled`."""
        assert self._conn is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._timeout(doing)
            step = min(remaining, _POLL_S) if self.should_cancel is not None else remaining
            if self._conn.poll(max(0.0, step)):
                return
            if self.should_cancel is not None and self.should_cancel():
                self._stop(graceful=False)
                raise Cancelled(f"{self.path.name}: cancelled while {doing}")

    def _receive(self, deadline: float, doing: str) -> tuple[Any, ...]:
        assert self._conn is not None
        self._wait(deadline, doing)
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
        if code is None:  # a forked probe child: only its death is known
            raise DecodeError(f"{self.path.name}: the decoder process died while {doing}", code="decoder_crashed")
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


def _kill(process: Any, conn: multiprocessing.connection.Connection) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    conn.close()


def probe_isolated(path: str | Path, *, timeout_s: float = 60.0, memory_limit_bytes: int | None = 4 << 30,
                   max_open_files: int = MAX_OPEN_FILES, **limits: Any) -> VideoInfo:
    """:func:`probe` in a limited child process (time, memory, open files): for untrusted files.

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
                              limits=limits, max_open_files=max_open_files, _probe_only=True)
    try:
        return decoder.info
    finally:
        decoder.close()


def serve(fd: int) -> None:
    """The child's entry point: receive the open request on socket ``fd``, then serve (see ``_child``)."""
    conn = multiprocessing.connection.Connection(fd)
    try:
        request = conn.recv()
    except EOFError:
        return
    _limit(request["memory_limit_bytes"], request["max_open_files"])
    _serve(conn, request)


def _limit(memory_limit_bytes: int | None, max_open_files: int | None) -> None:
    """Limits of the child itself, set before it touches the file."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    if memory_limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    if max_open_files:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        soft = max_open_files if hard == resource.RLIM_INFINITY else min(max_open_files, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, soft))


def _serve(conn: multiprocessing.connection.Connection, request: dict[str, Any]) -> None:
    """The child: probe (unless the caller knows the video), open the backend, answer requests until told to
    close or the pipe ends."""
    path, backend, info = request["path"], request["backend"], request["info"]
    memory_limit_bytes = request["memory_limit_bytes"]
    try:
        if info is None:
            info = probe(path, **request["limits"])
        if request["probe_only"]:
            conn.send(("ready", info))
            return
        decoder = open_decoder(path, backend, info=info)
    except VidgateError as exc:
        _reply_error(conn, type(exc).__name__, exc.code, exc.message, fatal=True)
        return
    except MemoryError as exc:
        _reply_error(conn, "DecodeError", "decoder_out_of_memory",
                     f"{Path(path).name}: probing ran out of memory (limit {memory_limit_bytes} bytes): {exc}",
                     fatal=True)
        os._exit(3)
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
