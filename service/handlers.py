"""The job handler: runs the recognizer on a job's stored upload inside a worker.

The model is loaded once per worker process (`make_recognizer_handler`); each job reads its input from
storage, reports progress, honours cancellation, and writes the durable record to storage:
``jobs/{id}/result.json`` and a JPEG thumbnail of each selected snippet's centre frame. Clips are made
lazily by the API on first request (`make_artifact`), so a job never decodes snippets nobody watches.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.recognizer import Limits, Options, Recognizer

from .config import Settings
from .metrics import record_result

log = logging.getLogger("vidgate.handlers")

THUMBNAIL_SIZE = 160
ARTIFACT_FILES = {"thumbnail": "thumbnail.jpg", "clip": "clip.mp4"}


def input_key(job_id: str) -> str:
    return f"jobs/{job_id}/input"


def result_key(job_id: str) -> str:
    return f"jobs/{job_id}/result.json"


def artifact_key(job_id: str, index: int, kind: str) -> str:
    return f"jobs/{job_id}/snippets/{index}/{ARTIFACT_FILES[kind]}"


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def load_recognizer(settings: Settings) -> Recognizer:
    """The recognizer as the service runs it: isolated decoding with the configured limits."""
    return Recognizer(
        settings.checkpoint,
        device=settings.device,
        backend=settings.decoder,
        isolate=True,
        decode_timeout_s=settings.decode_timeout_s,
        decode_memory_bytes=settings.decode_memory_bytes,
        limits=Limits(
            max_file_bytes=settings.max_upload_bytes,
            max_duration_s=settings.max_duration_s,
            max_pixels=settings.max_pixels,
        ),
        threads=settings.threads,
    )


def centre_frame(snippet: dict[str, Any]) -> int:
    start, end = snippet["frames"]
    return int(start + (end - start) // 2)


def make_artifact(video: Path, snippet: dict[str, Any], kind: str) -> bytes:
    """A thumbnail (JPEG of the centre frame) or clip (MP4 of the snippet's frames) of one snippet."""
    from pipelines.artifacts import clip, thumbnail

    if kind == "thumbnail":
        return thumbnail(video, centre_frame(snippet), THUMBNAIL_SIZE)
    start, end = snippet["frames"]
    with tempfile.TemporaryDirectory(prefix="vidgate-clip-") as tmp:
        out = Path(tmp) / "clip.mp4"
        clip(video, int(start), int(end), out)
        return out.read_bytes()


@contextlib.contextmanager
def local_input(storage: Any, key: str) -> Iterator[Path]:
    """A local path of a stored object (the object itself on local storage, a temporary copy otherwise)."""
    with storage.local_path(key) as path:
        yield Path(path)


class RecognizerHandler:
    """``handler(job, report) -> dict`` for the queue's workers.

    Args:
        recognizer: the loaded model.
        storage: where uploads live and results go.
    """

    def __init__(self, recognizer: Recognizer, storage: Any) -> None:
        self.recognizer = recognizer
        self.storage = storage

    @property
    def model_info(self) -> dict[str, Any]:
        return self.recognizer.model_info

    def __call__(self, job: Any, report: Any) -> dict[str, Any]:
        options = Options(**{k: v for k, v in (job.options or {}).items() if k in _OPTION_NAMES})
        source = job.input or {}
        with local_input(self.storage, source["key"]) as path:
            result = self.recognizer.recognize(
                path,
                options,
                name=Path(source.get("filename") or "upload").name,
                progress=report.progress,
                should_cancel=report.should_cancel,
            ).to_dict()
            # Staged: written by the worker only once this delivery's outcome is accepted (fencing).
            report.write_json(result_key(job.id), result)
            self._thumbnails(job.id, path, result, report)
        record_result(result)
        return result

    def _thumbnails(self, job_id: str, path: Path, result: dict[str, Any], report: Any) -> None:
        """Best effort: the result is the record; a missing thumbnail is made by the API on request."""
        for snippet in result["snippets"]:
            if not snippet["selected"] or report.should_cancel():
                continue
            try:
                data = make_artifact(path, snippet, "thumbnail")
                report.write(artifact_key(job_id, snippet["index"], "thumbnail"), data)
            except Exception:
                log.warning("job %s: no thumbnail for snippet %d", job_id, snippet["index"], exc_info=True)


_OPTION_NAMES = {"mode", "budget", "max_selected", "threshold", "top_k", "keyframes", "seed"}


def make_recognizer_handler(settings: Settings, storage: Any | None = None) -> RecognizerHandler:
    """Load the model once and return the handler (storage defaults to ``settings.storage_root``)."""
    if storage is None:
        from .storage import Storage

        storage = Storage(settings.storage_root)
    return RecognizerHandler(load_recognizer(settings), storage)
