"""The one result schema, used by the CLI's JSON, the API, batch records and the viewer page.

JSON Schema: docs/result.schema.json (written from `RESULT_SCHEMA`; a test keeps them identical).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from models.card import ModelCard

from .decoding.probe import VideoInfo
from .planning import Snippet, snippet_times


@dataclass(frozen=True)
class Label:
    label: str
    score: float


@dataclass(frozen=True)
class Concept:
    kernel: int
    score: float


@dataclass(frozen=True)
class SnippetResult:
    """One snippet: ``frames`` = [first, last + 1) frame indices in presentation order; ``start`` and ``end``
    the seconds they are on screen (`SNIPPET_TIMES`; `pipelines.decoding.timeline`).

    ``evidence``: None unless evidence was asked for (`Options.evidence`); then, for a selected snippet,
    its share of each returned label's score (see `EVIDENCE_DESCRIPTION`), empty for snippets the heavy
    network did not see.
    """

    index: int
    start: float
    end: float
    frames: tuple[int, int]
    gate_score: float | None
    selected: bool
    concepts: tuple[Concept, ...]
    evidence: tuple[Label, ...] | None = None


@dataclass(frozen=True)
class Compute:
    """What the video cost: snippets and GFLOPs against dense, frames decoded against the video's.

    ``frames_decoded`` counts frames handed to the codec (both passes; 0 when the backend cannot
    count), ``frames_decoded_light`` the light pass's share; ``light_pass`` is the mode that ran
    (``auto`` resolved) and ``largest_gap_s`` the longest stretch of video no snippet covered, in seconds.
    """

    snippets_total: int
    snippets_selected: int
    selected_fraction: float
    gflops: float
    gflops_dense: float
    gflops_saved_fraction: float
    gflops_by_stage: dict[str, float]
    frames_in_video: int = 0
    frames_decoded: int = 0
    frames_decoded_light: int = 0
    decoded_fraction: float = 0.0
    light_pass: str = "none"
    largest_gap_s: float = 0.0


@dataclass(frozen=True)
class RecognitionResult:
    video: str
    duration: float
    fps: float
    num_frames: int
    width: int
    height: int
    mode: str
    labels: tuple[Label, ...]
    snippets: tuple[SnippetResult, ...]
    compute: Compute
    timings: dict[str, float]
    model: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)

    def selected_segments(self) -> list[SnippetResult]:
        return [s for s in self.snippets if s.selected]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (tuples become lists)."""
        out: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return out


TIMING_STAGES = ("probe", "decode", "decode_light", "decode_heavy", "decode_wait", "light", "gate", "heavy", "head",
                 "evidence", "total")


@dataclass(frozen=True)
class Decoding:
    """What decoding one video cost (filled in by the recognizer)."""

    light_pass: str
    frames_light: int
    frames_total: int


def assemble(
    *,
    name: str,
    info: VideoInfo,
    plan: Sequence[Snippet],
    mode: str,
    classes: Sequence[str],
    scores: Sequence[float],
    top_k: int,
    gate_scores: Sequence[float] | None,
    concepts: Sequence[Sequence[tuple[int, float]]] | None,
    selected: Sequence[bool],
    evidence: Sequence[Sequence[float]] | None = None,
    flops: dict[str, float],
    decoding: Decoding,
    seconds: dict[str, float],
    model: dict[str, Any],
    options: dict[str, Any],
) -> RecognitionResult:
    """The result of one video from plain values (no tensors: this module stays torch-free).

    Args:
        info: the probe's ``VideoInfo`` (its frame table gives the snippets' times).
        plan: the snippets, in time order.
        scores: one score per class.
        gate_scores: per snippet, or None when no gate ran.
        concepts: per snippet, the top ``(kernel, activation)`` pairs, or None when no gate ran.
        selected: per snippet, whether the heavy network saw it.
        evidence: per snippet, its term in every class logit (`EVIDENCE_DESCRIPTION`); reported for the
            selected snippets and the returned labels. None: not asked for (every snippet's is None).
        flops: ``ComputeProfile.video`` of this run.
        seconds: seconds per stage (`pipelines.timing.StageTimer`).
    """
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[: min(top_k, len(scores))]
    spans = snippet_times(plan, info)
    labels = tuple(Label(classes[i], round(float(scores[i]), 6)) for i in order)
    explained: list[tuple[Label, ...] | None] = (
        [None] * len(plan) if evidence is None
        else list(snippet_evidence(evidence, selected, classes, [label.label for label in labels])))
    snippets = tuple(
        SnippetResult(
            index=s.index,
            start=round(start, 4),
            end=round(end, 4),
            frames=(s.start_frame, s.end_frame),
            gate_score=round(float(gate_scores[s.index]), 6) if gate_scores is not None else None,
            selected=bool(selected[s.index]),
            concepts=tuple(Concept(int(k), round(float(v), 4)) for k, v in concepts[s.index]) if concepts else (),
            evidence=explained[s.index],
        )
        for s, (start, end) in zip(plan, spans, strict=True)
    )
    chosen = sum(bool(x) for x in selected)
    compute = Compute(
        snippets_total=len(plan),
        snippets_selected=chosen,
        selected_fraction=round(chosen / len(plan), 6),
        gflops=round(flops["total"], 6),
        gflops_dense=round(flops["dense"], 6),
        gflops_saved_fraction=round(1 - flops["total"] / flops["dense"], 6),
        gflops_by_stage={k: round(flops[k], 6) for k in ("light", "gate", "heavy", "head")},
        frames_in_video=info.num_frames,
        frames_decoded=decoding.frames_total,
        frames_decoded_light=decoding.frames_light,
        decoded_fraction=round(decoding.frames_total / max(1, info.num_frames), 6),
        light_pass=decoding.light_pass,
        largest_gap_s=round(_largest_gap_s(spans, info.duration), 4),
    )
    return RecognitionResult(
        video=name,
        duration=round(info.duration, 4),
        fps=round(info.fps, 4),
        num_frames=info.num_frames,
        width=info.width,
        height=info.height,
        mode=mode,
        labels=labels,
        snippets=snippets,
        compute=compute,
        timings={k: round(seconds.get(k, 0.0), 6) for k in TIMING_STAGES},
        model=model,
        options=options,
    )


