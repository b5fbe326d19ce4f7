"""The job handler: runs the recognizer on a job's stored upload inside a worker.

The model is loaded once per worker process (`make_recognizer_handler`); each job reads its input from
storage, reports progress, honours cancellation, and stages the durable record for storage (the worker
writes it once the job's outcome is accepted, so a worker that lost its lease writes nothing):
``jobs/{id}/result.json`` and a JPEG thumbnail of every centre frame the recognizer decoded anyway (each
snippet's in gated mode: what the light network saw; the selected ones' otherwise and with the keyframe
light pass). Clips, context clips and other thumbnails are made lazily by the API on first request, so a
job decodes nothing for them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifacts import thumbnail_jpeg
from .config import Settings
from .jobs import Job
from .metrics import record_result
from .recognizers import open_recognizer
from .storage import Storage, artifact_key, result_key
from .worker import Report

if TYPE_CHECKING:
    import numpy as np

    from pipelines.recognizer import Recognizer

log = logging.getLogger("vidgate.handlers")
RECOGNIZE_SHARE = 0.95  # of a job's progress; writing thumbnails and the record is the rest


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
        thumbnails: dict[int, bytes] = {}

        def keep(frames: dict[int, np.ndarray]) -> None:
            for index, frame in frames.items():
                thumbnails[index] = thumbnail_jpeg(frame)

        def progress(stage: str, fraction: float) -> None:
            if stage != "done":  # the job is done once its record is written, not when the recognizer is
                report.progress(stage, RECOGNIZE_SHARE * fraction)

        with self.storage.local_path(source["key"]) as path:
            result = self.recognizer.recognize(
                path,
                job.options,
                name=Path(source.get("filename") or "upload").name,
                progress=progress,
                should_cancel=report.should_cancel,
                centre_frames=keep,
            ).to_dict()
        report.progress("thumbnails", RECOGNIZE_SHARE)
        for index, data in thumbnails.items():
            report.write(artifact_key(job.id, index, "thumbnail"), data)
        report.progress("saving", 0.99)
        # Staged: the worker writes them once this delivery's outcome is accepted (fencing), right after the
        # record (which holds the result) is written.
        report.write_json(result_key(job.id), result)
        record_result(result)
        return result

    def close(self) -> None:
        self.recognizer.close()


def make_recognizer_handler(settings: Settings, storage: Storage | None = None) -> RecognizerHandler:
    """Load the model once and return the handler (storage defaults to ``settings.storage_root``)."""
    return RecognizerHandler(open_recognizer(settings), storage or Storage(settings.storage_root))
