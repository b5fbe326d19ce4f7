"""The one place a recognizer is built from settings: the CLI, the workers and local batches all call it,
so every entry point runs with the same decoder, device, isolation and input limits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings

if TYPE_CHECKING:
    from pipelines.recognizer import Recognizer


def open_recognizer(settings: Settings, *, checkpoint: Path | None = None, isolate: bool = True,
                    threads: int | None = None) -> Recognizer:
    """Load the model once; the caller closes the recognizer (``with open_recognizer(...) as r``).

    Args:
        settings: device, decoder backend, decode limits and input limits (``VIDGATE_*``).
        checkpoint: overrides ``settings.checkpoint``.
        isolate: decode in a time- and memory-limited child (off only for trusted files, e.g. evaluation).
        threads: CPU threads for torch (default ``settings.threads``).
    """
    from pipelines.recognizer import Limits, Recognizer

    return Recognizer(
        checkpoint or settings.checkpoint,
        device=settings.device,
        backend=settings.decoder,
        isolate=isolate,
        decode_timeout_s=settings.decode_timeout_s,
        decode_memory_bytes=settings.decode_memory_bytes,
        limits=Limits(
            max_file_bytes=settings.max_upload_bytes,
            max_duration_s=settings.max_duration_s,
            max_pixels=settings.max_pixels,
        ),
        threads=settings.threads if threads is None else threads,
        max_snippets=settings.max_snippets,
        decoders=settings.decoders,
    )