def snippet_evidence(terms: Sequence[Sequence[float]], selected: Sequence[bool], classes: Sequence[str],
                     labels: Sequence[str]) -> list[tuple[Label, ...]]:
    """Per snippet, its term for each of ``labels`` (the result's returned labels, in their order); empty
    for snippets the heavy network did not see. The one formatting of evidence, inline or on request."""
    column = {name: i for i, name in enumerate(classes)}
    return [tuple(Label(label, round(float(row[column[label]]), 4)) for label in labels) if chosen else ()
            for row, chosen in zip(terms, selected, strict=True)]


def _largest_gap_s(spans: Sequence[tuple[float, float]], duration: float) -> float:
    """The longest stretch in seconds no snippet covers: before the first, between two, after the last."""
    edges = [0.0, *itertools.chain.from_iterable(spans), duration]
    return max(0.0, *(b - a for a, b in zip(edges[0::2], edges[1::2], strict=True)))


MODEL_INFO_KEYS = ("name", "version", "light", "heavy", "head", "classes", "snippet_frames", "multi_label", "threshold")


def model_info(config: dict[str, Any], card: ModelCard | None = None) -> dict[str, Any]:
    """The ``model`` part of a result: what a user needs to know of the model, from its (migrated) config, and
    from its card whether its classes come from synthetic training data (None: not known)."""
    info = {k: list(config[k]) if k == "classes" else config[k] for k in MODEL_INFO_KEYS}
    info["synthetic"] = card.data.synthetic if card is not None else None
    return info


EVIDENCE_DESCRIPTION = (
    "null unless evidence was asked for: the option evidence (vidgate classify and batch --evidence, the API's "
    "evidence form field), or afterwards from the API (GET /v1/jobs/{id}/evidence: computed once, then kept). "
    "When asked for: for a selected snippet, its term in each returned label's logit: the head's logits are the "
    "logits of an empty selection plus one term per selected snippet (docs/models.md names the decomposition of "
    "each head). With a softmax (single-label model) each term is taken net of the snippet's mean term over all "
    "classes, which changes no probability; with sigmoids (multi-label) it is the term itself. Positive: argues "
    "for the label; negative: against it. Empty for snippets the heavy network did not see."
)
SNIPPET_TIMES = {
    "frames": "[first frame, last frame + 1): frame indices in presentation order",
    "start": "seconds from the video's first frame to the snippet's first frame, by the frames' own timestamps",
    "end": "seconds from the video's first frame to the end of the snippet's last frame: the next frame's "
           "timestamp, or for the video's last frame its timestamp plus its duration",
}
_NUMBER = {"type": "number"}
_INT = {"type": "integer", "minimum": 0}

RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "vidgate recognition result",
    "type": "object",
    "required": [
        "video",
        "duration",
        "fps",
        "num_frames",
        "width",
        "height",
        "mode",
        "labels",
        "snippets",
        "compute",
        "timings",
        "model",
        "options",
    ],
    "properties": {
        "video": {"type": "string", "description": "input file name (never a server path)"},
        "duration": {**_NUMBER, "description": "seconds from the first frame's start to the last frame's end "
                                               "(snippet times are on the same axis)"},
        "fps": {**_NUMBER, "description": "average frame rate, num_frames / duration (variable frame rate: "
                                          "times come from the frames' timestamps, not from this)"},
        "num_frames": _INT,
        "width": _INT,
        "height": _INT,
        "mode": {"enum": ["gated", "dense", "uniform", "random"]},
        "labels": {
            "type": "array",
            "description": "top-k activity labels, best first",
            "items": {
                "type": "object",
                "required": ["label", "score"],
                "additionalProperties": False,
                "properties": {"label": {"type": "string"}, "score": {**_NUMBER, "minimum": 0, "maximum": 1}},
            },
        },
        "snippets": {
            "type": "array",
            "description": "every snippet, in time order",
            "items": {
                "type": "object",
                "required": ["index", "start", "end", "frames", "gate_score", "selected", "concepts", "evidence"],
                "additionalProperties": False,
                "properties": {
                    "index": _INT,
                    "start": {**_NUMBER, "description": SNIPPET_TIMES["start"]},
                    "end": {**_NUMBER, "description": SNIPPET_TIMES["end"]},
                    "frames": {
                        "type": "array",
                        "items": _INT,
                        "minItems": 2,
                        "maxItems": 2,
                        "description": SNIPPET_TIMES["frames"],
                    },
                    "gate_score": {
                        "type": ["number", "null"],
                        "minimum": 0,
                        "maximum": 1,
                        "description": "the gate's score; null when no gate ran (dense, uniform, random)",
                    },
                    "selected": {"type": "boolean"},
                    "concepts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["kernel", "score"],
                            "additionalProperties": False,
                            "properties": {"kernel": _INT, "score": _NUMBER},
                        },
                    },
                    "evidence": {
                        "type": ["array", "null"],
                        "description": EVIDENCE_DESCRIPTION,
                        "items": {
                            "type": "object",
                            "required": ["label", "score"],
                            "additionalProperties": False,
                            "properties": {"label": {"type": "string"}, "score": _NUMBER},
                        },
                    },
                },
            },
        },
        "compute": {
            "type": "object",
            "required": [
                "snippets_total",
                "snippets_selected",
                "selected_fraction",
                "gflops",
                "gflops_dense",
                "gflops_saved_fraction",
                "gflops_by_stage",
                "frames_in_video",
                "frames_decoded",
                "frames_decoded_light",
                "decoded_fraction",
                "light_pass",
                "largest_gap_s",
            ],
            "properties": {
                "snippets_total": _INT,
                "snippets_selected": _INT,
                "selected_fraction": _NUMBER,
                "gflops": _NUMBER,
                "gflops_dense": _NUMBER,
                "gflops_saved_fraction": _NUMBER,
                "gflops_by_stage": {"type": "object", "additionalProperties": _NUMBER},
                "frames_in_video": _INT,
                "frames_decoded": {**_INT, "description": "frames handed to the codec, both passes (0: not counted)"},
                "frames_decoded_light": {**_INT, "description": "of which the light pass"},
                "decoded_fraction": {**_NUMBER, "description": "frames_decoded / frames_in_video"},
                "light_pass": {"enum": ["exact", "nonref", "fast", "keyframe", "aligned", "none"],
                               "description": "the light pass that ran (auto resolved); aligned: the plan was "
                                              "aligned to keyframes; none: no gate ran, uniform plan"},
                "largest_gap_s": {**_NUMBER, "description": "seconds: the longest stretch of video no snippet "
                                                            "covered"},
            },
        },
        "timings": {
            "type": "object",
            "description": "seconds per stage: wall time for probe, the decoding stages and total (decode = "
                           "decode_light + decode_heavy); for the networks' stages (light, gate, heavy, head, "
                           "evidence) the time of the device passes that carried the video, a pass shared by "
                           "several videos counted for each (evidence: 0 unless evidence was asked for)",
            "required": ["probe", "decode", "decode_light", "decode_heavy", "light", "gate", "heavy", "head", "total"],
            "additionalProperties": _NUMBER,
        },
        "model": {
            "type": "object",
            "required": ["name", "version", "light", "heavy", "classes"],
            "properties": {
                "synthetic": {"type": ["boolean", "null"],
                              "description": "the model card says its training data was generated (its classes "
                                             "mean nothing on real footage); null: not known"},
            },
        },
        "options": {"type": "object"},
    },
}
