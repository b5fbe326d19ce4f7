// vidgate job page: why the model said X (evidence per segment), where (timeline of the whole video),
// what its concepts look like (examples from training), and each segment in context (a clip around it).
"use strict";

const CONTEXT_SECONDS = 2;  // asked of /v1/jobs/{id}/snippets/{i}/context?seconds=
const CHART = { width: 1000, gateTop: 8, gateBottom: 92, markTop: 98, markBottom: 106, evidenceMid: 128, evidenceHalf: 20,
                height: 150 };

const view = { job: null, result: null, label: null, current: null, page: 0, truth: [], truthSource: "", concepts: new Map(),
               evidenceNote: "" };

async function initJob() {
  const id = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  view.truth = parseTruth(new URLSearchParams(location.search).get("truth"));
  view.truthSource = "the true event times given in the address (?truth=)";
  let shown = false;
  const model = vg.model();
  model.then((m) => {
    if (!m) return;
    document.getElementById("model-section").hidden = false;
    document.getElementById("model-card").replaceChildren(vg.modelCard(m));
  });
  async function tick() {
    let job;
    try { job = await vg.api(`/v1/jobs/${encodeURIComponent(id)}`); }
    catch (error) { document.getElementById("job-status").textContent = `${error.message} (${error.code})`; return true; }
    renderStatus(job);
    showNotice(job, await model);
    if (job.result && !shown) { renderResult(job); shown = true; }
    return vg.finished(job.status);
  }
  const timer = setInterval(async () => { if (await tick()) clearInterval(timer); }, 1000);
  if (await tick()) clearInterval(timer);
  window.addEventListener("resize", () => { if (view.result) { drawChart(); renderFilmstrip(); } });
}

// "?truth=12-15.5:pour,40-42" → [{start: 12, end: 15.5, label: "pour"}, {start: 40, end: 42, label: ""}]
function parseTruth(text) {
  if (!text) return [];
  return text.split(",").map((part) => {
    const [range, label = ""] = part.split(":");
    const [start, end] = range.split("-").map(Number);
    return { start, end, label };
  }).filter((t) => Number.isFinite(t.start) && Number.isFinite(t.end) && t.end > t.start);
}

// A model with synthetic classes: say so on every job page (the result's own model, else the one being served).
function showNotice(job, model) {
  const synthetic = job.result ? job.result.model.synthetic : model && model.card.data.synthetic;
  const slot = document.getElementById("notice-slot");
  if (synthetic && slot.hidden) { slot.replaceChildren(vg.notice()); slot.hidden = false; }
}

function renderStatus(job) {
  document.getElementById("job-title").textContent = (job.input && job.input.filename) || job.id;
  const status = document.getElementById("job-status");
  status.replaceChildren(vg.el("span", { class: `status ${job.status}`, "data-testid": "job-status" }, job.status));
  if (job.status === "running" && job.progress) {
    status.append(" ", vg.el("span", { class: "progress" }, vg.el("div", { style: `width:${vg.pct(job.progress.fraction || 0)}` })),
                  vg.el("span", { "data-testid": "job-progress" }, ` ${job.progress.stage} ${vg.pct(job.progress.fraction || 0)}`));
  }
  if (job.error) status.append(vg.el("div", { class: "error", "data-testid": "job-error" }, `${job.error.code}: ${job.error.message}`));
  document.getElementById("request").textContent = requestText(job.options || {}, job.result);
}

function lightPass(options, result) {
  if (options.mode && options.mode !== "gated") return "no light pass (no gate runs in this mode)";
  const asked = options.light_pass || (options.keyframes ? "keyframe" : "exact");
  const ran = result && result.compute && result.compute.light_pass;
  return `light pass: ${asked}${ran && ran !== asked ? ` (ran: ${ran})` : ""}`;
}

