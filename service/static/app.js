// vidgate viewer: plain JavaScript over the JSON API (/v1). No build step, no external assets.
"use strict";

const vg = {
  key() { return localStorage.getItem("vidgate-key") || ""; },
  headers() { const k = vg.key(); return k ? { "X-API-Key": k } : {}; },
  async api(path, options = {}) {
    const response = await fetch(path, { ...options, headers: { ...vg.headers(), ...(options.headers || {}) } });
    if (!response.ok) {
      let error = { code: String(response.status), message: response.statusText };
      try { error = (await response.json()).error || error; } catch (_) { /* not JSON */ }
      throw Object.assign(new Error(error.message), { code: error.code, status: response.status });
    }
    return response.status === 204 ? null : response.json();
  },
  el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  },
  clock(seconds) {
    const m = Math.floor(seconds / 60), s = (seconds % 60).toFixed(1).padStart(4, "0");
    return `${m}:${s}`;
  },
  pct(x) { return `${(100 * x).toFixed(0)}%`; },
  finished(status) { return ["succeeded", "failed", "cancelled"].includes(status); },
  // Gate score 0 → pale grey-blue, 1 → deep blue.
  gateColour(p) {
    const t = Math.max(0, Math.min(1, p));
    const mix = (a, b) => Math.round(a + (b - a) * t);
    return `rgb(${mix(228, 25)}, ${mix(233, 80)}, ${mix(242, 200)})`;
  },
  gateText(s) { return s.gate_score == null ? "no gate" : `gate score ${s.gate_score.toFixed(2)}`; },
  withKey(url) { return url; },
};

// ---------------------------------------------------------------- index page
async function initIndex() {
  const keyInput = document.getElementById("api-key");
  keyInput.value = vg.key();
  keyInput.addEventListener("change", () => { localStorage.setItem("vidgate-key", keyInput.value.trim()); refreshJobs(); });
  const form = document.getElementById("upload-form");
  const message = document.getElementById("upload-message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    if (!data.get("file") || !data.get("file").size) { message.textContent = "Choose a video first."; return; }
    message.textContent = "Uploading…";
    form.querySelector("button").disabled = true;
    try {
      const job = await vg.api("/v1/jobs", { method: "POST", body: data });
      message.textContent = "";
      location.href = job.links.page;
    } catch (error) {
      message.textContent = `Upload refused: ${error.message} (${error.code})`;
      message.className = "error";
    } finally {
      form.querySelector("button").disabled = false;
    }
  });
  await refreshJobs();
  setInterval(refreshJobs, 1500);
}

async function refreshJobs() {
  const body = document.getElementById("jobs-body");
  const note = document.getElementById("jobs-note");
  let list;
  try { list = await vg.api("/v1/jobs?limit=50"); note.textContent = ""; }
  catch (error) { note.textContent = `Cannot list jobs: ${error.message}`; return; }
  body.replaceChildren(...list.jobs.map((job) => {
    const progress = job.status === "running" && job.progress
      ? vg.el("span", {}, vg.el("span", { class: "progress" }, vg.el("div", { style: `width:${vg.pct(job.progress.fraction || 0)}` })),
              ` ${job.progress.stage}`)
      : "";
    const action = vg.el("button", {
      class: "secondary", "data-testid": "job-delete",
      onclick: async () => { await vg.api(`/v1/jobs/${job.id}`, { method: "DELETE" }).catch(() => {}); refreshJobs(); },
    }, vg.finished(job.status) ? "Delete" : "Cancel");
    return vg.el("tr", { "data-testid": "job-row", "data-status": job.status },
      vg.el("td", {}, vg.el("a", { href: job.links.page }, (job.input && job.input.filename) || job.id)),
      vg.el("td", {}, vg.el("span", { class: `status ${job.status}` }, job.status), " ", progress),
      vg.el("td", { class: "muted" }, job.options && job.options.budget != null ? vg.pct(job.options.budget) : "learned"),
      vg.el("td", { class: "muted" }, (job.created_at || "").replace("T", " ").slice(0, 19)),
      vg.el("td", {}, action));
  }));
  if (!list.jobs.length) body.replaceChildren(vg.el("tr", {}, vg.el("td", { colspan: "5", class: "muted" }, "No jobs yet.")));
}

// ---------------------------------------------------------------- job page
async function initJob() {
  const id = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  let shownResult = false;
  async function tick() {
    let job;
    try { job = await vg.api(`/v1/jobs/${encodeURIComponent(id)}`); }
    catch (error) { document.getElementById("job-status").textContent = `${error.message} (${error.code})`; return true; }
    renderStatus(job);
    if (job.result && !shownResult) { renderResult(job); shownResult = true; }
    return vg.finished(job.status);
  }
  const timer = setInterval(async () => { if (await tick()) clearInterval(timer); }, 1000);
  if (await tick()) clearInterval(timer);
}

