"""A fork server for probe children: one warm interpreter (numpy, PyAV and this package imported) that forks a
fresh child per probe, so an isolated probe costs a fork (milliseconds) instead of a new interpreter (~0.2 s
of CPU). The API probes every upload this way; a flood of uploads no longer buys a flood of interpreter starts.

The server (``python -m pipelines.decoding._child --zygote FD``) is a child of the caller and exits when the
caller's end of its control socket closes. For each request it receives one end of a fresh socket pair
(``SCM_RIGHTS``), forks, and sends back the child's pid; the child serves that socket exactly like a
spawned child (:func:`_serving.serve`: limits itself, probes, answers, exits). The server ignores
``SIGCHLD`` (the kernel reaps its children) and runs single-threaded (BLAS pools pinned to one thread), so
forking it is safe. The caller holds each child through a pidfd, so killing a child can never hit a
recycled pid; a child's exit status is not known to the caller (only that it died).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from typing import Any

_PID = struct.Struct("!i")
_SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def child_env() -> dict[str, str]:
    """The environment of a decoding child and of the fork server: the caller's, with its import path (so
    ``module:Class`` backends from anywhere resolve), BLAS pools pinned to one thread, and at most two malloc
    arenas unless the caller chose a number.

    The children run under an address-space limit (``RLIMIT_AS``). glibc gives each thread that allocates an
    arena of its own, up to 8 per core, each reserving 64 MiB of address space; FFmpeg starts a codec thread
    and a scaler thread per core. On 16 cores that reserved past a 4 GiB limit with little memory in use, and
    the scaler failed with EAGAIN.
    """
    return {"MALLOC_ARENA_MAX": "2", **os.environ, **_SINGLE_THREADED,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


class Forked:
    """A forked child, with the part of `subprocess.Popen`'s interface the isolated decoder uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None  # never known: the child is the server's, not ours
        self._pidfd = os.pidfd_open(pid)
        self._gone = False

    def poll(self) -> int | None:
        """None while the child runs; 0 once it is gone (its real status is unknown)."""
        if not self._gone and select.select([self._pidfd], [], [], 0)[0]:
            self._gone = True
        return 0 if self._gone else None

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._gone and not select.select([self._pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
        self._gone = True
        self.close()
        return None

    def kill(self) -> None:
        if not self._gone and self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def close(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class Zygote:
    """The caller's side: starts the server on first use (and again if it died), asks it for children."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None

    def spawn(self) -> tuple[Forked, socket.socket]:
        """A new child and the caller's end of its socket."""
        with self._lock:
            for _ in range(2):  # a server that died is started again once
                if self._server is None or self._server.poll() is not None:
                    self._start()
                assert self._control is not None
                ours, theirs = socket.socketpair()
                try:
                    socket.send_fds(self._control, [b"f"], [theirs.fileno()])
                    reply = _receive_exact(self._control, _PID.size)
                    return Forked(_PID.unpack(reply)[0]), ours
                except (OSError, EOFError):
                    ours.close()
                    self._reset()
                finally:
                    theirs.close()
        raise OSError("the probe fork server could not start a child")

    def _start(self) -> None:
        self._reset()
        ours, theirs = socket.socketpair()
        try:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "pipelines.decoding._child", "--zygote", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=child_env())
        finally:
            theirs.close()
        self._control = ours

    def _reset(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._server is not None:
            if self._server.poll() is None:
                self._server.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._server.wait(5)
            self._server = None

    def close(self) -> None:
        with self._lock:
            self._reset()


def _receive_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the probe fork server closed its socket")
        data += chunk
    return data


def serve_forks(fd: int, serve: Any) -> None:
    """The server's loop: fork a child per request; exit when the caller goes away."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children: no zombies
    control = socket.socket(fileno=fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 16, 1)
        except OSError:
            return
        if not message or not fds:
            return
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                serve(fds[0])
            finally:
                os._exit(0)
        os.close(fds[0])
        try:
            control.sendall(_PID.pack(pid))
        except OSError:
            return