function requestText(o, r) {
  const parts = [`mode ${o.mode || "gated"}`];
  if (o.budget != null) parts.push(`budget ${vg.pct(o.budget)} of snippets`);
  else if (o.max_selected != null) parts.push(`at most ${o.max_selected} snippets`);
  else if ((o.mode || "gated") === "gated") parts.push("budget: the gate's learned threshold");
  if (o.threshold != null) parts.push(`threshold ${o.threshold}`);
  parts.push(lightPass(o, r));
  if (o.seconds_per_snippet) parts.push(`one snippet per ${o.seconds_per_snippet} s`);
  if (r) parts.push(`${r.snippets.length} snippets over ${vg.clock(r.duration)}`);
  return `Requested: ${parts.join(" · ")}`;
}

// ---------------------------------------------------------------- result
function renderResult(job) {
  const r = job.result;
  Object.assign(view, { job, result: r, label: r.labels.length ? r.labels[0].label : null, page: 0 });
  const truth = job.input && job.input.truth;
  if (!view.truth.length && truth) {  // an example video carries its true events
    view.truth = truth.events.map((e) => ({ start: e.start, end: e.end, label: e.label }));
    view.truthSource = `the true events of this example (its label: ${truth.label})`;
  }
  document.getElementById("result").hidden = false;
  document.getElementById("model").textContent =
    `${r.model.name} ${r.model.version || ""} · light ${r.model.light} · heavy ${r.model.heavy} · ${r.width}×${r.height}, ${r.fps} fps, ${vg.clock(r.duration)}`;
  document.getElementById("film-prev").onclick = () => { view.page -= 1; renderFilmstrip(); drawChart(); };
  document.getElementById("film-next").onclick = () => { view.page += 1; renderFilmstrip(); drawChart(); };
  renderCompute(r);
  const first = r.snippets.filter((s) => s.selected).sort((a, b) => evidenceOf(b) - evidenceOf(a))[0] || r.snippets[0];
  chooseLabel(view.label);
  if (first) select(first, false);
  if (r.snippets.some((s) => s.evidence == null)) loadEvidence();  // not asked for at submission: ask now
}

function evidenceOf(s, label = view.label) {
  const e = (s.evidence || []).find((x) => x.label === label);
  return e ? e.score : 0;
}

function hasEvidence(r) { return r.snippets.some((s) => s.evidence && s.evidence.length); }

