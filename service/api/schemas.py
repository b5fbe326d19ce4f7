"""Response models of the jobs API (what OpenAPI documents; the result itself follows docs/result.schema.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipelines.options import Options
from service.examples import TrueEvent
from service.jobs import JobStatus

_RESULT_EXAMPLE: dict[str, Any] = {
    "video": "kitchen.mp4",
    "duration": 8.0,
    "fps": 12.0,
    "num_frames": 96,
    "width": 64,
    "height": 64,
    "mode": "gated",
    "labels": [{"label": "stir", "score": 0.71}, {"label": "pour", "score": 0.2}],
    "snippets": [
        {"index": 0, "start": 0.0, "end": 0.6667, "frames": [0, 8], "gate_score": 0.83, "selected": True,
         "concepts": [{"kernel": 3, "score": 0.91}]},
    ],
    "compute": {"snippets_total": 12, "snippets_selected": 3, "selected_fraction": 0.25, "gflops": 0.41,
                "gflops_dense": 1.2, "gflops_saved_fraction": 0.66,
                "gflops_by_stage": {"light": 0.05, "gate": 0.001, "heavy": 0.35, "head": 0.0001}},
    "timings": {"probe": 0.01, "decode": 0.2, "light": 0.05, "gate": 0.001, "heavy": 0.3, "head": 0.001,
                "total": 0.6},
    "model": {"name": "vidgate-demo"},
    "options": {"mode": "gated", "budget": 0.25, "top_k": 5},
}


class ProgressBody(BaseModel):
    stage: str = Field(description="queued, probe, light, gate, heavy i/n (chunks of the heavy pass), head, "
                       "evidence (with the option evidence), thumbnails, saving, done", examples=["heavy 2/4"])
    fraction: float = Field(ge=0.0, le=1.0, examples=[0.55])


class Truth(BaseModel):
    """What an example video really shows (`service.examples`)."""

    label: str = Field(examples=["activity_06"])
    events: list[TrueEvent] = Field(description="The events that make it that activity: seconds [start, end).")


class InputInfo(BaseModel):
    filename: str | None = Field(None, description="The client's file name, for display only.", examples=["a.mp4"])
    size: int = Field(examples=[1048576])
    sha256: str | None = Field(None, examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])
    example: str | None = Field(None, description="The shipped example video the job runs (POST /v1/examples/{name}); "
                                "null for an upload.", examples=[None])
    truth: Truth | None = Field(None, description="An example's true label and events (the viewer draws them beside "
                                "the selection); null for an upload.", examples=[None])


class JobError(BaseModel):
    code: str = Field(examples=["decoder_crashed"])
    message: str = Field(examples=["the decoder crashed on this file"])


class HistoryEntry(BaseModel):
    """An earlier round of deliveries: it ended in the dead letters, and the job was requeued."""

    attempts: int = Field(description="Deliveries in that round.", examples=[3])
    error: JobError | None = Field(None, description="How the round ended (retries_exhausted).")
    started_at: str | None = Field(None, examples=["2026-01-01T12:00:01.250Z"])
    finished_at: str | None = Field(None, examples=["2026-01-01T12:00:09.800Z"])
    requeued_at: str = Field(examples=["2026-01-01T13:30:00.000Z"])


class Links(BaseModel):
    model_config = ConfigDict(extra="allow")

    self: str = Field(examples=["/v1/jobs/Jx3k9..."])
    page: str = Field(description="The viewer page of the job.", examples=["/jobs/Jx3k9..."])


class JobSummary(BaseModel):
    """A job in a listing (no result)."""

    id: str = Field(description="Unguessable job id.", examples=["k3J9x0qT2mV8bN4cR7wY1g"])
    status: JobStatus = Field(examples=["running"])
    created_at: str | None = Field(None, description="ISO 8601, UTC.", examples=["2026-01-01T12:00:00.000Z"])
    started_at: str | None = Field(None, examples=["2026-01-01T12:00:01.250Z"])
    finished_at: str | None = Field(None, examples=["2026-01-01T12:00:09.800Z"])
    progress: ProgressBody | None = None
    options: Options
    input: InputInfo | None = None
    error: JobError | None = None
    attempts: int = Field(0, description="Deliveries to a worker in this round (a requeue starts a new round).")
    history: list[HistoryEntry] = Field(default_factory=list, description="Earlier rounds, oldest first.")
    links: Links


class JobBody(JobSummary):
    """A job, with its result once it has succeeded."""

    result: dict[str, Any] | None = Field(
        None, description="The recognition result once succeeded (docs/result.schema.json).", examples=[_RESULT_EXAMPLE]
    )


class LabelEvidence(BaseModel):
    label: str = Field(examples=["stir"])
    score: float = Field(description="The snippet's term in the label's logit (docs/result.schema.json).",
                         examples=[0.42])


class SnippetEvidence(BaseModel):
    index: int = Field(examples=[0])
    evidence: list[LabelEvidence] = Field(description="For each returned label, in the result's order; empty for "
                                          "snippets the heavy network did not see.")


class EvidenceBody(BaseModel):
    """A job's per-snippet evidence (the result's ``snippets[i].evidence``), asked for after the job ran."""

    status: JobStatus = Field(description="succeeded: the evidence is here; queued or running: a worker is "
                              "computing it.", examples=["succeeded"])
    snippets: list[SnippetEvidence] | None = Field(None, description="Every snippet of the result, in order; null "
                                                   "until the evidence is computed.")
    links: Links


class JobList(BaseModel):
    jobs: list[JobSummary]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last page.")


class DeadLetterBody(BaseModel):
    """A job that failed VIDGATE_MAX_DELIVERIES times and waits for an operator."""

    since: str = Field(description="When it became a dead letter (ISO 8601, UTC).",
                       examples=["2026-01-01T12:00:09.800Z"])
    job: JobSummary


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterBody] = Field(description="Oldest first.")
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last page.")
