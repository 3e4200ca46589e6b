// One sweep, live: summary, importance (bars + CI + verdicts), trajectory (with CI bands), comparison, trials,
// learning curves, actions.
"use strict";

(() => {
  const { h, fmt } = SR;
  const body = document.body.dataset;
  const base = `/api/sweeps/${body.sweepId}`;
  const PAGE = 20;
  const state = { group: "pooled", offset: 0, sort: "trial_id", order: "asc", trial: null, ranking: null,
                  comparison: null, marker: null, names: [], final: false,
                  // What the page has, so a new result fetches only what changed (/changes): results seen, the
                  // trajectory (bounded by the server) and its last publication, the table's rows by id.
                  nFinal: 0, history: [], rankingSeq: 0, page: [], rows: new Map(), total: 0, loaded: false, missed: false };
  // The server keeps about 750 trajectory entries; a page left open this long re-reads its bounded series.
  const HISTORY_KEPT = 2000;
  const $ = (id) => document.getElementById(id);

  const colorIndex = (name) => Math.max(0, state.names.indexOf(name));
  const VERDICTS = { matters: "matters", no_detectable_effect: "no detectable effect", undetermined: "undetermined" };
  const known = (x) => x !== null && x !== undefined;
  const pValue = (p) => (!known(p) ? "–" : p < 0.001 ? "< 0.001" : p.toFixed(3));
  const at = (values, i) => (values ? values[i] : undefined);
  // Two decimals as on the bars, but a tiny bound keeps its digits rather than printing as 0.00.
  const bound2 = (x) => (x >= 0.01 ? x.toFixed(2) : String(Number(x.toPrecision(2))));
  // What each term means, written once in the page's help note and reused by the tooltips.
  const TERMS = Object.fromEntries([...document.querySelectorAll("#importance-help dd[data-term]")]
    .map((dd) => [dd.dataset.term, dd.textContent.replace(/\s+/g, " ").trim()]));
  document.querySelectorAll("abbr[data-term]").forEach((abbr) => { abbr.title = TERMS[abbr.dataset.term] || ""; });

  // A row's verdict, or null for records from before verdicts.
  function verdictOf(row) {
    const kind = row.verdict;
    if (!kind) return null;
    const bound = row.detectable;
    const label = kind === "no_detectable_effect" && known(bound) ? `no detectable effect (< ${bound2(bound)})`
      : VERDICTS[kind] || kind;
    // The anova method's "no detectable effect" is an equivalence statement in metric units (under Effects).
    return { kind, label, bound, title: `${label}: ${TERMS[kind] || ""}` };
  }

  function barTitle(group, row) {
    const f3 = (x) => (known(x) ? x.toFixed(3) : "–");
    const lines = [`${row.name}: importance ${f3(row.importance)} (95% CI ${f3(row.ci_low)}–${f3(row.ci_high)})`,
      `rank ${row.rank}, P(rank) ${f3(row.rank_probability)} · `
      + `${group.method === "anova" ? "variance share" : "raw W"} ${fmt.num(row.raw_weight)}`];
    lines.push(`P(rank): ${TERMS.p_rank}`, `raw W: ${TERMS.raw_w}`);
    const verdict = verdictOf(row);
    if (verdict) {
      lines.push(`p = ${pValue(row.p_value)}, Holm-adjusted p = ${pValue(row.p_adjusted)} → ${VERDICTS[verdict.kind] || verdict.kind}`);
      if (verdict.kind !== "matters" && known(verdict.bound)) {
        lines.push(`an importance ≥ ${bound2(verdict.bound)} would have been detected (80% power)`);
      }
    }
    return lines.join("\n");
  }

  // --- summary and actions ---------------------------------------------------------

  // The summary comes from /summary (actions, the timer) and /changes (events): a late answer must not put back a
  // status the page has moved past.
  const summaries = SR.inOrder();

  async function refreshSummary() {
    const asked = summaries.ask();
    const sw = await SR.get(`${base}/summary`);
    if (summaries.isLatest(asked)) renderSummary(sw);
    return sw;
  }

  function renderSummary(sw) {
    const status = $("status");
    status.textContent = sw.status.replace("_", " ");
    status.dataset.status = sw.status;
    $("progress-fill").style.width = `${(100 * sw.n_final) / sw.n_trials}%`;
    $("trial-count").textContent = `${sw.n_final}/${sw.n_trials}`;
    $("eta").textContent = sw.eta_s !== null ? `ETA ${fmt.duration(sw.eta_s)}` : "";
    $("best").replaceChildren(sw.best ? h("span", {}, `best ${sw.best.metric.replaceAll("_", " ")} `,
      h("b", {}, fmt.metric(sw.best.metric, sw.best.value)), ` (trial #${sw.best.trial_id})`) : "");
    const stab = $("stability");
    stab.className = `badge ${sw.stability ? (sw.stability.stable ? "stable" : "changing") : ""}`;
    const since = sw.stability && sw.stability.stable_since;
    stab.textContent = !sw.stability ? "no ranking yet"
      : sw.final ? (sw.stability.stable ? `settled since trial ${since}` : "did not settle")
      : sw.stability.stable ? `top ${sw.stability.top_k.length} stable since trial ${since}` : "ranking still changing";
    stab.title = sw.stability ? sw.stability.sentence : "";
    $("reading").textContent = sw.reading;
    state.final = sw.final;
    $("ranking-paused").hidden = !sw.ranking_paused;
    $("ranking-paused").textContent = sw.ranking_paused ? `R${sw.ranking_paused.sentence.slice(1)}.` : "";
    $("stop-reason").textContent = sw.stop_reason ? `Ended: ${sw.stop_reason}.` : "";
    $("counts").replaceChildren(...Object.entries(sw.counts).filter(([, n]) => n).flatMap(([status, n], k) => [k ? " · " : "",
      h("span", { "data-count": status }, `${n} ${status.replace("_", " ")}`)]));
    SweepTune.update(sw);
    const allowed = { pause: ["queued", "running"], resume: ["paused"], cancel: ["queued", "running", "paused"] };
    document.querySelectorAll("[data-action]").forEach((b) => { b.disabled = !allowed[b.dataset.action].includes(sw.status); });
  }

  document.querySelectorAll("[data-action]").forEach((button) => button.addEventListener("click", async () => {
    const action = button.dataset.action;
    if (action === "cancel" && !window.confirm("Cancel this sweep? Running trials stop at their next epoch.")) return;
    const box = $("action-error");
    try {
      await SR.post(`${base}/${action}`);
      box.hidden = true;
    } catch (err) {
      box.textContent = `Could not ${action}: ${err.message}`;
      box.hidden = false;
    }
    refreshSummary();
  }));

  // --- importance and trajectory ------------------------------------------------------

  function renderTabs() {
    const groups = state.ranking ? Object.keys(state.ranking.groups) : [];
    groups.sort((a, b) => (a === "pooled" ? -1 : b === "pooled" ? 1 : a.localeCompare(b)));
    $("groups").replaceChildren(...groups.map((g) => h("button", { type: "button", role: "tab",
      "aria-selected": String(g === state.group), onclick: () => { state.group = g; renderImportance(); renderComparison(); } },
      g === "pooled" && groups.length > 2 ? "pooled" : g)));
  }

  function renderImportance() {
    renderTabs();
    const chart = $("importance-chart");
    const group = state.ranking && state.ranking.groups[state.group];
    chart.dataset.n = state.ranking ? String(state.ranking.n_results) : "0";
    const note = $("verdict-note");
    note.hidden = !(group && group.verdict_note);
    note.textContent = group && group.verdict_note ? `No verdicts yet (${group.verdict_note}).` : "";
    // A ranking over no completed trial (all failed so far) is zeros in declaration order: draw nothing.
    if (!group || group.n_trials === 0) return Charts.bars(chart, []);
    const what = group.method === "anova" ? "variance share (main + interactions)" : `N-RReliefF (${group.method})`;
    Charts.bars(chart, group.rows.map((row) => ({ name: row.name, value: row.importance ?? 0,
      lo: row.ci_low ?? undefined, hi: row.ci_high ?? undefined,
      colorIndex: colorIndex(row.name), tag: verdictOf(row), title: barTitle(group, row) })),
      { xLabel: `${what} importance (share of total) · ${group.n_trials} completed trials` });
    SweepEffects.render(state.ranking, state.group, body.metric.replaceAll("_", " "), colorIndex);
  }

  function renderAgreement() {
    const box = $("agreement");
    const agreement = state.ranking && state.ranking.groups.pooled.agreement;
    box.hidden = !agreement;
    box.textContent = agreement ? agreement.sentence : "";
    box.title = agreement ? `Kendall's W ${known(agreement.kendall_w) ? agreement.kendall_w.toFixed(2) : "undefined"} over ${agreement.n_groups} datasets; `
      + `${agreement.top_held} of the pooled top ${agreement.top_k} held in every dataset` : "";
  }

  async function refreshRanking() {
    const [{ ranking }, { history, last }] = await Promise.all([SR.get(`${base}/ranking`), SR.get(`${base}/rankings`)]);
    state.history = history;
    state.rankingSeq = last;
    renderRanking(ranking);
  }

  function renderRanking(ranking) {
    const history = state.history;
    state.ranking = ranking;
    // Colours follow the names, not the ranks, so a hyperparameter keeps its colour as the order changes.
    if (ranking) state.names = ranking.groups.pooled.rows.map((row) => row.name).sort();
    if (ranking && !ranking.groups[state.group]) state.group = "pooled";
    renderImportance();
    renderAgreement();
    $("ranking-csv").hidden = !ranking;
    if (state.comparison && ranking && ranking.n_results !== state.comparison.n_results) {
      $("compare-button").textContent = `Compare again (ranking now has ${ranking.n_results} results)`;
    }
    const last = history.length ? history[history.length - 1] : null;
    const names = last ? last.names : [];
    // The analyst stores a trajectory point per batch it ranks. The first point after it was down folds in every
    // result stored meanwhile and says so (resumed_after_pause_since): the lines break before that point (a null
    // point) and the span is shaded, rather than drawn as if the ranking had moved straight between the two.
    const resumed = (k) => k > 0 && known(history[k].resumed_after_pause_since);
    const gaps = history.map((entry, k) => (resumed(k) ? { x0: history[k - 1].n_trials, x1: entry.n_trials,
      label: `ranking paused (analyst down since ${fmt.time(entry.resumed_after_pause_since)}): `
        + `${entry.n_trials - history[k - 1].n_trials} trials ranked at once when it came back` } : null)).filter(Boolean);
    const series = names.map((name, i) => ({ name, colorIndex: colorIndex(name),
      title: last.verdicts ? `${name}: ${VERDICTS[last.verdicts[i]] || last.verdicts[i]}` : name,
      points: history.flatMap((entry, k) => [...(resumed(k) ? [[entry.n_trials, null]] : []),
        [entry.n_trials, entry.importances[i]]]),
      band: history.flatMap((entry, k) => [...(resumed(k) ? [[entry.n_trials, null, null]] : []),
        ...(entry.ci_low && entry.ci_high ? [[entry.n_trials, entry.ci_low[i], entry.ci_high[i]]] : [])]) }));
    const since = history.length ? history[history.length - 1].stable_since : null;
    Charts.lines($("trajectory-chart"), series, {
      xLabel: "completed trials", yLabel: "importance (share)", yMin: 0, yFormat: (v) => v.toFixed(2), xInteger: true,
      marks: since ? [{ x: since, label: `stable since trial ${since}` }] : [], gaps });
  }

  // --- comparison --------------------------------------------------------------------

  function rankOf(values, name) {
    const order = Object.keys(values).sort((a, b) => values[b] - values[a]);
    return order.indexOf(name) + 1;
  }

  function renderComparison() {
    const box = $("comparison");
    const result = state.comparison;
    if (!result) return;
    const group = result.groups[state.group] || result.groups.pooled;
    if (!group.methods) {
      box.replaceChildren(h("p", { class: "muted" }, group.message));
      return;
    }
    const methods = Object.keys(group.methods);
    const cell = (values, name) => h("td", { class: "num" }, `${values[name].toFixed(3)} (#${rankOf(values, name)})`);
    const names = Object.keys(group.nrrelieff).sort((a, b) => group.nrrelieff[b] - group.nrrelieff[a]);
    const tau = (t) => (t === null || t === undefined ? "undefined" : t.toFixed(2));
    box.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "comparison-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "hyperparameter"), h("th", { class: "num" }, "N-RReliefF"),
        methods.map((m) => h("th", { class: "num" }, m === "fanova" ? "fANOVA" : "PED-ANOVA")))),
      h("tbody", {}, names.map((name) => h("tr", {}, h("td", {}, name), cell(group.nrrelieff, name),
        methods.map((m) => cell(group.methods[m].importances, name))))),
      h("tfoot", {}, h("tr", {}, h("th", {}, "Kendall τ vs N-RReliefF"), h("td", { class: "num" }, "1"),
        methods.map((m) => h("td", { class: "num", "data-tau": m }, tau(group.methods[m].kendall_tau))))))),
      h("p", { class: "muted small" }, `Shares of importance (rank) over the ${group.n_trials} completed trials of the `
        + `ranking current when compared (first ${result.n_results} results). Pooled fANOVA and PED-ANOVA see all `
        + "datasets at once; pooled N-RReliefF averages the per-dataset rankings."));
  }

  // The analyst computes a comparison off the request path: a 202 says "computing", then the stored one is polled.
  const COMPARE_POLL_MS = 1000;
  const COMPARE_WAIT_MS = 10 * 60 * 1000;

  async function awaitComparison(nResults) {
    const deadline = Date.now() + COMPARE_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, COMPARE_POLL_MS));
      const { comparison } = await SR.get(`${base}/comparison`);
      if (comparison && comparison.n_results >= nResults) return comparison;
    }
    throw new Error("no comparison yet: is the analyst running? (sweeprank status)");
  }

  $("compare-button").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    button.textContent = "Computing…";
    try {
      const asked = await SR.post(`${base}/compare`);
      if (!asked.comparison) $("comparison").replaceChildren(h("p", { class: "muted", id: "comparison-computing" }, "computing…"));
      state.comparison = asked.comparison || await awaitComparison(asked.n_results);
      renderComparison();
    } catch (err) {
      $("comparison").replaceChildren(h("p", { class: "error" }, err.message));
    } finally {
      button.disabled = false;
      button.textContent = "Compare again";
    }
  });

  // --- trials table and learning curves ----------------------------------------------

  function trialColumns(configNames) {
    const metric = body.metric;
    return [
      { key: "trial_id", label: "#", num: true, cell: (t) => String(t.trial_id) },
      { key: "dataset", label: "dataset", cell: (t) => t.state.dataset || "" },
      { key: "status", label: "status", cell: (t) => h("span", { class: "status", "data-status": t.result ? t.result.status : t.state.status },
          t.result ? t.result.status : t.state.status) },
      { key: metric, label: metric.replaceAll("_", " "), num: true,
        cell: (t) => fmt.metric(metric, t.result ? t.result[metric] : null) },
      ...(metric === "best_val_accuracy" ? [] : [{ key: "best_val_accuracy", label: "best val acc", num: true,
        cell: (t) => fmt.pct(t.result ? t.result.best_val_accuracy : t.state.val_accuracy) }]),
      { key: "epochs_completed", label: "epochs done", num: true,
        cell: (t) => (t.result ? String(t.result.epochs_completed) : t.state.epoch !== undefined ? `${t.state.epoch}/${t.state.epochs}` : "–") },
      { key: "worker", label: "worker", cell: (t) => (t.result ? t.result.worker : t.state.worker) || "–" },
      { key: "duration", label: "duration", num: true, cell: (t) => fmt.duration(t.duration_s) },
      { key: "error", label: "error", cell: (t) => h("span", { class: "trial-error", title: t.result ? t.result.error : "" },
          t.result && t.result.error ? t.result.error : "") },
      ...configNames.map((name) => ({ key: name, label: name, num: true, cell: (t) => fmt.value(t.config[name]) })),
    ];
  }

  const pageQuery = () => `offset=${state.offset}&limit=${PAGE}&sort=${state.sort}&order=${state.order}`;

  async function refreshTrials() {
    const page = await SR.get(`${base}/trials?${pageQuery()}`);
    state.rows = new Map(page.trials.map((t) => [t.trial_id, t]));
    state.page = page.trials.map((t) => t.trial_id);
    state.total = page.total;
    renderTrials(page);
  }

  // Everything that changed since the page's last fetch, in one small response: the summary, the ranking and the
  // new trajectory entries when there are any, and the table rows that changed.
  async function refreshChanges() {
    const query = pageQuery();
    const asked = `n_final=${state.nFinal}&ranking_seq=${state.rankingSeq}&have=${state.page.join(",")}`;
    const summaryAsked = summaries.ask();
    const changed = await SR.get(`${base}/changes?${query}&${asked}`);
    // The summary was read first: a result stored after it is sent again next time, never missed.
    state.nFinal = changed.summary.n_final;
    if (summaries.isLatest(summaryAsked)) renderSummary(changed.summary);
    if (changed.ranking) {
      state.history = state.history.concat(changed.history);
      state.rankingSeq = changed.ranking_seq;
      if (state.history.length > HISTORY_KEPT) await refreshRanking();
      else renderRanking(changed.ranking);
    }
    // The table moved (sorted, paged) while this was asked: its own fetch draws it.
    if (query !== pageQuery()) return;
    for (const row of changed.rows) state.rows.set(row.trial_id, row);
    state.page = changed.page;
    state.total = changed.total;
    state.rows = new Map(state.page.filter((id) => state.rows.has(id)).map((id) => [id, state.rows.get(id)]));
    renderTrials({ total: state.total, trials: state.page.map((id) => state.rows.get(id)) });
  }

  function renderTrials(page) {
    const configNames = page.trials.length ? Object.keys(page.trials[0].config) : [];
    const columns = trialColumns(configNames);
    const head = h("tr", {}, columns.map((c) => h("th", {
      class: `sortable ${c.num ? "num" : ""}`, "data-sort": c.key, tabindex: 0,
      "aria-sort": state.sort === c.key ? (state.order === "asc" ? "ascending" : "descending") : null,
      onclick: () => {
        state.order = state.sort === c.key && state.order === "asc" ? "desc" : "asc";
        state.sort = c.key;
        state.offset = 0;
        refreshTrials();
      } }, c.label)));
    const rows = page.trials.map((t) => h("tr", { class: `clickable ${t.trial_id === state.trial ? "selected" : ""}`,
      "data-trial": t.trial_id, onclick: () => showCurve(t.trial_id, true) },
      columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(t)))));
    $("trials").replaceChildren(h("table", { id: "trials-table" }, h("thead", {}, head), h("tbody", {}, rows)));
    const last = Math.min(state.offset + PAGE, page.total);
    $("page-info").textContent = page.total ? `${state.offset + 1}–${last} of ${page.total}` : "no trials";
    $("prev").disabled = state.offset === 0;
    $("next").disabled = last >= page.total;
  }

  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); refreshTrials(); });
  $("next").addEventListener("click", () => { state.offset += PAGE; refreshTrials(); });

  async function showCurve(trialId, scroll = false) {
    state.trial = trialId;
    document.querySelectorAll("#trials-table tbody tr").forEach((tr) => {
      tr.classList.toggle("selected", Number(tr.dataset.trial) === trialId);
    });
    const { metrics } = await SR.get(`${base}/trials/${trialId}/metrics`);
    $("curve-title").textContent = `Learning curve · trial #${trialId}`;
    $("curve-hint").textContent = metrics.length ? `${metrics.length} epoch(s) recorded`
      : "No epoch finished yet for this trial.";
    const byAttempt = {};
    for (const m of metrics) (byAttempt[m.attempt] = byAttempt[m.attempt] || []).push(m);
    const attempts = Object.keys(byAttempt);
    const series = (key) => attempts.map((a, i) => ({ name: attempts.length > 1 ? `attempt ${a}` : key.replace("_", " "),
      colorIndex: i, points: byAttempt[a].map((m) => [m.epoch, m[key]]) }));
    Charts.lines($("curve-acc"), series("val_accuracy"), { xLabel: "epoch", yLabel: "validation accuracy (%)",
      yFormat: (v) => (100 * v).toFixed(0), height: 260, labelEnds: attempts.length > 1, xInteger: true });
    Charts.lines($("curve-loss"), series("train_loss"), { xLabel: "epoch", yLabel: "training loss (cross-entropy)",
      yFormat: (v) => v.toFixed(2), height: 260, labelEnds: attempts.length > 1, xInteger: true });
    if (scroll) $("curve-card").scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  // --- live updates --------------------------------------------------------------------

  // One request per change, and the next only after the previous one answered.
  const updateChanges = SR.throttle(refreshChanges, 300);
  SR.live((event) => {
    if (event.topic !== "sweep" || event.sweep_id !== body.sweepId) return;
    const before = state.marker;
    state.marker = event;
    if (state.loaded) updateChanges(); else state.missed = true;
    if (state.trial !== null && (!before || before.epochs !== event.epochs)) showCurve(state.trial);
  });
  document.addEventListener("themechange", () => { renderImportance(); });
  // An analyst that stops sends no event: while the sweep runs, the summary (and its "ranking paused") is re-read.
  setInterval(() => { if (!state.final) refreshSummary(); }, 5000);

  // The first load reads the whole (bounded) state; live changes then come through /changes.
  // The summary is read before the table, so every result after its count reaches the page through /changes; the
  // ranking is read alongside (what /changes sends of it goes by the trajectory's own last entry).
  Promise.all([refreshSummary().then((sw) => { state.nFinal = sw.n_final; return refreshTrials(); }), refreshRanking()])
    .then(() => { state.loaded = true; if (state.missed) updateChanges(); })
    .catch((err) => console.error(err));
})();