function renderStatus(job) {
  const name = (job.input && job.input.filename) || job.id;
  document.getElementById("job-title").textContent = name;
  const status = document.getElementById("job-status");
  status.replaceChildren(vg.el("span", { class: `status ${job.status}`, "data-testid": "job-status" }, job.status));
  if (job.status === "running" && job.progress) {
    status.append(" ", vg.el("span", { class: "progress" }, vg.el("div", { style: `width:${vg.pct(job.progress.fraction || 0)}` })),
                  ` ${job.progress.stage} ${vg.pct(job.progress.fraction || 0)}`);
  }
  if (job.error) status.append(vg.el("div", { class: "error", "data-testid": "job-error" }, `${job.error.code}: ${job.error.message}`));
}

function renderResult(job) {
  const r = job.result;
  document.getElementById("result").hidden = false;
  // Labels with scores.
  document.getElementById("labels").replaceChildren(...r.labels.map((l) => vg.el("div", { class: "label-row", "data-testid": "label" },
    vg.el("b", {}, l.label), vg.el("div", { class: "bar" }, vg.el("div", { style: `width:${vg.pct(l.score)}` })),
    vg.el("span", {}, vg.pct(l.score)))));
  // Timeline: one cell per snippet, coloured by gate score; selected snippets outlined.
  const timeline = document.getElementById("timeline");
  timeline.replaceChildren(...r.snippets.map((s) => vg.el("div", {
    class: `cell${s.selected ? " selected" : ""}`, "data-testid": "snippet-cell", "data-index": String(s.index),
    "data-selected": String(s.selected), style: `background:${vg.gateColour(s.gate_score ?? 0)}`,
    title: `snippet ${s.index}: ${vg.clock(s.start)}–${vg.clock(s.end)}, ${vg.gateText(s)}${s.selected ? " (selected)" : ""}`,
    onclick: s.selected ? () => play(job.id, s) : null,
  })));
  document.getElementById("axis").replaceChildren(vg.el("span", {}, "0:00.0"), vg.el("span", {}, vg.clock(r.duration)));
  // Thumbnails of the selected snippets.
  const selected = r.snippets.filter((s) => s.selected);
  document.getElementById("thumbs").replaceChildren(...selected.map((s) => vg.el("button", {
    class: "thumb", "data-testid": "thumb", "data-index": String(s.index), onclick: () => play(job.id, s) },
    vg.el("img", { src: `/v1/jobs/${job.id}/snippets/${s.index}/thumbnail`, alt: `snippet ${s.index}`, loading: "lazy" }),
    vg.el("div", {}, `#${s.index} · ${vg.clock(s.start)}–${vg.clock(s.end)} · ${vg.gateText(s)}`))));
  // Compute used vs dense and stage timings.
  const c = r.compute, t = r.timings;
  document.getElementById("compute").replaceChildren(
    stat("snippets selected", `${c.snippets_selected} of ${c.snippets_total}`),
    stat("GFLOPs used", `${c.gflops.toFixed(2)}`), stat("GFLOPs dense", `${c.gflops_dense.toFixed(2)}`),
    stat("compute saved", vg.pct(c.gflops_saved_fraction)),
    ...("frames_decoded" in c ? [stat("frames decoded", `${c.frames_decoded} of ${c.frames_in_video} (${vg.pct(c.decoded_fraction)})`),
      stat("light pass", c.light_pass)] : []),
    ...["decode", "light", "gate", "heavy", "total"].filter((k) => k in t).map((k) => stat(`${k} time`, `${t[k].toFixed(2)} s`)));
  document.getElementById("model").textContent =
    `${r.model.name} ${r.model.version || ""} · light ${r.model.light} · heavy ${r.model.heavy} · ${r.width}×${r.height}, ${r.fps} fps, ${vg.clock(r.duration)}`;
  if (selected.length) play(job.id, selected[0], false);
}

function stat(name, value) { return vg.el("div", { class: "stat" }, vg.el("span", { class: "muted" }, name), vg.el("b", {}, value)); }

function play(jobId, snippet, autoplay = true) {
  const video = document.getElementById("clip");
  video.src = `/v1/jobs/${jobId}/snippets/${snippet.index}/clip`;
  video.dataset.index = String(snippet.index);
  if (autoplay) video.play().catch(() => {});
  document.querySelectorAll(".thumb").forEach((t) => t.classList.toggle("active", t.dataset.index === String(snippet.index)));
  document.getElementById("clip-caption").textContent =
    `Selected segment #${snippet.index}: ${vg.clock(snippet.start)}–${vg.clock(snippet.end)} (frames ${snippet.frames[0]}–${snippet.frames[1] - 1}), ${vg.gateText(snippet)}`;
  document.getElementById("concepts").replaceChildren(...(snippet.concepts || []).map((k) =>
    vg.el("li", { "data-testid": "concept" }, `concept kernel ${k.kernel}: ${k.score.toFixed(2)}`)));
}
