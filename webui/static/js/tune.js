// The tuning side of a sweep page: the best so far (against trials or trainer-seconds; a chain's across its groups),
// the lineage (parent, what it tunes and holds, children, the chain's groups) and the "Tune what matters" form.
// sweep.js calls SweepTune.update(summary) each time it re-reads the summary.
"use strict";

const SweepTune = (() => {
  const { h, fmt } = SR;
  const body = document.body.dataset;
  const $ = (id) => document.getElementById(id);
  // members: the summaries of the chain's other sweeps; an ended one no longer changes, so it is read once.
  const state = { axis: "n", summary: null, members: {} };

  const trainerS = (s) => `${s < 100 ? s.toFixed(1) : Math.round(s)} trainer-s`;
  const AXES = {
    n: { label: "trials (final results, in arrival order)", integer: true },
    trainer_s: { label: "trainer-seconds (training time of the final results, summed)", integer: false },
  };
  const link = (id) => h("a", { href: `/sweeps/${id}` }, id);
  const statusBadge = (status) => h("span", { class: "status", "data-status": status }, status.replace("_", " "));
  const chained = (sw) => Boolean(sw.lineage && sw.lineage.chain.length && sw.lineage.chain_progress);

  // --- best so far ------------------------------------------------------------------------

  function bestNumbers(progress, inChain) {
    const best = progress && progress.best;
    if (!best) return [h("span", { class: "muted" }, "No completed trial yet.")];
    const found = progress.points[progress.points.length - 1];
    const where = best.sweep_id && (inChain || best.sweep_id !== body.sweepId) ? [" of ", link(best.sweep_id)] : [];
    return [
      inChain ? "chain best " : "best ",
      h("b", { id: "best-value" }, fmt.metric(best.metric, best.value)),
      " · trial ", h("span", { id: "best-trial" }, `#${best.trial_id}`), ...where,
      best.dataset ? ` on ${best.dataset}` : "",
      h("span", { class: "muted", id: "best-after" },
        ` · after ${found.n} trials / ${trainerS(found.trainer_s)} (of ${progress.n} / ${trainerS(progress.trainer_s)} so far)`),
    ];
  }

  // Where each group's sweep starts on the chain's axis: the trials (or trainer-seconds) of the groups before it.
  function groupStarts(chain, key) {
    const marks = [];
    let start = 0;
    for (const [k, id] of chain.entries()) {
      const member = state.members[id];
      if (!member || !member.progress) break;
      marks.push({ x: start, label: `group ${k + 1}` });
      start += member.progress[key];
    }
    return marks;
  }

  function drawBest() {
    const sw = state.summary;
    if (!sw) return;
    const inChain = chained(sw);
    const progress = inChain ? sw.lineage.chain_progress : sw.progress;
    const points = progress ? progress.points : [];
    const metric = body.metric, key = state.axis;
    $("best-numbers").replaceChildren(...bestNumbers(progress, inChain));
    $("best-numbers").title = progress && progress.best ? Object.entries(progress.best.config)
      .map(([name, value]) => `${name} = ${fmt.value(value)}`).join("\n") : "";
    const series = points.length ? [{
      name: inChain ? "chain best" : "best so far", colorIndex: 0, step: true, extendTo: progress[key],
      points: points.map((p) => [p[key], p.value]),
      pointTitles: points.map((p) => `${fmt.metric(metric, p.value)}: trial #${p.trial_id} of ${p.sweep_id}, `
        + `after ${p.n} trials / ${trainerS(p.trainer_s)}`),
    }] : [];
    const loss = metric.includes("loss");
    Charts.lines($("best-chart"), series, {
      xLabel: AXES[key].label, xInteger: AXES[key].integer, xMin: 0, height: 260, labelEnds: false,
      yLabel: `best ${metric.replaceAll("_", " ")}${loss ? "" : " (%)"}`,
      yFormat: loss ? (v) => v.toFixed(2) : (v) => (100 * v).toFixed(0), yMax: loss ? undefined : Math.max(1, ...points.map((p) => p.value)),
      marks: inChain ? groupStarts(sw.lineage.chain, key) : [] });
  }

  document.querySelectorAll("#best-axis [data-axis]").forEach((button) => button.addEventListener("click", () => {
    state.axis = button.dataset.axis;
    document.querySelectorAll("#best-axis [data-axis]").forEach((b) => b.setAttribute("aria-selected",
      String(b === button)));
    drawBest();
  }));

  // --- lineage ------------------------------------------------------------------------------

  async function readMembers(sw) {
    const chain = sw.lineage ? sw.lineage.chain : [];
    state.members = Object.fromEntries(chain.filter((id) => state.members[id]).map((id) => [id, state.members[id]]));
    state.members[sw.id] = sw;
    const stale = chain.filter((id) => id !== sw.id && !(state.members[id] && state.members[id].final));
    const read = await Promise.all(stale.map((id) => SR.get(`/api/sweeps/${id}/summary`).catch(() => null)));
    stale.forEach((id, i) => { if (read[i]) state.members[id] = read[i]; });
  }

  function drawLineage() {
    const sw = state.summary, lineage = sw.lineage;
    $("lineage-card").hidden = !lineage;
    if (!lineage) return;
    const chainBox = $("lineage-chain");
    chainBox.hidden = !lineage.chain.length;
    if (lineage.chain.length) {
      const best = lineage.chain_progress && lineage.chain_progress.best;
      chainBox.replaceChildren(
        h("p", {}, `Sequential chain of ${lineage.chain.length} sweep${lineage.chain.length > 1 ? "s" : ""} so far:`),
        h("ol", { class: "chain", id: "chain-groups" }, lineage.chain.map((id, k) => {
          const member = state.members[id];
          return h("li", { "data-sweep": id, "aria-current": id === sw.id ? "true" : null },
            `group ${k + 1} `, id === sw.id ? h("b", {}, id) : link(id), " ", member ? statusBadge(member.status) : null);
        })),
        h("p", { id: "chain-best" }, best ? ["chain best ", h("b", {}, fmt.metric(best.metric, best.value)),
          ` (trial #${best.trial_id} of `, link(best.sweep_id), ")"] : "chain best: no completed trial yet"));
    }
    const children = $("lineage-children");
    children.hidden = !lineage.children.length;
    children.replaceChildren("Tune sweeps started from this one: ",
      ...lineage.children.flatMap((id, k) => [k ? ", " : "", link(id)]));
  }

  // --- the tune form --------------------------------------------------------------------------

  const form = $("tune-form");

  // A whole number goes as a number; anything else as typed, so the server names the field it refuses.
  const asNumber = (text) => (/^\s*\d+\s*$/.test(text) ? Number(text) : text.trim());

  function tuneRequest() {
    const fields = form.elements, sequential = fields.sequential.checked;
    const request = { top: fields.top.value.trim() ? asNumber(fields.top.value) : null, sampler: fields.sampler.value,
                      pruner: fields.pruner.value, sequential };
    for (const name of sequential ? ["group_size", "trials_per_group"] : ["trials"]) {
      if (fields[name].value.trim()) request[name] = asNumber(fields[name].value);
    }
    return request;
  }

  function showErrors(err) {
    form.querySelectorAll(".field-error").forEach((el) => el.remove());
    const unplaced = [];
    for (const { field, message } of err ? err.errors : []) {
      const label = form.elements[field] && form.elements[field].closest("label");
      if (label && !label.closest("[hidden]")) label.append(h("span", { class: "field-error", "data-field": field }, message));
      else unplaced.push(`${field}: ${message}`);
    }
    const box = $("tune-error");
    box.textContent = !err ? "" : unplaced.length ? unplaced.join("; ") : err.errors.length ? "" : `Cannot tune: ${err.message}`;
    box.hidden = !box.textContent;
  }

  function openForm(open) {
    $("tune-card").hidden = !open;
    $("tune-button").setAttribute("aria-expanded", String(open));
    if (open) form.elements.top.focus();
  }

  if (form) {
    $("tune-button").addEventListener("click", () => openForm($("tune-card").hidden));
    $("tune-close").addEventListener("click", () => openForm(false));
    const sequential = form.elements.sequential;
    const reveal = () => { $("tune-groups").hidden = !sequential.checked; $("tune-trials").hidden = sequential.checked; };
    sequential.addEventListener("change", reveal);
    reveal();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const send = $("tune-submit");
      send.disabled = true;
      showErrors(null);
      try {
        const created = await SR.post(`/api/sweeps/${body.sweepId}/tune`, tuneRequest());
        window.location.assign(`/sweeps/${created.id}`);
      } catch (err) {
        showErrors(err);
        send.disabled = false;
      }
    });
  }

  async function update(sw) {
    state.summary = sw;
    if (form) $("tune-button").hidden = !sw.tunable;
    await readMembers(sw);
    if (state.summary !== sw) return; // a newer summary arrived while the chain was read: it draws
    drawBest();
    drawLineage();
  }

  return { update };
})();
