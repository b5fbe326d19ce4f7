"""The job handler: runs the recognizer on a job's stored upload inside a worker.

The model is loaded once per worker process (`make_recognizer_handler`); each job reads its input from
storage, reports progress, honours cancellation, and writes the durable record to storage:
``jobs/{id}/result.json`` and a JPEG thumbnail of each selected snippet's centre frame. Clips are made
lazily by the API on first request, so a job never decodes snippets nobody watches.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifacts import render_thumbnails
from .config import Settings
from .jobs import Job
from .metrics import record_result
from .recognizers import open_recognizer
from .storage import Storage, artifact_key, result_key
from .worker import Report

if TYPE_CHECKING:
    from pipelines.recognizer import Recognizer

log = logging.getLogger("vidgate.handlers")


class RecognizerHandler:
    """``handler(job, report) -> result`` for the queue's workers.

    Args:
        recognizer: the loaded model.
        storage: where uploads live and results go.
    """

    def __init__(self, recognizer: Recognizer, storage: Storage) -> None:
        self.recognizer = recognizer
        self.storage = storage

    @property
    def model_info(self) -> dict[str, Any]:
        return self.recognizer.model_info

    def __call__(self, job: Job, report: Report) -> dict[str, Any]:
        source = job.input
        with self.storage.local_path(source["key"]) as path:
            result = self.recognizer.recognize(
                path,
                job.options,
                name=Path(source.get("filename") or "upload").name,
                progress=report.progress,
                should_cancel=report.should_cancel,
            ).to_dict()
            # Staged: the worker writes them only once this delivery's outcome is accepted (fencing).
            report.write_json(result_key(job.id), result)
            self._thumbnails(job.id, path, result, report)
        record_result(result)
        return result

    def close(self) -> None:
        self.recognizer.close()

    def _thumbnails(self, job_id: str, path: Path, result: dict[str, Any], report: Report) -> None:
        """Best effort: the result is the record; a missing thumbnail is made by the API on request."""
        selected = [s for s in result["snippets"] if s["selected"]]
        if not selected or report.should_cancel():
            return
        try:
            images = render_thumbnails(path, selected)
        except Exception:
            log.warning("job %s: no thumbnails", job_id, exc_info=True)
            return
        for snippet, data in zip(selected, images, strict=True):
            report.write(artifact_key(job_id, snippet["index"], "thumbnail"), data)


def make_recognizer_handler(settings: Settings, storage: Storage | None = None) -> RecognizerHandler:
    """Load the model once and return the handler (storage defaults to ``settings.storage_root``)."""
    return RecognizerHandler(open_recognizer(settings), storage or Storage(settings.storage_root))
