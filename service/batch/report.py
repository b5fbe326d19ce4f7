"""``vidgate report results.jsonl --html OUT``: a static, self-contained HTML summary of a batch."""

from __future__ import annotations

import html
import os
from collections import Counter
from pathlib import Path
from typing import Any

from .records import read_records


def _bars(counts: list[tuple[str, int]], width: int = 520) -> str:
    """A horizontal bar chart as inline SVG."""
    top = max((n for _, n in counts), default=1) or 1
    rows = []
    for i, (name, n) in enumerate(counts):
        y = i * 22
        w = int((width - 200) * n / top)
        rows.append(
            f'<text x="0" y="{y + 14}" font-size="12">{html.escape(name)}</text>'
            f'<rect x="190" y="{y + 3}" width="{w}" height="14" fill="#2f6fed"/>'
            f'<text x="{196 + w}" y="{y + 14}" font-size="12">{n}</text>'
        )
    return f'<svg width="{width}" height="{22 * len(counts) + 4}" role="img">{"".join(rows)}</svg>'


def write_html_report(results: Path, out: Path, *, artifacts: Path | None = None) -> Path:
    everything = read_records(results)
    records = [r for r in everything if r["status"] != "skipped"]
    skipped = [r for r in everything if r["status"] == "skipped"]
    ok = [r for r in records if r["status"] == "ok"]
    failed = [r for r in records if r["status"] == "error"]
    labels = Counter(r["labels"][0]["label"] for r in ok if r["labels"])
    saved = Counter(
        f"{int(10 * r['compute']['gflops_saved_fraction']) * 10}–"
        f"{int(10 * r['compute']['gflops_saved_fraction']) * 10 + 10}%"
        for r in ok
    )
    gflops = sum(r["compute"]["gflops"] for r in ok)
    dense = sum(r["compute"]["gflops_dense"] for r in ok)
    rows = []
    for r in sorted(records, key=lambda r: r["source"]):
        if r["status"] == "ok":
            label = html.escape(f"{r['labels'][0]['label']} ({r['labels'][0]['score']:.0%})") if r["labels"] else ""
            segments = []
            for s in (s for s in r["snippets"] if s["selected"]):
                text = f"{s['start']:.1f}–{s['end']:.1f} s"
                thumb = artifacts / r["key"] / f"{s['index']}.jpg" if artifacts else None
                if thumb is not None and thumb.exists():
                    rel = os.path.relpath(thumb, out.parent)
                    clip = os.path.relpath(thumb.with_suffix(".mp4"), out.parent)
                    segments.append(
                        f'<a href="{html.escape(clip)}"><img src="{html.escape(rel)}" alt="{text}" '
                        f'title="{text}, {_gate(s)}" height="48"></a>'
                    )
                else:
                    segments.append(f'<span title="{_gate(s)}">{text}</span>')
            detail = " ".join(segments)
            compute = (
                f"{r['compute']['snippets_selected']}/{r['compute']['snippets_total']} snippets, "
                f"{r['compute']['gflops_saved_fraction']:.0%} saved"
            )
        else:
            label, compute = "", ""
            detail = (
                f'<span class="error">{html.escape(r["error"]["code"])}: {html.escape(r["error"]["message"])}</span>'
            )
        rows.append(f"<tr><td>{html.escape(r['source'])}</td><td>{label}</td><td>{detail}</td><td>{compute}</td></tr>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vidgate batch report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d2330}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #e3e6ec;padding:.3rem .5rem;text-align:left;font-size:.9rem;vertical-align:top}}
.error{{color:#c92a2a}}section{{margin-bottom:1.5rem}}</style></head><body>
<h1>vidgate batch report</h1>
<p id="summary">{len(records)} videos: {len(ok)} recognised, {len(failed)} failed; {len(skipped)} inputs skipped.
Compute {gflops:.1f} GFLOPs against {dense:.1f} dense ({(1 - gflops / dense) if dense else 0:.0%} saved).</p>
<section><h2>Top label distribution</h2>{_bars(labels.most_common())}</section>
<section><h2>Compute saved per video</h2>{_bars(sorted(saved.items()))}</section>
<section><h2>Videos</h2><table id="videos"><thead><tr><th>video</th><th>top label</th>
<th>selected segments</th><th>compute</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>
<section><h2>Skipped inputs</h2><ul id="skipped">{"".join(_skipped(r) for r in skipped) or "<li>none</li>"}</ul>
</section>
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out


def _skipped(record: dict[str, Any]) -> str:
    return f"<li>{html.escape(record['source'])}: {html.escape(record['error']['message'])}</li>"


def _gate(snippet: dict[str, Any]) -> str:
    score = snippet.get("gate_score")
    return "no gate" if score is None else f"gate score {score:.2f}"
