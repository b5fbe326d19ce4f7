"""Issue 13's targets, read off the bench runs that measured them: met or missed, and by how much.

    python -m bench.e2e --footage --gop 250 && python -m bench.e2e --footage --gop 60
    python -m bench.e2e --footage --gop 250 --heavy x3d_m --size 224 --frames 16 --repeats 1
    python -m bench.batch --footage --videos 20
    python -m bench.batch --footage --videos 60 --gop 250 --heavy x3d_m --size 224 --frames 16 --device cuda  # GPU
    python -m bench.light_passes
    python -m bench.targets          # writes the "targets" section of docs/benchmarks.md

Every figure comes from the JSON those scripts leave in data/bench/results/ and docs/results/light-passes/;
a run that is missing shows as "not measured".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .report import write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "data" / "bench" / "results"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _row(figure: str, target: str, value: float | None, goal: float, *, at_most: bool, unit: str = "×",
         note: str = "") -> str:
    if value is None:
        return f"| {figure} | {target} | not measured | — | {note} |"
    met = value <= goal if at_most else value >= goal
    gap = (value / goal - 1) * 100
    verdict = "met" if met else f"missed by {abs(gap):.0f}%"
    shown = f"{value:+.1f} pts" if unit == "pts" else f"{value:.2f}{unit}"
    if unit == "pts":
        verdict = "met" if met else f"missed by {goal - value:.1f} pts"
    return f"| {figure} | {target} | {shown} | {verdict} | {note} |"


def _gpu_row(run: dict[str, Any] | None) -> str:
    """x3d_m gated 25% on one H100: videos per hour (≥ 10,000) and the ratio to dense (≥ 3×), both needed."""
    figure, target = "x3d_m gated 25% on one H100, five-minute videos per hour", "≥ 10,000 and ≥ 3× dense"
    if run is None:
        return f"| {figure} | {target} | not measured | — | no GPU run (`bench.batch --footage --heavy x3d_m`) |"
    ph = run["per_hour"]
    gated, ratio = ph["gated 25%"], ph["gated 25%"] / ph["dense"]
    missed = [f"{what} by {100 * (1 - value / goal):.0f}%"
              for what, value, goal in (("videos/hour", gated, 10_000), ("vs dense", ratio, 3.0)) if value < goal]
    failed = sum(run["videos"][k] - run["ok"][k] for k in run["ok"])
    note = (f"{sum(run['videos'].values()) // len(run['videos'])} videos per setting on {run['machine']}; "
            f"dense {ph['dense']:.0f}/hour, dense on the uniform plan {ph['dense, uniform plan']:.0f}/hour"
            + ("" if "H100" in run["machine"] else "; not an H100")
            + (f"; {failed} video(s) failed" if failed else ""))
    stages = run.get("stages", {}).get("gated 25%")
    if stages:  # the recognizer's own timings of each video in the batch
        total, light = stages["total"], stages["light"]
        note += (f"; gated, one video took {total['median']:.1f} s (median) to {total['max']:.1f} s with "
                 f"{run['decoders'] + 1} in flight, its light network {light['median']:.2f} s to {light['max']:.1f} s")
    if missed:
        verdict = "missed " + ", ".join(missed)
    else:
        verdict = "met" if "H100" in run["machine"] and not failed else "— (see note)"
    return f"| {figure} | {target} | {gated:,.0f}/hour, {ratio:.2f}× dense | {verdict} | {note} |"


def main() -> None:
    rows = []
    for gop in (250, 60):
        run = _load(RESULTS / f"e2e-footage-g{gop}.json")
        m = run["median"] if run else None
        gated = m["gated, budget 25%"] if m else None
        rows.append(_row(f"demo model, gated 25%, wall vs a full PyAV decode (keyframe interval {gop})", "≤ 0.5×",
                         gated / m["full decode (every frame)"] if m and gated else None, 0.5, at_most=True,
                         note=f"light pass `{run['light_pass']['gated, budget 25%']}`" if run else ""))
        rows.append(_row(f"demo model, dense vs gated 25% (keyframe interval {gop})", "≥ 2×",
                         m["dense"] / gated if m and gated else None, 2.0, at_most=False,
                         note=(f"dense on the uniform plan: {m['dense, uniform plan'] / gated:.2f}×" if m and gated
                               else "")))
    strict = _load(RESULTS / "e2e-footage-g250-strict.json")
    if strict:
        m = strict["median"]
        rows.append(_row("demo model, gated 25%, wall vs a full PyAV decode (interval 250 without scene cuts)",
                         "≤ 0.5×", m["gated, budget 25%"] / m["full decode (every frame)"], 0.5, at_most=True,
                         note=f"light pass `{strict['light_pass']['gated, budget 25%']}`: 36 keyframes for 64 "
                         "snippets, so `auto` keeps the uniform plan; forced `aligned` (36 snippets): "
                         f"{m['gated, budget 25%, light aligned'] / m['full decode (every frame)']:.2f}×"
                         if "gated, budget 25%, light aligned" in m else "snippets, so `auto` keeps the uniform plan"))
    x3d = _load(RESULTS / "e2e-x3d_m-footage-g250.json")
    xm = x3d["median"] if x3d else None
    rows.append(_row("x3d_m 224²×16 (random weights) on CPU, dense vs gated 25% (interval 250)", "≥ 3.5×",
                     xm["dense"] / xm["gated, budget 25%"] if xm else None, 3.5, at_most=False,
                     note=f"dense on the uniform plan: {xm['dense, uniform plan'] / xm['gated, budget 25%']:.2f}×"
                     if xm else ""))
    batch = _load(RESULTS / "batch-footage.json")
    ph = batch["per_hour"] if batch else None
    rows.append(_row("batch of 20 five-minute videos on 2 cores, gated vs dense videos/hour", "≥ 2×",
                     ph["gated 25%"] / ph["dense"] if ph else None, 2.0, at_most=False,
                     note=f"vs dense on the uniform plan: {ph['gated 25%'] / ph['dense, uniform plan']:.2f}×"
                     if ph else ""))
    for name in ("demo", "unseen"):
        report = _load(ROOT / "docs" / "results" / "light-passes" / f"{name}.json")
        value = None
        if report:
            s = report["settings"]
            value = 100 * (s["gated 25%, light auto"]["accuracy"] - s["gated 25%, light exact"]["accuracy"])
        rows.append(_row(f"default light pass (auto) vs exact, accuracy on the {name} test split", "≥ −1 point",
                         value, -1.0, at_most=False, unit="pts"))
    rows.append(_gpu_row(_load(RESULTS / "batch-footage-cuda-x3d_m.json")))
    floors = []
    for gop in (250, 60):
        run = _load(RESULTS / f"e2e-footage-g{gop}.json")
        if not run or "stages" not in run:
            continue
        for name in ("gated, budget 25%", "dense"):
            t = run["stages"][name]
            networks = t["light"] + t["gate"] + t["heavy"] + t["head"]
            floors.append(
                f"- interval {gop}, {name}: {run['median'][name]:.2f} s = probe {t['probe']:.2f} s + decoding "
                f"{t['decode']:.2f} s ({run['frames_decoded'][name]} of {run['num_frames']} frames) + networks "
                f"{networks:.2f} s (+ the rest: process and data handling). A full decode took "
                f"{run['median']['full decode (every frame)']:.2f} s."
            )
    lines = [
        "## Issue 13 targets",
        "",
        "`python -m bench.targets`, from the runs named in its docstring (their sections above and below hold "
        "the full tables, machine and command). The 2-core machine was shared with other jobs while these ran; "
        "repeating the same commands gave ratios that differed substantially from run to run, so a verdict "
        "within about a third of its target is not settled by one run.",
        "",
        "| figure | target | measured | verdict | note |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Where the time goes (the floor of each setting is its fixed part: probing the packet index, one decode "
        "per planned snippet's light frame, the light network over every snippet):",
        "",
        *floors,
        "",
        "Why dense and gated are close on the demo model: the plan both use (`auto`, aligned to keyframes) already "
        "decodes only a few percent of the frames, and the demo's heavy network (tiny3d at 112²) costs little per "
        "snippet, so what gating saves (48 snippet decodes and 48 tiny3d passes) is about what its light pass "
        "costs (a keyframe decode and a tiny2d pass per snippet). Against dense on the uniform plan (the plan "
        "training uses, and the only plan before this issue) the ratio is in the note. With a real heavy network "
        "(x3d_m) the saving is mostly heavy compute"
        + (f": {xm['dense'] / xm['gated, budget 25%']:.2f}× there." if xm else "."),
    ]
    write_section("targets", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
