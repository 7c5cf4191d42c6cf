// thoonk dashboard: keeps the page current from the server's live streams
// (server-sent events) and sends the actions. It writes text with
// textContent only, never as HTML: names, ids, payloads and reasons stay
// text whatever they hold.
"use strict";

const page = document.body.dataset.page;
// Where the dashboard is mounted ("" at the root of a server, "/admin/queues"
// nested in an app): every URL the script builds starts with it.
const base = document.body.dataset.base || "";
const live = document.getElementById("live");

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = String(text);
  return node;
}

const enc = encodeURIComponent;
const queuePath = (q) => `${base}/queues/${enc(q)}`;
const jobPath = (q, id) => queuePath(q) + "/jobs/" + enc(id);

// Follows a live stream; `opened` runs each time it (re)connects, when
// changes may have been missed.
function follow(url, handlers, opened) {
  const source = new EventSource(url);
  source.onopen = () => {
    if (live) live.classList.add("on");
    if (opened) opened();
  };
  source.onerror = () => live && live.classList.remove("on");
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (e) => handle(JSON.parse(e.data)));
  }
  return source;
}

// A small line chart of two series (publishes and finishes per minute over
// the last hour, from the tally in Redis), in SVG.
function chart(publish, finish) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const w = 160, h = 28;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "chart");
  const max = Math.max(1, ...publish, ...finish);
  const n = Math.max(publish.length, finish.length, 2);
  for (const [series, cls] of [[publish, "publish"], [finish, "finish"]]) {
    const line = document.createElementNS(ns, "polyline");
    const points = series.map((v, i) =>
      `${((i / (n - 1)) * w).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`);
    line.setAttribute("points", points.join(" "));
    line.setAttribute("class", cls);
    svg.append(line);
  }
  const total = (s) => s.reduce((a, b) => a + b, 0);
  const label = document.createElementNS(ns, "title");
  label.textContent = `last hour: ${total(publish)} published, ${total(finish)} finished`;
  svg.append(label);
  return svg;
}

function drawRates(cell) {
  const nums = (s) => (s ? s.split(" ").map(Number) : []);
  cell.replaceChildren(chart(nums(cell.dataset.publish), nums(cell.dataset.finish)));
}

function flash(text, ok) {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = text;
  box.className = ok ? "ok" : "error";
}

// fetch() refuses a URL with a user and password in it, and a page opened
// as http://user:password@host/... (an app's basic auth in a bookmark)
// resolves every path it names to such a URL: ask by origin and path
// instead (the browser still answers the app's challenge with what it was
// given).
const ask = (path, options = {}) =>
  fetch(location.origin + path, { credentials: "same-origin", ...options });

