"""The decoding child's side of `isolation`: limit itself, probe, open the backend, answer requests.

Runs inside ``python -m pipelines.decoding._child`` (spawned, or forked from the probe fork server); the
caller's side never imports it.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import os
import resource
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VidgateError
from .backends import Decoder, open_decoder
from .probe import VideoInfo, probe


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
        _, path, backend, info, memory_limit_bytes, limits, max_open_files, probe_only, threads = message
        if not limited:
            _limit(memory_limit_bytes, max_open_files)
            limited = True
        if not _serve(conn, path, backend, info, memory_limit_bytes, limits, probe_only, threads):
            return


def _limit(memory_limit_bytes: int | None, max_open_files: int | None) -> None:
    """Limits of the child itself, set before it touches a file."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    if memory_limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    if max_open_files:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        soft = max_open_files if hard == resource.RLIM_INFINITY else min(max_open_files, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, soft))


def _serve(conn: multiprocessing.connection.Connection, path: str, backend: str, info: VideoInfo | None,
           memory_limit_bytes: int | None, limits: dict[str, Any], probe_only: bool, threads: int) -> bool:
    """Probe (unless the caller knows the video), open the backend (``threads``: its codec threads, see
    `open_decoder`) and answer requests for one video; True when closed on request (serve another)."""
    try:
        if info is None:
            info = probe(path, **limits)
        if probe_only:
            conn.send(("ready", info))
            return _closed(conn)
        decoder = open_decoder(path, backend, info=info, threads=threads)
    except MemoryError as exc:
        _reply_error(conn, "DecodeError", "decoder_out_of_memory",
                     f"{Path(path).name}: probing ran out of memory (limit {memory_limit_bytes} bytes): {exc}",
                     fatal=True)
        os._exit(3)
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
            ended = _control(conn, message)
            if ended is not None:
                return ended
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


def _closed(conn: multiprocessing.connection.Connection) -> bool:
    """After a probe: wait for the caller's close (True: serve another video) or exit."""
    try:
        message = conn.recv()
    except EOFError:
        return False
    return _control(conn, message) is True


def _control(conn: multiprocessing.connection.Connection, message: tuple[Any, ...]) -> bool | None:
    """``close`` (acknowledged: True, serve another video) or ``exit`` (False); None for a request."""
    if message[0] == "close":
        conn.send(("closed",))
        return True
    if message[0] == "exit":
        return False
    return None


def _answer(decoder: Decoder, message: tuple[Any, ...]) -> tuple[np.ndarray, Any]:
    kind, indices, size, *hints = message
    if kind == "keyframes":
        array, extra = decoder.keyframe_near(indices, size=size)
    elif hints == [True, True, True]:  # the defaults: third-party backends need not know the hints
        array, extra = decoder.frames(indices, size=size), None
    else:
        skip_nonref, deblock, crop = hints
        whole = {} if crop else {"crop": False}  # asked only of whoever asks for whole frames
        array, extra = decoder.frames(indices, size=size, skip_nonref=skip_nonref, deblock=deblock, **whole), None
    return np.ascontiguousarray(array), extra


def _reply_error(conn: multiprocessing.connection.Connection, kind: str, code: str, text: str, *,
                 fatal: bool) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        conn.send(("error", kind, code, text, fatal))
