"""Plain-text rendering of a recognition result for the terminal."""

from __future__ import annotations

from pipelines.results import RecognitionResult


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:05.2f}" if h else f"{m:d}:{s:05.2f}"


def result_table(result: RecognitionResult) -> str:
    c = result.compute
    lines = [
        f"{result.video}  ({_clock(result.duration)}, {result.width}×{result.height}, {result.fps:g} fps, "
        f"{result.mode})",
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
