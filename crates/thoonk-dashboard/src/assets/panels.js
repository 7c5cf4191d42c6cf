// thoonk dashboard: keeps the overview's panels (workers at work, failures,
// server) current from their live stream. Text only (textContent), never
// HTML, as app.js.
"use strict";

// Loaded after app.js (deferred), whose el, enc and queuePath it uses.
(() => {
  function link(href, text, code) {
    const a = el("a", { href });
    if (code) a.append(el("code", {}, text)); else a.textContent = text;
    return a;
  }
  // As workers.rs and server.rs write them.
  function running(ms) {
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    if (ms < 3600000) return `${Math.floor(ms / 60000)}m ${Math.floor(ms / 1000) % 60}s`;
    return `${Math.floor(ms / 3600000)}h ${Math.floor(ms / 60000) % 60}m`;
  }
  function bytes(n) {
    let value = n;
    for (const unit of ["B", "KiB", "MiB", "GiB"]) {
      if (value < 1024 || unit === "GiB") return unit === "B" ? `${n} B` : `${value.toFixed(1)} ${unit}`;
      value /= 1024;
    }
  }
  function uptime(s) {
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (!d && !h && !m) return `${s % 60}s`;
    if (!d && !h) return `${m}m ${s % 60}s`;
    if (!d) return `${h}h ${m}m`;
    return `${d}d ${h}h`;
  }
  function reasonPath(queue, group) {
    return `${queuePath(queue)}?reason=${enc(group)}`;
  }

  function workers(panel) {
    document.querySelector("#at-work tbody").replaceChildren(...panel.workers.map((w) => {
      const row = el("tr", { "data-worker": w.id });
      const id = el("td");
      id.append(el("code", {}, w.id));
      const a = w.about;
      const queues = el("td");
      for (const q of w.queues) queues.append(link(queuePath(q), q), " ");
      const jobs = el("td", { class: "jobs" });
      for (const j of w.jobs) {
        const job = el("span", { class: "job", "data-id": j.id });
        job.append(link(`${queuePath(j.queue)}/jobs/${enc(j.id)}`, j.id, true), " ",
          el("span", { class: "running", "data-ms": j.running_ms }, running(j.running_ms) + (j.exact ? "" : "+")));
        jobs.append(job, " ");
      }
      row.append(id, el("td", {}, a ? `${a.host} · ${a.pid} · ${a.version}` : ""), queues,
        el("td", { class: "n concurrency" }, a ? a.concurrency : ""),
        el("td", { class: "n holding" }, w.holding), jobs);
      return row;
    }));
  }

  function failures(list) {
    document.querySelector("#failures-recent tbody").replaceChildren(...list.map((q) => {
      const row = el("tr", { "data-queue": q.queue });
      const r = q.recent;
      row.append(el("td", {}, q.queue), el("td", { class: "n" }, r.hour.cancels), el("td", { class: "n" }, r.hour.stalls),
        el("td", { class: "n" }, r.day.cancels), el("td", { class: "n" }, r.day.stalls));
      return row;
    }));
    document.querySelector("#failures tbody").replaceChildren(...list.flatMap((q) => q.groups.map((g) => {
      const row = el("tr", { "data-queue": q.queue });
      const reason = el("td");
      const a = link(reasonPath(q.queue, g.reason), g.reason);
      a.setAttribute("class", "reason");
      a.setAttribute("title", g.example);
      reason.append(a);
      const sample = q.total > q.sampled ? ` (of a sample of ${q.sampled}/${q.total})` : "";
      row.append(el("td", {}, q.queue), reason, el("td", { class: "n" }, g.count + sample));
      return row;
    })));
  }

  function server(panel) {
    document.querySelector("#server tbody").replaceChildren(...panel.servers.map((s) => {
      const row = el("tr");
      row.append(el("td", {}, s.address || "the server"), el("td", { class: "version" }, s.version),
        el("td", { class: "n" }, uptime(s.uptime_secs)), el("td", { class: "n used" }, bytes(s.used_memory)),
        el("td", { class: "n" }, bytes(s.used_memory_peak)), el("td", { class: "n" }, s.connected_clients));
      return row;
    }));
    document.querySelector("#queue-memory tbody").replaceChildren(...panel.memory.map((m) => {
      const row = el("tr", { "data-queue": m.queue });
      const name = el("td");
      name.append(link(queuePath(m.queue), m.queue));
      row.append(name, el("td", { class: "n bytes" }, bytes(m.bytes)), el("td", { class: "n" }, m.keys));
      return row;
    }));
  }

  // A table is rebuilt only when what it shows changed: a link the user
  // is about to click stays where it is.
  const shown = {};
  function show(name, data, draw) {
    const text = JSON.stringify(data);
    if (shown[name] === text) return;
    shown[name] = text;
    draw(data);
  }
  const source = new EventSource(`${base}/api/panels/live`);
  source.addEventListener("panels", (e) => {
    const panels = JSON.parse(e.data);
    const error = document.getElementById("panels-error");
    error.textContent = panels.error || "";
    error.hidden = !panels.error;
    show("workers", panels.workers, workers);
    show("failures", panels.failures, failures);
    show("server", panels.server, server);
  });
})();