async function post(url) {
  const response = await ask(url, { method: "POST" });
  let body = {};
  try { body = await response.json(); } catch (_) { /* no body */ }
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// Unix ms as the server writes them: 2026-11-30 07:31:02.123 UTC.
const time = (ms) => (ms == null ? "—" : new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC"));

// A duration in its largest whole unit, as the server writes it: 2h, 5m,
// 30s, 1500ms.
function span(ms) {
  for (const [unit, size] of [["h", 3600000], ["m", 60000], ["s", 1000]]) {
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

// A wait as people read it, as pages.rs's `waited` writes it.
function waited(ms) {
  const s = Math.floor(ms / 1000);
  if (ms === 0) return "-";
  if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3600000) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor(s / 60) % 60}m`;
}

// A queue's settings as the server writes them (see settings.rs): unset
// limits read "none", default values (the page says which) are marked.
// A listed job's payload, cut to 160 characters; one too large for a
// listing to read says its size instead (pages.rs's `listed_preview`).
function preview(job) {
  if (job.item === "" && job.item_bytes > 0) return `(${job.item_bytes} bytes: open the job to see it)`;
  return job.item.length > 160 ? job.item.slice(0, 160) + "…" : job.item;
}

function showSettings(s) {
  const per = { 1000: "s", 60000: "m", 3600000: "h" };
  const defaults = document.getElementById("settings").dataset;
  const none = (v, f) => (v == null ? "none" : f(v));
  const text = {
    paused: s.paused ? "yes" : "no",
    rate: none(s.rate, (r) => `${r.jobs}/${per[r.per_ms] || r.per_ms + "ms"}`),
    max_running: none(s.max_running, String),
    timeout: none(s.timeout_ms, span),
    lease: span(s.lease_ms) + (s.lease_ms === Number(defaults.leaseMs) ? " (default)" : ""),
    max_cancels: String(s.max_cancels) + (s.max_cancels === Number(defaults.maxCancels) ? " (default)" : ""),
    keep_finished: none(s.keep_finished, String),
    keep_finished_for: none(s.keep_finished_for_ms, span),
  };
  for (const [key, value] of Object.entries(text)) {
    const cell = document.getElementById("setting-" + key);
    if (cell) cell.textContent = value;
  }
  document.getElementById("paused-mark").hidden = !s.paused;
  document.getElementById("pause").hidden = s.paused;
  document.getElementById("resume").hidden = !s.paused;
}

// ---- overview ----
if (page === "overview") {
  document.querySelectorAll("td.rates").forEach(drawRates);
  follow(`${base}/api/live`, {
    overview(o) {
      const body = document.querySelector("#queues tbody");
      body.replaceChildren(...o.queues.map((q) => {
        const row = el("tr", { "data-queue": q.name });
        const name = el("td", { class: "name" });
        name.append(el("a", { href: queuePath(q.name) }, q.name));
        if (q.settings.paused) {
          name.append(" ", el("span", { class: "paused", title: "paused: no job is handed out" }, "paused"));
        }
        row.append(name, el("td", { class: "n available" }, q.available),
          el("td", { class: "n latency" }, waited(q.latency_ms)));
        for (const k of ["claimed", "delayed", "stalled"]) {
          row.append(el("td", { class: "n " + k }, q[k]));
        }
        const rates = el("td", { class: "rates" });
        rates.append(chart(q.publishes_per_minute, q.finishes_per_minute));
        row.append(rates, el("td", { class: "n workers" }, q.workers.length));
        return row;
      }));
      const none = document.getElementById("no-queues");
      if (none) none.hidden = o.queues.length > 0;
      const workers = document.getElementById("workers");
      workers.replaceChildren(...o.queues.flatMap((q) => q.workers.map((w) => {
        const item = el("li");
        item.append(el("code", {}, w.id), " on ", el("a", { href: queuePath(q.name) }, q.name),
          `, holding ${w.claimed}`);
        return item;
      })));
    },
  });
}

// ---- a queue's jobs ----
if (page === "queue") {
  const table = document.getElementById("jobs");
  const { queue, state, offset, limit, reason } = table.dataset;
  let pending = null;
  async function reload() {
    pending = null;
    const url = `${base}/api/queues/${enc(queue)}/jobs?` + (reason !== undefined
      ? `reason=${enc(reason)}&limit=${limit}` : `state=${state}&offset=${offset}&limit=${limit}`);
    const response = await ask(url);
    if (!response.ok) return;
    const jobs = await response.json();
    table.tBodies[0].replaceChildren(...jobs.map((job) => {
      if (state === "finished") return finishedRow(job);
      const row = el("tr", { "data-id": job.id });
      const id = el("td");
      const link = el("a", { href: jobPath(queue, job.id) });
      link.append(el("code", {}, job.id));
      id.append(link);
      const item = preview(job);
      const actions = el("td", { class: "actions" });
      for (const action of job.actions) {
        actions.append(el("button", { type: "button", "data-action": action, "data-id": job.id }, action));
      }
      const reason = el("td", { class: "reason" }, job.reason || "");
      if (job.progress != null) {
        const progress = el("span", { class: "progress" }, "progress ");
        progress.append(el("code", {}, JSON.stringify(job.progress)));
        reason.append(progress);
      }
      row.append(id, el("td", { class: "item" }, item), el("td", { class: "n" }, job.cancelled),
        reason, actions);
      return row;
    }));
    document.getElementById("no-jobs").hidden = jobs.length > 0;
  }
  // A finished job the queue keeps (see history.rs): its result as text,
  // cut as the server cuts it.
  function finishedRow(job) {
    const row = el("tr", { "data-id": job.id });
    const id = el("td");
    const link = el("a", { href: jobPath(queue, job.id) });
    link.append(el("code", {}, job.id));
    id.append(link);
    const text = job.result == null ? "—" : typeof job.result === "string" ? job.result : "(bytes)";
    const result = text.length > 160 || job.result_cut ? text.slice(0, 160) + "…" : text;
    row.append(id, el("td", {}, time(job.finished_ms)), el("td", { class: "n" }, `${job.duration_ms} ms`),
      el("td", {}, job.worker || "—"), el("td", { class: "n" }, job.cancelled),
      el("td", { class: "item" }, result));
    return row;
  }
  const soon = () => { if (!pending) pending = setTimeout(reload, 100); };
  follow(`${base}/api/live/${enc(queue)}`, {
    stats(q) {
      if (!q) return;
      for (const k of ["available", "claimed", "delayed", "stalled"]) {
        document.getElementById("count-" + k).textContent = String(q[k]);
      }
      showSettings(q.settings);
    },
    job: soon,
    resync: soon,
  }, soon);
  table.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    const { action, id } = button.dataset;
    if (action === "retract" && !confirm(`Delete job ${id}?`)) return;
    try {
      const done = await post(`${base}/api/queues/${enc(queue)}/jobs/${enc(id)}/${action}`);
      flash(`${id}: ${done.message}`, true);
    } catch (err) {
      flash(`${id}: ${err.message}`, false);
    }
    soon();
  });
  for (const action of ["pause", "resume"]) {
    document.getElementById(action).addEventListener("click", async () => {
      try {
        const done = await post(`${base}/api/queues/${enc(queue)}/${action}`);
        showSettings(done.settings);
        flash(done.message, true);
      } catch (err) {
        flash(err.message, false);
      }
    });
  }
  const all = document.getElementById("retry-all");
  if (all) all.addEventListener("click", async () => {
    if (!confirm(`Retry every stalled job of ${queue}?`)) return;
    try {
      const done = await post(`${base}/api/queues/${enc(queue)}/retry-all`);
      flash(done.message, true);
    } catch (err) {
      flash(err.message, false);
    }
    soon();
  });
}

// ---- one job ----
if (page === "job") {
  const detail = document.getElementById("detail");
  if (detail) {
    const { queue, id } = detail.dataset;
    const show = (key, text) => { document.getElementById(key).textContent = text; };
    async function reload() {
      const response = await ask(`${base}/api/queues/${enc(queue)}/jobs/${enc(id)}`);
      if (response.status === 404) {
        show("state", "gone (finished or retracted)");
        document.getElementById("job-actions").replaceChildren();
        return;
      }
      if (!response.ok) return;
      const d = await response.json();
      show("state", d.state);
      // Finished, and kept: only the kept record is left (the page shows it).
      if (d.state === "finished") {
        document.getElementById("job-actions").replaceChildren();
        return;
      }
      show("cancelled", `${d.cancelled} times`);
      show("reason", d.reason || "—");
      show("claimed", time(d.claimed_ms));
      show("lease", time(d.lease_deadline_ms));
      show("worker", d.worker || "—");
      show("due", time(d.due_ms));
      show("progress", d.progress == null ? "—" : JSON.stringify(d.progress));
      const actions = document.getElementById("job-actions");
      actions.replaceChildren(...d.actions.map((a) =>
        el("button", { type: "button", "data-action": a, "data-id": id }, a)));
    }
    follow(`${base}/api/live/${enc(queue)}`, {
      job(change) { if (change.id === id) reload(); },
      resync: reload,
    }, reload);
    document.getElementById("job-actions").addEventListener("click", async (e) => {
      const button = e.target.closest("button[data-action]");
      if (!button) return;
      const action = button.dataset.action;
      if (action === "retract" && !confirm(`Delete job ${id}?`)) return;
      try {
        const done = await post(`${base}/api/queues/${enc(queue)}/jobs/${enc(id)}/${action}`);
        flash(done.message, true);
      } catch (err) {
        flash(err.message, false);
      }
      reload();
    });
  }
}
