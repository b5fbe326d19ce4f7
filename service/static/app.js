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
      vg.el("td", { class: "muted col-budget" }, job.options && job.options.budget != null ? vg.pct(job.options.budget) : "learned"),
      vg.el("td", { class: "muted col-created" }, (job.created_at || "").replace("T", " ").slice(0, 19)),
      vg.el("td", { class: "col-action" }, action));
  }));
  if (!list.jobs.length) body.replaceChildren(vg.el("tr", {}, vg.el("td", { colspan: "5", class: "muted" }, "No jobs yet.")));
}

