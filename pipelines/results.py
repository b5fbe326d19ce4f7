"""The one result schema, used by the CLI's JSON, the API, batch records and the viewer page.

JSON Schema: docs/result.schema.json (written from `RESULT_SCHEMA`; a test keeps them identical).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


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
    """One snippet: times in seconds, ``frames`` = [first, last + 1) frame indices."""

    index: int
    start: float
    end: float
    frames: tuple[int, int]
    gate_score: float | None
    selected: bool
    concepts: tuple[Concept, ...]


@dataclass(frozen=True)
class Compute:
    snippets_total: int
    snippets_selected: int
    selected_fraction: float
    gflops: float
    gflops_dense: float
    gflops_saved_fraction: float
    gflops_by_stage: dict[str, float]


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


MODEL_INFO_KEYS = ("name", "version", "light", "heavy", "classes", "snippet_frames", "multi_label", "threshold")


def model_info(config: dict[str, Any]) -> dict[str, Any]:
    """The ``model`` part of a result: what a user needs to know of the model, from its config."""
    return {k: list(config[k]) if k == "classes" else config.get(k) for k in MODEL_INFO_KEYS}


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
        "duration": {**_NUMBER, "description": "seconds"},
        "fps": _NUMBER,
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
                "required": ["index", "start", "end", "frames", "gate_score", "selected", "concepts"],
                "additionalProperties": False,
                "properties": {
                    "index": _INT,
                    "start": {**_NUMBER, "description": "seconds"},
                    "end": {**_NUMBER, "description": "seconds"},
                    "frames": {
                        "type": "array",
                        "items": _INT,
                        "minItems": 2,
                        "maxItems": 2,
                        "description": "[first frame, last frame + 1)",
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
            ],
            "properties": {
                "snippets_total": _INT,
                "snippets_selected": _INT,
                "selected_fraction": _NUMBER,
                "gflops": _NUMBER,
                "gflops_dense": _NUMBER,
                "gflops_saved_fraction": _NUMBER,
                "gflops_by_stage": {"type": "object", "additionalProperties": _NUMBER},
            },
        },
        "timings": {
            "type": "object",
            "description": "wall seconds per stage",
            "required": ["probe", "decode", "light", "gate", "heavy", "head", "total"],
            "additionalProperties": _NUMBER,
        },
        "model": {"type": "object", "required": ["name", "version", "light", "heavy", "classes"]},
        "options": {"type": "object"},
    },
}
