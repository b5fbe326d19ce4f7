"""Recognition options: declared once, here; every entry point derives from `Options`.

The CLI's flags (`service.cli`), the API's multipart form fields and their OpenAPI schema
(`service.api.intake`), the batch runner, the job record (`service.jobs.Job.options`) and the
recognizer all read this one model, so adding an option is one field here plus its use in the
recognizer. This module imports no torch: the API process validates options without loading a model.

Default policy, the same at every entry point: gated, with the gate's learned threshold (the model
decides how many snippets matter). A budget, a maximum count or a threshold overrides it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import OptionsError


class Mode(str, Enum):
    """How snippets are selected for the heavy network."""

    GATED = "gated"
    DENSE = "dense"
    UNIFORM = "uniform"
    RANDOM = "random"


class LightPass(str, Enum):
    """How the light pass decodes (docs/inference.md has the measurements behind ``auto``)."""

    AUTO = "auto"
    EXACT = "exact"
    NONREF = "nonref"
    FAST = "fast"
    KEYFRAME = "keyframe"
    ALIGNED = "aligned"


# The baselines pick k snippets, so they need a count (a budget or a maximum).
BASELINES = (Mode.UNIFORM, Mode.RANDOM)
# The same rule for JSON Schema readers (the API's OpenAPI): another mode, a budget or a maximum count.
_BASELINE_RULE: dict[str, Any] = {"anyOf": [
    {"properties": {"mode": {"enum": [m.value for m in Mode if m not in BASELINES]}}},
    {"properties": {"budget": {"type": "number"}}, "required": ["budget"]},
    {"properties": {"max_selected": {"type": "integer"}}, "required": ["max_selected"]},
]}


class Options(BaseModel):
    """Per-call recognition options (the field descriptions are the CLI's help and the API's docs)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False, json_schema_extra=_BASELINE_RULE)

    mode: Mode = Field(
        Mode.GATED,
        description="gated (the gate picks), dense (every snippet), uniform or random (k snippets evenly "
        "spaced or at random, k from the budget: the baselines the gate is compared with).",
    )
    budget: float | None = Field(
        None, gt=0.0, le=1.0, description="Fraction of snippets the heavy network may see (default: the gate's "
        "learned threshold decides).",
    )
    max_selected: int | None = Field(None, ge=1, le=1_000_000, description="Most snippets the heavy network may see.")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="Gate score threshold (with a budget: at most the budget's snippets pass)."
    )
    top_k: int = Field(5, ge=1, le=1000, description="How many labels to return.")
    light_pass: LightPass = Field(
        LightPass.AUTO,
        description="How the light pass decodes: exact (centre frames, every frame on the way), nonref (the same "
        "pixels, skipping frames nothing refers to), fast (also without the deblocking filter; inexact), keyframe "
        "(the keyframe before each centre), aligned (snippets start at keyframes, within a stated coverage bound), "
        "auto (aligned where that keeps every snippet and halves the light pass's decoding, else fast).",
    )
    seconds_per_snippet: float | None = Field(
        None, gt=0.0, le=3600.0, description="Plan one snippet per this many seconds (capped at the recognizer's "
        "snippet limit) instead of spreading a fixed number over the video.",
    )
    seed: int = Field(0, ge=0, description="Seed of the random baseline.")
    evidence: bool = Field(
        False, description="Also compute each selected snippet's evidence for the returned labels (what the viewer's "
        "'Why?' panel shows); with the temporal head it costs more the more classes the model has. The API also "
        "computes it afterwards, on request (GET /v1/jobs/{id}/evidence).",
    )

    @model_validator(mode="after")
    def _baselines_need_a_count(self) -> Options:
        if self.mode in BASELINES and self.budget is None and self.max_selected is None:
            raise ValueError(f"mode {self.mode.value!r} needs a budget or max_selected")
        return self

    @property
    def gated(self) -> bool:
        return self.mode is Mode.GATED

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the job record and result carry this)."""
        return self.model_dump(mode="json")


OPTION_NAMES: tuple[str, ...] = tuple(Options.model_fields)


def parse_options(values: dict[str, Any]) -> Options:
    """`Options` from loose values (CLI flags, form fields, query strings, stored records).

    Strings are converted as pydantic's lax mode does (``"0.25"``, ``"true"``); empty strings and
    ``None`` mean "not given". Any problem raises `OptionsError` with one line per bad field; this is
    the one source of the API's 400 and the CLI's exit-2 messages.
    """
    given = {k: v for k, v in values.items() if v is not None and not (isinstance(v, str) and v.strip() == "")}
    unknown = sorted(set(given) - set(OPTION_NAMES))
    if unknown:
        raise OptionsError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTION_NAMES)}")
    try:
        return Options.model_validate({k: v.strip() if isinstance(v, str) else v for k, v in given.items()})
    except ValidationError as exc:
        raise OptionsError(describe(exc)) from None


def stored_options(values: dict[str, Any] | None) -> Options:
    """Options of a stored record, tolerant of fields an older or newer version wrote."""
    return parse_options({k: v for k, v in (values or {}).items() if k in OPTION_NAMES})


def describe(exc: ValidationError) -> str:
    """One readable line per problem: ``budget: Input should be less than or equal to 1 (got 2.0)``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        got = f" (got {error['input']!r})" if where and "input" in error else ""
        parts.append(f"{where}: {message}{got}" if where else message)
    return "; ".join(parts) or "invalid options"
