"""The job handler: runs the recognizer on a job's stored upload inside a worker.

The model is loaded once per worker process (`make_recognizer_handler`); each job reads its input from
storage, reports progress, honours cancellation, and stages the durable record for storage (the worker
writes it once the job's outcome is accepted, so a worker that lost its lease writes nothing):
``jobs/{id}/result.json`` and a JPEG thumbnail of every centre frame the recognizer decoded anyway, whole
(each snippet's in gated mode, from the light pass; the selected ones' otherwise and with the keyframe
light pass), like the thumbnails the API renders later. Clips, context clips and other thumbnails are
made lazily by the API on first request, so a job decodes nothing for them.

The per-snippet evidence is computed only when asked for: with the option ``evidence`` it is in the
result; otherwise what the head read is kept (``jobs/{id}/head.npz``), and an evidence job, which the API
enqueues when the viewer or a client first asks for it, computes it from that (no decoding, a head pass)
and keeps it beside the result (``jobs/{id}/evidence.json``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifacts import thumbnail_jpeg
from .config import Settings
from .examples import job_video
from .jobs import Job, JobKind
from .metrics import record_result
from .recognizers import open_recognizer
from .storage import Storage, artifact_key, evidence_key, head_input_key, result_key
from .worker import Report

if TYPE_CHECKING:
    import numpy as np

    from pipelines.evidence import HeadInput
    from pipelines.recognizer import Recognizer

log = logging.getLogger("vidgate.handlers")
RECOGNIZE_SHARE = 0.95  # of a job's progress; writing thumbnails and the record is the rest
FILES_WAIT_S = 10.0  # how long an evidence job waits for the files of a job that has just succeeded


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

    @property
    def device(self) -> str:
        """Where the model runs (``cpu``, ``cuda``): with `backend`, what `Settings.in_flight` sizes by."""
        return self.recognizer.device.type

    @property
    def backend(self) -> str:
        """The decoder backend, resolved (``auto`` chosen)."""
        return self.recognizer.backend

    def __call__(self, job: Job, report: Report) -> dict[str, Any]:
        if job.kind is JobKind.EVIDENCE:
            return self.explain(job, report)
        source = job.input
        thumbnails: dict[int, bytes] = {}
        kept: list[HeadInput] = []  # what the head read, when the evidence was not asked for

        def keep(frames: dict[int, np.ndarray]) -> None:
            for index, frame in frames.items():
                thumbnails[index] = thumbnail_jpeg(frame)

        def progress(stage: str, fraction: float) -> None:
            if stage != "done":  # the job is done once its record is written, not when the recognizer is
                report.progress(stage, RECOGNIZE_SHARE * fraction)

        with job_video(self.storage, source) as path:  # an upload, or a shipped example
            result = self.recognizer.recognize(
                path,
                job.options,
                name=Path(source.get("filename") or "upload").name,
                progress=progress,
                should_cancel=report.should_cancel,
                centre_frames=keep,
                head=kept.append,
            ).to_dict()
        report.progress("thumbnails", RECOGNIZE_SHARE)
        for index, data in thumbnails.items():
            report.write(artifact_key(job.id, index, "thumbnail"), data)
        for head in kept:
            report.write(head_input_key(job.id), head.to_bytes())
        report.progress("saving", 0.99)
        # Staged: the worker writes them once this delivery's outcome is accepted (fencing), right after the
        # record (which holds the result) is written.
        report.write_json(result_key(job.id), result)
        record_result(result)
        return result

    def explain(self, job: Job, report: Report) -> dict[str, Any]:
        """An evidence job: the evidence of the recognised job ``job.input["job"]``, from what its head read;
        staged beside that job's result and returned as this job's result."""
        from pipelines.errors import VidgateError
        from pipelines.evidence import HeadInput

        target = str(job.input.get("job", ""))
        try:
            result = json.loads(self._stored(result_key(target), report))
            head = HeadInput.from_bytes(self._stored(head_input_key(target), report))
        except (FileNotFoundError, ValueError):
            raise VidgateError("the job kept nothing to compute its evidence from; submit the video again with "
                               "the option evidence", code="evidence_unavailable") from None
        report.progress("evidence", 0.1)
        evidence = self.recognizer.explain(head, [label["label"] for label in result["labels"]])
        body = {"snippets": [{"index": i, "evidence": [{"label": e.label, "score": e.score} for e in terms]}
                             for i, terms in enumerate(evidence)]}
        report.write_json(evidence_key(target), body)
        return body

    def _stored(self, key: str, report: Report) -> bytes:
        """A recognised job's file. Its worker writes the files right after the job's outcome is recorded, so an
        evidence job asked for in between (another worker) waits for them, at most `FILES_WAIT_S`."""
        deadline = time.monotonic() + FILES_WAIT_S
        while True:
            try:
                data: bytes = self.storage.read_bytes(key)
                return data
            except FileNotFoundError:
                if time.monotonic() > deadline or report.should_cancel():
                    raise
            time.sleep(0.1)

    def close(self) -> None:
        self.recognizer.close()


def make_recognizer_handler(settings: Settings, storage: Storage | None = None) -> RecognizerHandler:
    """Load the model once and return the handler (storage defaults to ``settings.storage_root``)."""
    return RecognizerHandler(open_recognizer(settings), storage or Storage(settings.storage_root))
