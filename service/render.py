"""Plain-text rendering of a recognition result for the terminal."""

from __future__ import annotations

from models.card import SYNTHETIC_SHORT
from pipelines.results import RecognitionResult

from .examples import Example


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:05.2f}" if h else f"{m:d}:{s:05.2f}"


def result_table(result: RecognitionResult) -> str:
    c = result.compute
    lines = [
        f"{result.video}  ({_clock(result.duration)}, {result.width}×{result.height}, {result.fps:g} fps, "
        f"{result.mode})",
        f"  model: {model_line(result.model)}",
        "  labels:",
    ]
    lines += [f"    {lab.score:6.1%}  {lab.label}" for lab in result.labels]
    selected = result.selected_segments()
    lines.append(f"  selected segments ({len(selected)} of {c.snippets_total} snippets):")
    lines += [
        f"    #{s.index:<4d} {_clock(s.start)} – {_clock(s.end)}"
        + (f"  gate score {s.gate_score:.2f}" if s.gate_score is not None else "")
        for s in selected
    ]
    lines.append(
        f"  compute: {c.gflops:.2f} GFLOPs vs {c.gflops_dense:.2f} dense "
        f"({c.gflops_saved_fraction:.0%} saved); wall {result.timings['total']:.2f} s"
    )
    return "\n".join(lines)


def model_line(model: dict[str, object]) -> str:
    """The model a result came from: its name, version, and whether its classes are synthetic."""
    synthetic = model.get("synthetic")
    classes = (SYNTHETIC_SHORT if synthetic else "classes from its own training data" if synthetic is False
               else "its card does not say what it was trained on")
    return f"{model.get('name')} {model.get('version')} ({classes})"


def truth_text(example: Example) -> str:
    events = ", ".join(f"{e.label} {_clock(e.start)}–{_clock(e.end)}" for e in example.events)
    return f"truth: {example.label} ({events})"


def example_table(result: RecognitionResult, example: Example) -> str:
    """A result beside its example's truth: the true label, and which true events the selection covers."""
    selected = result.selected_segments()
    found = [e for e in example.events if any(s.start < e.end and e.start < s.end for s in selected)]
    top = result.labels[0].label if result.labels else None
    verdict = "right" if top == example.label else f"wrong (said {top})"
    return "\n".join([
        f"example {example.name}",
        result_table(result),
        f"  {truth_text(example)}",
        f"  top label {verdict}; the selected segments cover {len(found)} of {len(example.events)} true events",
    ])
