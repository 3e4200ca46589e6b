// The queue monitor: service health, workers and their current trials, queues, throughput, failures; live.
"use strict";

(() => {
  const { h, fmt } = SR;
  let fetchedAt = 0, lastQueue = null, healthAt = 0, lastHealth = null;

  function stat(value, label) {
    return h("div", { class: "stat" }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
  }

  function currentTrial(t) {
    const fraction = t.epochs ? t.epoch / t.epochs : 0;
    return h("div", { class: "trial-progress" },
      h("a", { href: `/sweeps/${t.sweep_id}` }, `${t.sweep_id} #${t.trial_id}`),
      SR.progress(fraction),
      h("span", { class: "muted" }, `epoch ${t.epoch}/${t.epochs ?? "?"} · ETA ${fmt.duration(t.eta_s)}`));
  }

  function device(w) {
    if (w.device && w.device.startsWith("cuda")) {
      const memory = w.gpu_memory_total_mib ? ` · ${(w.gpu_memory_used_mib / 1024).toFixed(1)} / ${(w.gpu_memory_total_mib / 1024).toFixed(0)} GiB in use` : "";
      return `GPU ${w.gpu || ""} ${w.gpu_name || "(" + w.device + ")"}${memory}`;
    }
    return "CPU";
  }

  function renderWorkers(queue) {
    const box = document.getElementById("workers");
    document.getElementById("no-workers").hidden = queue.workers.length > 0;
    if (!queue.workers.length) {
      box.replaceChildren(h("p", { class: "muted" }, "No worker is connected."));
      return;
    }
    const elapsed = (Date.now() - fetchedAt) / 1000;
    const rows = queue.workers.map((w) => h("tr", { "data-worker": w.name },
      h("td", {}, h("b", {}, w.name), h("div", { class: "muted small" }, `${w.host} · pid ${w.pid}`)),
      h("td", {}, device(w), h("div", { class: "muted small" }, `${w.slots} slot(s) · ${(w.queues || []).join(", ")}`)),
      h("td", {}, w.current.length ? h("div", { class: "worker-current" }, w.current.map(currentTrial))
        : h("span", { class: "muted" }, "idle")),
      h("td", { class: "num heartbeat", "data-age": w.age_s }, fmt.ago(w.age_s + elapsed)),
      h("td", { class: "num" }, String(w.done_last_hour))));
    box.replaceChildren(h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "worker"), h("th", {}, "device"), h("th", {}, "current trials"),
        h("th", { class: "num" }, "last heartbeat"), h("th", { class: "num" }, "trials done (1 h)"))),
      h("tbody", {}, rows))));
  }

  function renderOwners(queue) {
    const owners = Object.entries(queue.pending_by_owner).sort((a, b) => b[1] - a[1]);
    document.getElementById("owners").replaceChildren(owners.length
      ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "owner"), h("th", { class: "num" }, "trials waiting"))),
          h("tbody", {}, owners.map(([owner, n]) => h("tr", {}, h("td", {}, owner), h("td", { class: "num" }, String(n))))))
      : h("p", { class: "muted" }, "Nothing waiting."));
  }

  function renderFailures(queue) {
    const items = queue.recent_failures.slice(0, 10);
    document.getElementById("failures").replaceChildren(items.length
      ? h("table", { class: "stack-narrow", id: "failures-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "when"), h("th", {}, "trial"), h("th", {}, "status"), h("th", {}, "reason"))),
          h("tbody", {}, items.map((f) => h("tr", {}, h("td", { "data-label": "when" }, fmt.time(f.time)),
            h("td", { "data-label": "trial" }, h("a", { href: `/sweeps/${f.sweep_id}` }, `${f.sweep_id} #${f.trial_id}`)),
            h("td", { "data-label": "status" }, h("span", { class: "status", "data-status": f.status }, f.status)),
            h("td", { class: "small", "data-label": "reason" }, h("span", { class: "failure-reason" }, f.error || "–"))))))
      : h("p", { class: "muted" }, "No failed trials recently."));
  }

  function render(queue) {
    const queued = Object.values(queue.queues).reduce((a, b) => a + b, 0);
    const waiting = Object.values(queue.pending_by_owner).reduce((a, b) => a + b, 0);
    const slots = queue.workers.reduce((a, w) => a + (w.slots || 0), 0);
    document.getElementById("stats").replaceChildren(
      stat(String(queue.workers.length), `workers (${slots} slots)`),
      stat(String(queue.running.length), "trials running"),
      h("div", { class: "stat", id: "throughput" }, h("div", { class: "value" }, String(queue.throughput_per_hour)),
        h("div", { class: "label" }, "trials / hour (last hour)")),
      stat(String(waiting), "trials waiting in sweeps"),
      stat(Object.entries(queue.queues).map(([q, n]) => `${n}`).join(" / "),
        `in Celery queues (${Object.keys(queue.queues).join(" / ")})`));
    document.getElementById("pool-line").textContent =
      `${queue.workers.length} worker(s), ${queue.running.length} trial(s) running, ${queued} in queues; updated ${fmt.time(queue.time)}`;
    renderWorkers(queue);
    renderOwners(queue);
    renderFailures(queue);
  }

  function okBadge(ok) {
    return h("span", { class: "health", "data-ok": String(ok) }, ok ? "ok" : "DOWN");
  }

  // Pool children that stopped beating mid-trial (their trainer kills and replaces them).
  function hungDetail(hung) {
    const silent = Object.entries(hung || {}).map(([pid, s]) => `${pid} silent ${Math.round(s)} s`);
    return silent.length ? ` · hung child(ren): ${silent.join(", ")}` : "";
  }

  // One row per service: [name, ok, pid, host, beat age (s, or null), detail].
  function serviceRows(health) {
    const { redis, analyst, web, trainers } = health.services;
    const analystDetail = analyst.last_beat_s === null && !analyst.pid ? "never seen"
      : `lag ${analyst.lag ?? "?"} result(s) · ${analyst.processed ?? 0} processed · down after ${analyst.ttl_s} s without a beat`;
    return [
      ["redis", redis.ok, redis.pid, redis.host, null,
        redis.ok ? `Redis ${redis.version} · up ${fmt.duration(redis.uptime_s)} · AOF ${redis.aof ? "on" : "off"}` : redis.error],
      ["analyst", analyst.ok, analyst.pid, analyst.host, analyst.last_beat_s, analystDetail],
      ["web", web.ok, web.pid, web.host, null, "this page's server"],
      ...trainers.map((t) => [`trainer ${t.name}`, t.ok, t.pid, t.host, t.last_beat_s,
        `${t.device} · ${t.busy}/${t.slots} slot(s) busy` + hungDetail(t.hung)]),
    ];
  }

  function renderHealth(health) {
    const verdict = document.getElementById("health-verdict");
    verdict.dataset.ok = String(health.ok);
    verdict.textContent = health.ok ? "all ok" : "not ok";
    const elapsed = (Date.now() - healthAt) / 1000;
    const rows = serviceRows(health).map(([name, ok, pid, host, age, detail]) => h("tr", { "data-service": name.split(" ")[0],
      "data-ok": String(ok) },
      h("td", {}, h("b", {}, name)), h("td", {}, okBadge(ok)), h("td", { class: "num" }, pid ?? "–"), h("td", {}, host || "–"),
      h("td", { class: "num" }, age === null || age === undefined ? "–" : fmt.ago(age + elapsed)),
      h("td", { class: "small" }, detail || "")));
    if (!health.services.trainers.length) {
      rows.push(h("tr", { "data-service": "trainer", "data-ok": "false" }, h("td", {}, h("b", {}, "trainers")),
        h("td", {}, okBadge(false)), h("td", { colspan: 4, class: "muted" }, "no trainer is beating")));
    }
    document.getElementById("services").replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "services-table" },
      h("thead", {}, h("tr", {}, ["service", "state", "pid", "host", "last beat", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows))));
  }

  // Asked by the timer and by every refresh: a late answer must not put back an older health.
  const healths = SR.inOrder();

  async function refreshHealth() {
    const asked = healths.ask();
    try {
      // Not SR.get: a pool that is not ok answers 503 with the same report, which is what we show.
      const response = await fetch("/api/health", { credentials: "same-origin", headers: { Accept: "application/json" } });
      const health = await response.json();
      if (!healths.isLatest(asked)) return;
      if (health.ok !== undefined && !health.services) {
        // Anonymous: the pool says only ok or not ok; its details need a member.
        const verdict = document.getElementById("health-verdict");
        verdict.dataset.ok = String(health.ok);
        verdict.textContent = health.ok ? "all ok" : "not ok";
        document.getElementById("services").replaceChildren(
          h("p", { id: "services-anonymous" }, "Log in to see each service (pids, hosts, heartbeats)."));
        return;
      }
      if (!health.services) throw new Error(health.error || `HTTP ${response.status}`);
      healthAt = Date.now();
      lastHealth = health;
      renderHealth(health);
    } catch (err) {
      document.getElementById("services").replaceChildren(h("p", { class: "error" }, `Cannot load the health: ${err.message}`));
    }
  }

  async function refresh() {
    refreshHealth();
    try {
      const queue = await SR.get("/api/queue");
      fetchedAt = Date.now();
      lastQueue = queue;
      render(queue);
    } catch (err) {
      document.getElementById("pool-line").textContent = `Cannot load the queue: ${err.message}`;
    }
  }

  const update = SR.throttle(refresh, 250);
  SR.live(update);
  // Heartbeat ages tick locally between updates; a full refresh every 10 s catches anything else.
  setInterval(() => { if (lastQueue) renderWorkers(lastQueue); if (lastHealth) renderHealth(lastHealth); }, 1000);
  setInterval(update, 10000);
  // A service that stops beating sends no change event: its health is fetched again every few seconds.
  setInterval(refreshHealth, 3000);
  refresh();
})();