// The evidence is computed when someone looks: the first request has a worker compute it from what the head
// read (no decoding), later ones are served from the copy kept beside the result.
async function loadEvidence() {
  const url = `/v1/jobs/${encodeURIComponent(view.job.id)}/evidence`;
  view.evidenceNote = "Computing each segment's evidence…";
  renderEvidence();
  for (;;) {
    let body;
    try { body = await vg.api(url); }
    catch (error) { view.evidenceNote = `No evidence: ${error.message} (${error.code})`; renderEvidence(); return; }
    if (body.status === "succeeded") {
      for (const s of body.snippets) view.result.snippets[s.index].evidence = s.evidence;
      view.evidenceNote = "";
      chooseLabel(view.label);  // the panel, the chart and the filmstrip, now with the evidence
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function chooseLabel(label) {
  view.label = label;
  const r = view.result;
  document.getElementById("labels").replaceChildren(...r.labels.map((l) => vg.el("button", {
    type: "button", class: `label-row${l.label === label ? " chosen" : ""}`, "data-testid": "label",
    "aria-pressed": String(l.label === label), onclick: () => chooseLabel(l.label) },
    vg.el("b", {}, l.label), vg.el("div", { class: "bar" }, vg.el("div", { style: `width:${vg.pct(l.score)}` })),
    vg.el("span", {}, vg.pct(l.score)))));
  renderEvidence();
  drawChart();
  renderFilmstrip();
}

// ---------------------------------------------------------------- evidence per segment
function renderEvidence() {
  const r = view.result, box = document.getElementById("evidence");
  document.getElementById("evidence-title").textContent = `Why “${view.label}”?`;
  if (!hasEvidence(r)) {
    box.replaceChildren(vg.el("p", { class: "muted", "data-testid": "evidence-note" },
      view.evidenceNote || "This result carries no per-segment evidence."));
    return;
  }
  const selected = r.snippets.filter((s) => s.selected);
  const scale = Math.max(1e-9, ...selected.map((s) => Math.abs(evidenceOf(s))));
  const pro = selected.filter((s) => evidenceOf(s) > 0).sort((a, b) => evidenceOf(b) - evidenceOf(a));
  const con = selected.filter((s) => evidenceOf(s) < 0).sort((a, b) => evidenceOf(a) - evidenceOf(b));
  const total = selected.reduce((sum, s) => sum + evidenceOf(s), 0);
  const group = (title, list, cls) => {
    const shown = list.slice(0, 6);
    return vg.el("div", { class: `evidence-group ${cls}` }, vg.el("h3", {}, `${title} (${list.length})`),
      ...shown.map((s) => evidenceRow(s, scale)),
      list.length > shown.length ? vg.el("p", { class: "muted" }, `…and ${list.length - shown.length} more, smaller`) : "",
      list.length ? "" : vg.el("p", { class: "muted" }, "none"));
  };
  box.replaceChildren(
    vg.el("p", { class: "legend" }, `Each selected segment's share of the score of “${view.label}” (its term in the label's logit, ` +
      `net of what it adds to every label alike). Bars to the right argue for it, to the left against. Net: ${total >= 0 ? "+" : ""}${total.toFixed(2)}.`),
    group("For", pro, "pro"), group("Against", con, "con"));
}

function evidenceRow(s, scale) {
  const value = evidenceOf(s), width = 50 * Math.abs(value) / scale;
  const bar = vg.el("div", { class: "diverging" }, vg.el("div", {
    class: value >= 0 ? "for" : "against", "data-testid": "evidence-bar", "data-sign": value >= 0 ? "for" : "against",
    style: value >= 0 ? `left:50%;width:${width}%` : `left:${50 - width}%;width:${width}%` }));
  return vg.el("button", { type: "button", class: `evidence-row${view.current === s.index ? " active" : ""}`,
    "data-testid": "evidence-row", "data-index": String(s.index), onclick: () => select(s) },
    vg.el("img", { src: thumbUrl(s), alt: "" }),
    vg.el("span", {}, `#${s.index} ${vg.clock(s.start)}`), bar,
    vg.el("span", { class: "num" }, `${value >= 0 ? "+" : ""}${value.toFixed(2)}`));
}

// ---------------------------------------------------------------- timeline chart (SVG)
function x(t) { return CHART.width * t / Math.max(1e-9, view.result.duration); }
// The gate axis spans the scores of this video (and the threshold), so small differences stay visible.
let gateRange = [0, 1];
function gateY(p) { return CHART.gateBottom - (CHART.gateBottom - CHART.gateTop) * (p - gateRange[0]) / (gateRange[1] - gateRange[0]); }

function fitGateRange(r, threshold) {
  const values = r.snippets.map((s) => s.gate_score).filter((v) => v != null);
  if (threshold != null) values.push(threshold);
  if (!values.length) { gateRange = [0, 1]; return; }
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = Math.max(0.02, (hi - lo) * 0.08);
  lo = Math.max(0, lo - pad); hi = Math.min(1, hi + pad);
  gateRange = [lo, Math.max(hi, lo + 0.05)];
}
function mid(s) { return (s.start + s.end) / 2; }

function drawChart() {
  const r = view.result, box = document.getElementById("chart");
  if (!r) return;
  const svg = vg.svg("svg", { viewBox: `0 0 ${CHART.width} ${CHART.height}`, preserveAspectRatio: "none",
    role: "img", "aria-label": "gate score over the whole video", "data-testid": "timeline-svg" });
  const notes = [];
  for (const t of view.truth) {
    svg.append(vg.svg("rect", { x: x(t.start), width: Math.max(2, x(t.end) - x(t.start)), y: 0, height: CHART.height,
      class: "truth", "data-testid": "truth-band" }));
    notes.push([t.start, t.label || "true event", t.end]);
  }
  const per = pageSize(), first = view.page * per;
  const shown = r.snippets.slice(first, first + per);
  if (shown.length) {
    svg.append(vg.svg("rect", { x: x(shown[0].start), width: Math.max(2, x(shown[shown.length - 1].end) - x(shown[0].start)),
      y: 0, height: CHART.height, class: "window" }));
  }
  const gated = r.snippets.some((s) => s.gate_score != null);
  const threshold = thresholdOf(r);
  fitGateRange(r, threshold);
  for (const p of gateRange) svg.append(vg.svg("line", { x1: 0, x2: CHART.width, y1: gateY(p), y2: gateY(p), class: "grid" }));
  if (gated) {
    const pts = r.snippets.map((s) => `${x(mid(s)).toFixed(2)},${gateY(s.gate_score ?? 0).toFixed(2)}`);
    const first = x(mid(r.snippets[0])), last = x(mid(r.snippets[r.snippets.length - 1]));
    svg.append(vg.svg("path", { d: `M${first},${CHART.gateBottom} L${pts.join(" L")} L${last},${CHART.gateBottom} Z`, class: "gate-area" }));
    svg.append(vg.svg("polyline", { points: pts.join(" "), class: "gate-line", "data-testid": "gate-line" }));
    if (threshold != null) {
      svg.append(vg.svg("line", { x1: 0, x2: CHART.width, y1: gateY(threshold), y2: gateY(threshold), class: "threshold" }));
    }
  } else {
    notes.push([0, `no gate ran (mode ${r.mode}): no gate scores`, 0]);
  }
  const scale = Math.max(1e-9, ...r.snippets.map((s) => Math.abs(evidenceOf(s))));
  svg.append(vg.svg("line", { x1: 0, x2: CHART.width, y1: CHART.evidenceMid, y2: CHART.evidenceMid, class: "grid" }));
  for (const s of r.snippets) {
    const w = Math.max(1.5, x(s.end) - x(s.start));
    if (s.selected) {
      svg.append(vg.svg("rect", { x: x(s.start), width: w, y: CHART.markTop, height: CHART.markBottom - CHART.markTop,
        class: "selected-mark", "data-testid": "selected-mark" }));
    }
    const e = evidenceOf(s);
    if (s.selected && e) {
      const h = CHART.evidenceHalf * Math.abs(e) / scale;
      svg.append(vg.svg("rect", { x: x(s.start), width: Math.max(2, w), y: e > 0 ? CHART.evidenceMid - h : CHART.evidenceMid,
        height: h, class: e > 0 ? "ev-for" : "ev-against", "data-testid": "chart-evidence" }));
    }
  }
  if (view.current != null) {
    const s = r.snippets[view.current];
    svg.append(vg.svg("line", { x1: x(mid(s)), x2: x(mid(s)), y1: 0, y2: CHART.height, class: "current" }));
  }
  svg.addEventListener("click", (event) => {
    const box = svg.getBoundingClientRect();
    const t = (event.clientX - box.left) / box.width * r.duration;
    const nearest = r.snippets.reduce((a, b) => (Math.abs(mid(b) - t) < Math.abs(mid(a) - t) ? b : a));
    select(nearest);
  });
  box.replaceChildren(svg);
  // Notes above the chart, at their time (in the right half they end there), in as many rows as they need.
  const holder = document.getElementById("chart-notes");
  const share = (t) => 100 * t / Math.max(1e-9, r.duration);
  const spans = notes.sort((a, b) => a[0] - b[0]).map(([start, text, end]) => vg.el("span", {
    style: share(start) > 50 ? `right:${(100 - share(end)).toFixed(2)}%` : `left:${share(start).toFixed(2)}%` }, text));
  holder.replaceChildren(...spans);
  const rowEnds = [];
  for (const span of spans) {
    const box = span.getBoundingClientRect();
    let row = rowEnds.findIndex((end) => box.left > end + 4);
    if (row < 0) { row = rowEnds.length; rowEnds.push(0); }
    rowEnds[row] = box.right;
    span.style.top = `${1.1 * row}rem`;
  }
  holder.style.height = `${1.1 * Math.max(1, rowEnds.length)}rem`;
  const y = (p) => `${(100 * gateY(p) / CHART.height).toFixed(1)}%`;
  document.getElementById("chart-y").replaceChildren(...(gated ? gateRange.map((p) =>
    vg.el("span", { style: `top:${y(p)}` }, p.toFixed(2))) : []));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => vg.el("span", {}, vg.clock(f * r.duration)));
  document.getElementById("axis").replaceChildren(...ticks);
  document.getElementById("chart-legend").textContent =
    (gated ? `Line: the gate's score of every snippet (axis from ${gateRange[0].toFixed(2)} to ${gateRange[1].toFixed(2)}` +
      `${threshold != null ? `; dashed: the threshold ${threshold.toFixed(2)}` : ""}). ` : "") +
    "Orange ticks: the selected snippets, the only ones the heavy network saw. " +
    (hasEvidence(r) ? `Green above / red below the lower line: evidence for / against “${view.label}”. ` : "") +
    (view.truth.length ? `Grey bands: ${view.truthSource}. ` : "") +
    "Shaded: the snippets in the filmstrip below. Click anywhere to see that moment.";
}

function thresholdOf(r) {
  const o = r.options || {};
  if (r.mode !== "gated") return null;
  if (o.threshold != null) return o.threshold;
  return o.budget == null && o.max_selected == null ? r.model.threshold ?? null : null;
}

// ---------------------------------------------------------------- filmstrip (paged: one page of images at a time)
function pageSize() { return window.innerWidth < 600 ? 12 : 24; }

function thumbUrl(s) { return `/v1/jobs/${view.job.id}/snippets/${s.index}/thumbnail`; }

// The whole frame, at the video's aspect; a dashed box marks the centre square the networks saw (their input is a
// centre crop), when the frame is not square.
function thumbnail(s) {
  const r = view.result, w = Math.max(1, r.width), h = Math.max(1, r.height);
  const box = vg.el("span", { class: "thumb", style: `aspect-ratio:${w}/${h}` },
    vg.el("img", { src: thumbUrl(s), alt: `snippet ${s.index}`, loading: "lazy" }));
  if (w !== h) {
    const side = Math.min(w, h);
    box.append(vg.el("span", { class: "crop", "data-testid": "crop-box", style: w > h
      ? `left:${(50 * (1 - side / w)).toFixed(2)}%;width:${(100 * side / w).toFixed(2)}%;top:0;height:100%`
      : `top:${(50 * (1 - side / h)).toFixed(2)}%;height:${(100 * side / h).toFixed(2)}%;left:0;width:100%` }));
  }
  return box;
}

function renderFilmstrip() {
  const r = view.result, per = pageSize(), pages = Math.max(1, Math.ceil(r.snippets.length / per));
  view.page = Math.min(Math.max(0, view.page), pages - 1);
  const shown = r.snippets.slice(view.page * per, (view.page + 1) * per);
  document.getElementById("film-prev").disabled = view.page === 0;
  document.getElementById("film-next").disabled = view.page >= pages - 1;
  document.getElementById("film-range").textContent =
    `snippets ${shown[0].index + 1}–${shown[shown.length - 1].index + 1} of ${r.snippets.length} · ` +
    `${vg.clock(shown[0].start)}–${vg.clock(shown[shown.length - 1].end)}`;
  document.getElementById("filmstrip").replaceChildren(...shown.map((s) => {
    const e = evidenceOf(s);
    return vg.el("button", { type: "button", class: `frame${s.selected ? " selected" : ""}${view.current === s.index ? " active" : ""}`,
      "data-testid": "film-frame", "data-index": String(s.index), "data-selected": String(s.selected), onclick: () => select(s),
      title: `snippet ${s.index}: ${vg.clock(s.start)}–${vg.clock(s.end)}, ${vg.gateText(s)}${s.selected ? " (selected)" : ""}` },
      thumbnail(s),
      vg.el("span", { class: "gate", style: `width:${vg.pct(s.gate_score ?? 0)}` }),
      vg.el("span", { class: "caption" }, vg.clock(s.start),
        s.selected && e ? vg.el("b", { class: e > 0 ? "for" : "against" }, e > 0 ? " +" : " −") : ""));
  }));
  document.getElementById("film-legend").textContent =
    "Every snippet's centre frame, whole" + (view.result.width !== view.result.height
      ? " (dashed: the centre square the light and heavy networks see)" : "") +
    "; selected ones outlined, the bar under each is its gate score. " +
    "Click one to play the seconds around it.";
}

// ---------------------------------------------------------------- one segment: context clip and concepts
function select(s, autoplay = true) {
  view.current = s.index;
  const per = pageSize();
  view.page = Math.floor(s.index / per);
  renderFilmstrip();
  drawChart();
  document.querySelectorAll(".evidence-row").forEach((row) => row.classList.toggle("active", row.dataset.index === String(s.index)));
  play(s, autoplay);
  showConcepts(s);
}

// The context clip keeps the video's own timing (docs/inference.md, "Times"): it starts with the frame on
// screen CONTEXT_SECONDS before the snippet (or the video's first) and ends CONTEXT_SECONDS after it (or
// at the video's end), so in seconds of the result the snippet lies at `offset` (to within one frame).
function play(s, autoplay) {
  const r = view.result;
  const offset = Math.min(s.start, CONTEXT_SECONDS), length = s.end - s.start;
  let clipLength = Math.max(1e-9, offset + length + Math.min(CONTEXT_SECONDS, Math.max(0, r.duration - s.end)));
  const video = document.getElementById("clip");
  video.src = `/v1/jobs/${view.job.id}/snippets/${s.index}/context?seconds=${CONTEXT_SECONDS}`;
  video.dataset.index = String(s.index);
  const marker = document.getElementById("clip-marker");
  const span = marker.querySelector(".span"), head = marker.querySelector(".head");
  const mark = () => {
    span.style.left = vg.pct(Math.min(1, offset / clipLength));
    span.style.width = vg.pct(Math.max(0.01, Math.min(1, length / clipLength)));
  };
  mark();
  video.ontimeupdate = () => { head.style.left = vg.pct(Math.min(1, video.currentTime / clipLength)); };
  video.onloadedmetadata = () => {
    if (Number.isFinite(video.duration) && video.duration > 0) { clipLength = video.duration; mark(); }
    if (!autoplay) video.currentTime = offset;  // the still shows the snippet
  };
  if (autoplay) {
    video.play().catch(() => {});
    const box = video.getBoundingClientRect();  // on a phone the player is below: bring it into view
    if (box.top > window.innerHeight || box.bottom < 0) video.scrollIntoView({ block: "center" });
  }
  const e = evidenceOf(s);
  document.getElementById("clip-caption").textContent =
    `Snippet #${s.index} at ${vg.clock(s.start)}–${vg.clock(s.end)} (orange in the bar above), with up to ${CONTEXT_SECONDS} s ` +
    `either side · ${vg.gateText(s)} · ${s.selected ? "selected" : "not selected"}` +
    (s.selected && hasEvidence(r) ? ` · evidence for “${view.label}”: ${e >= 0 ? "+" : ""}${e.toFixed(2)}` : "");
}

function conceptExamples(kernel) {
  const name = view.result.model.name;
  if (!view.concepts.has(kernel)) {
    view.concepts.set(kernel, vg.api(`/v1/models/${encodeURIComponent(name)}/concepts/${kernel}`).catch(() => null));
  }
  return view.concepts.get(kernel);
}

function showConcepts(s) {
  const list = document.getElementById("concepts");
  if (!s.concepts || !s.concepts.length) {
    list.replaceChildren(vg.el("li", { class: "muted" }, "No concept activations (the light network did not run in this mode)."));
    return;
  }
  list.replaceChildren(...s.concepts.map((k) => {
    const examples = vg.el("div", { class: "examples" });
    const item = vg.el("li", { "data-testid": "concept", "data-kernel": String(k.kernel) },
      vg.el("span", {}, `concept kernel ${k.kernel}: ${k.score.toFixed(2)}`), examples);
    conceptExamples(k.kernel).then((body) => {
      if (view.current !== s.index) return;
      if (!body || !body.examples.length) { examples.append(vg.el("span", { class: "muted" }, "no examples stored")); return; }
      examples.replaceChildren(...body.examples.map((e) => vg.el("img", { src: e.image, "data-testid": "concept-example",
        alt: `example of concept ${k.kernel}`, title: `${e.video || ""} at ${vg.clock(e.time || 0)} (activation ${(e.activation ?? 0).toFixed(2)})` })));
    });
    return item;
  }));
}

// ---------------------------------------------------------------- compute
// Leads with what a user weighs: wall time and frames decoded, against dense (the heavy network on every snippet)
// and a full decode (every frame once). Only the dense wall time is not measured: it is estimated from this job's
// own heavy-pass seconds per snippet, and says so. Internal figures sit in "Every figure".
function renderCompute(r) {
  const c = r.compute, t = r.timings, by = c.gflops_by_stage || {};
  const stat = (name, value, note = "") => vg.el("div", { class: "stat" }, vg.el("span", { class: "muted" }, name),
    vg.el("b", {}, value), note ? vg.el("small", {}, note) : "");
  const sec = (x) => `${(x || 0).toFixed(2)} s`;
  const heavyDense = Math.max(1e-12, c.gflops_dense - (by.head || 0)), heavy = by.heavy || 0;
  const snippetFrames = r.snippets.reduce((n, x) => n + (x.frames[1] - x.frames[0]), 0);
  const perSnippet = c.snippets_selected ? ((t.decode_wait || 0) + (t.heavy || 0)) / c.snippets_selected : null;
  const dense = r.mode !== "dense" && perSnippet != null
    ? (t.probe || 0) + perSnippet * c.snippets_total + (t.head || 0) : null;
  const counted = c.frames_decoded > 0;
  document.getElementById("compute").replaceChildren(
    stat("wall time", sec(t.total), r.mode === "dense" ? "measured; this is the dense run"
      : dense != null ? `measured; dense about ${sec(dense)} (estimated: this job's heavy pass per snippet × ${c.snippets_total})`
      : "measured"),
    stat("frames decoded", counted ? String(c.frames_decoded) : "not counted", counted
      ? `light pass ${c.frames_decoded_light} + heavy pass ${c.frames_decoded - c.frames_decoded_light}; ` +
        `a full decode: ${c.frames_in_video}; dense: at least ${snippetFrames}`
      : "this decoder does not count the frames it decodes"),
    stat("snippets the heavy network saw", `${c.snippets_selected} of ${c.snippets_total}`,
      `${vg.pct(c.selected_fraction)}; dense: all ${c.snippets_total}`),
    stat("heavy-network GFLOPs saved", vg.pct(Math.max(0, 1 - heavy / heavyDense)),
      `${heavy.toFixed(2)} of ${heavyDense.toFixed(2)} GFLOPs dense`));
  document.getElementById("compute-legend").textContent =
    "Measured on this job. Dense runs the heavy network on every snippet; a full decode decodes every frame of the " +
    "video once. Frames decoded counts what both passes handed to the decoder: each seeks from a keyframe, so a frame " +
    "can be decoded twice, and the total can pass the frames in the video. GFLOPs count the networks, not decoding.";
  const known = new Set(["snippets_total", "snippets_selected", "selected_fraction", "gflops", "gflops_dense",
                         "gflops_saved_fraction", "gflops_by_stage", "frames_in_video", "frames_decoded",
                         "frames_decoded_light", "decoded_fraction", "light_pass", "largest_gap_s"]);
  const extra = Object.entries(c).filter(([k, v]) => !known.has(k) && typeof v === "number")
    .map(([k, v]) => stat(k.replaceAll("_", " "), Number.isInteger(v) ? String(v) : v.toFixed(3)));
  document.getElementById("compute-more").replaceChildren(
    stat("network GFLOPs, all stages", `${c.gflops.toFixed(2)} of ${c.gflops_dense.toFixed(2)} dense`,
      `light + gate + heavy + head; ${vg.pct(c.gflops_saved_fraction)} saved`),
    ...Object.entries(by).map(([k, v]) => stat(`${k} GFLOPs`, v.toFixed(3))),
    ...(counted ? [stat("frames decoded ÷ frames in the video", `${c.decoded_fraction.toFixed(2)}×`)] : []),
    stat("light pass ran", c.light_pass),
    ...("largest_gap_s" in c ? [stat("largest gap between snippets", `${c.largest_gap_s.toFixed(1)} s`)] : []),
    ...extra,
    ...Object.entries(t).filter(([, v]) => typeof v === "number").map(([k, v]) => stat(`${k.replaceAll("_", " ")} time`, sec(v))));
}
