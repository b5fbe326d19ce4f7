"""Cross-video heavy batching: snippets of several videos in flight go through one forward pass.

On a GPU one forward pass of 64 snippets costs about what one of 16 does, so when several jobs share
a recognizer (worker threads, or ``Recognizer.recognize_many``), their heavy chunks are better run
together. Callers hand in their snippets' frames and get back their own features; whoever arrives while no batch
is running leads the next one: it waits up to ``wait_s`` for others (only when others are in flight),
runs one pass over everything queued (at most ``max_snippets``), and hands each caller its rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import torch


class HeavyBatcher:
    """Merges concurrent ``encode(snippets)`` calls into shared forward passes.

    Args:
        encode: the batched function, ``(S, ...) -> (S, F)``.
        max_snippets: most snippets in one pass.
        wait_s: how long a leader waits for other callers when more than one is in flight.
    """

    def __init__(self, encode: Callable[[torch.Tensor], torch.Tensor], *, max_snippets: int = 64,
                 wait_s: float = 0.005) -> None:
        self._encode = encode
        self.max_snippets = max_snippets
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._queue: list[tuple[torch.Tensor, Future[torch.Tensor]]] = []
        self._running = False
        self._users = 0
        self.passes = 0  # forward passes run (for tests and benchmarks)
        self.requests = 0

    def __enter__(self) -> HeavyBatcher:
        """Declare a caller in flight (a leader waits for others only while there are some)."""
        with self._lock:
            self._users += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1

    def encode(self, snippets: torch.Tensor) -> torch.Tensor:
        """Features of ``snippets`` ``(S, F)``, computed alone or together with other callers' snippets."""
        future: Future[torch.Tensor] = Future()
        with self._lock:
            self._queue.append((snippets, future))
            self.requests += 1
            lead = not self._running
            if lead:
                self._running = True
        if lead:
            self._lead()
        return future.result()

    def _lead(self) -> None:
        while True:
            if self.wait_s > 0:
                deadline = time.monotonic() + self.wait_s
                while time.monotonic() < deadline:
                    with self._lock:
                        if self._users <= len(self._queue) or self._queued() >= self.max_snippets:
                            break
                    time.sleep(self.wait_s / 5)
            with self._lock:
                batch: list[tuple[torch.Tensor, Future[torch.Tensor]]] = []
                size = 0
                while self._queue and (not batch or size + self._queue[0][0].shape[0] <= self.max_snippets):
                    item = self._queue.pop(0)
                    batch.append(item)
                    size += item[0].shape[0]
            try:
                out = self._encode(torch.cat([snippets for snippets, _ in batch]))  # (ΣS, F)
            except BaseException as exc:
                for _, future in batch:
                    future.set_exception(exc)
            else:
                self.passes += 1
                row = 0
                for snippets, future in batch:
                    future.set_result(out[row : row + snippets.shape[0]])
                    row += snippets.shape[0]
            with self._lock:
                if not self._queue:
                    self._running = False
                    return

    def _queued(self) -> int:
        return sum(snippets.shape[0] for snippets, _ in self._queue)
