// vidgate viewer: plain JavaScript over the JSON API (/v1). No build step, no external assets.
// This file: shared helpers and the index page; job.js: the job page.
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
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
    const s = (seconds % 60).toFixed(1).padStart(4, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  },
  svg(tag, attrs = {}) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  },
  pct(x) { return `${(100 * x).toFixed(0)}%`; },
  finished(status) { return ["succeeded", "failed", "cancelled"].includes(status); },
  gateText(s) { return s.gate_score == null ? "no gate ran" : `gate score ${s.gate_score.toFixed(2)}`; },

  // The plain notice a model with synthetic classes gets on every page: what its labels mean, how to train your own.
  notice() {
    return vg.el("div", { class: "notice", role: "note", "data-testid": "synthetic-notice" },
      vg.el("b", {}, "These labels come from a synthetic benchmark. "),
      "The model was trained on generated videos of moving shapes: its classes (activity_00, activity_01, …) are " +
      "combinations of those shapes' motions, and on real footage they mean nothing. To recognise your own " +
      "activities, train a model on your footage: ", vg.el("code", {}, "vidgate train DATA --out model.safetensors"),
      " (see docs/training.md), then serve it with ", vg.el("code", {}, "VIDGATE_CHECKPOINT=model.safetensors"), ".");
  },

  // A model card (GET /v1/models) as a few lines a person reads: classes, data, figures, use, limits.
  modelCard(model) {
    const card = model.card, d = card.data, fig = (x) => (x == null ? "?" : vg.pct(x));
    const splits = Object.entries(d.splits || {}).map(([k, v]) => `${v} ${k}`).join(", ");
    const rows = [
      ["Classes", `${card.classes.length}${card.multi_label ? " (several per video)" : ""}: ${card.classes.join(", ")}`],
      ["Trained on", `${d.synthetic ? "synthetic videos" : d.synthetic === false ? "user data" : "not recorded"}` +
        `${d.made_by && d.made_by !== "unknown" ? ` (${d.made_by})` : ""}${splits ? `; ${splits} videos` : ""}`],
    ];
    const v = card.validation;
    if (v) rows.push(["Validation", `${v.videos ?? "?"} videos: accuracy ${fig(v.threshold_accuracy)} at the learned threshold ` +
      `on ${fig(v.threshold_selected)} of snippets, ${fig(v.dense_accuracy)} dense`]);
    const t = card.test && card.test.settings;
    if (t) rows.push(["Test", `${card.test.videos} videos: accuracy ${fig((t["gated threshold"] || {}).accuracy)} at the learned threshold ` +
      `on ${fig((t["gated threshold"] || {}).selected_fraction)} of snippets, ${fig((t.dense || {}).accuracy)} dense, ` +
      `${fig((t["uniform 25%"] || {}).accuracy)} with 25% of snippets evenly spaced`]);
    else rows.push(["Test", "not evaluated yet (vidgate evaluate MODEL DATA --card)"]);
    if (card.calibration && card.calibration.rule) rows.push(["Threshold", `${Number(card.calibration.threshold).toFixed(3)}: ${card.calibration.rule}`]);
    if (card.intended_use) rows.push(["Intended use", card.intended_use]);
    return vg.el("div", { class: "card", "data-testid": "model-card" },
      vg.el("p", {}, vg.el("b", {}, model.name), ` ${model.version} · light ${model.light} · heavy ${model.heavy} · head ${model.head}`),
      vg.el("dl", {}, ...rows.flatMap(([k, x]) => [vg.el("dt", {}, k), vg.el("dd", {}, x)])),
      card.limits.length ? vg.el("div", {}, vg.el("b", {}, "Limits"), vg.el("ul", {}, ...card.limits.map((l) => vg.el("li", {}, l)))) : "",
      card.unknown.length ? vg.el("p", { class: "muted" }, `Not recorded in this checkpoint: ${card.unknown.join(", ")}.`) : "");
  },
  async model() {
    if (!vg._model) vg._model = vg.api("/v1/models").then((body) => body.models[0]).catch(() => null);
    return vg._model;
  },
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
  showModel();
  showExamples(form);
  await refreshJobs();
  setInterval(refreshJobs, 1500);
}

async function showModel() {
  const model = await vg.model();
  if (!model) return;
  document.getElementById("model-section").hidden = false;
  if (model.card.data.synthetic) document.getElementById("notice-slot").replaceChildren(vg.notice());
  document.getElementById("model-card").replaceChildren(vg.modelCard(model));
}

// One button per example video; a job of one runs with the form's options, like an upload, but sends no file.
async function showExamples(form) {
  let list;
  try { list = (await vg.api("/v1/examples")).examples; } catch (_) { return; }
  if (!list.length) return;
  const message = document.getElementById("example-message");
  document.getElementById("examples-section").hidden = false;
  document.getElementById("examples").replaceChildren(...list.map((e) => vg.el("button", {
    type: "button", class: "secondary", "data-testid": "example-button", "data-name": e.name,
    title: `true events: ${e.events.map((t) => `${t.label} at ${vg.clock(t.start)}`).join(", ")}`,
    onclick: async (event) => {
      const button = event.currentTarget, query = new URLSearchParams();
      for (const name of ["budget", "top_k"]) {
        const value = new FormData(form).get(name);
        if (value) query.set(name, value);
      }
      button.disabled = true;
      message.textContent = "Starting…";
      try {
        const job = await vg.api(`/v1/examples/${encodeURIComponent(e.name)}?${query}`, { method: "POST" });
        location.href = job.links.page;
      } catch (error) {
        message.textContent = `Refused: ${error.message} (${error.code})`;
        message.className = "error";
        button.disabled = false;
      }
    } }, vg.el("b", {}, e.label), ` · ${vg.clock(e.duration)} · ${e.events.length} true events`)));
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
    // An unfinished job is cancelled (it stays in the list, cancelled); a finished one is deleted with its files.
    const finished = vg.finished(job.status);
    const action = vg.el("button", {
      class: "secondary", "data-testid": finished ? "job-delete" : "job-cancel",
      onclick: async () => {
        const request = finished ? vg.api(`/v1/jobs/${job.id}`, { method: "DELETE" })
          : vg.api(`/v1/jobs/${job.id}/cancel`, { method: "POST" });
        await request.catch(() => {});
        refreshJobs();
      },
    }, finished ? "Delete" : "Cancel");
    return vg.el("tr", { "data-testid": "job-row", "data-status": job.status },
      vg.el("td", {}, vg.el("a", { href: job.links.page }, (job.input && job.input.filename) || job.id)),
      vg.el("td", {}, vg.el("span", { class: `status ${job.status}` }, job.status), " ", progress),
      vg.el("td", { class: "muted col-budget" }, job.options && job.options.budget != null ? vg.pct(job.options.budget) : "learned"),
      vg.el("td", { class: "muted col-created" }, (job.created_at || "").replace("T", " ").slice(0, 19)),
      vg.el("td", { class: "col-action" }, action));
  }));
  if (!list.jobs.length) body.replaceChildren(vg.el("tr", {}, vg.el("td", { colspan: "5", class: "muted" }, "No jobs yet.")));
}

