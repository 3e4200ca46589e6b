// Effects in the metric's units (one small chart per hyperparameter, in ranking order) and pairwise interactions
// (a heatmap of interaction shares and the cell means of the strongest pairs), from the ranking record's anova fields.
"use strict";

const SweepEffects = (() => {
  const { h } = SR;
  const $ = (id) => document.getElementById(id);
  const known = (x) => x !== null && x !== undefined;
  const num = (x, digits = 3) => (known(x) ? Number(x.toPrecision(digits)).toString() : "–");
  const share = (x) => (known(x) ? x.toFixed(3) : "–");
  const signed = (x) => (known(x) ? `${x >= 0 ? "+" : "−"}${num(Math.abs(x))}` : "–");
  const VERDICT_WORDS = { matters: "matters", no_detectable_effect: "no detectable effect", undetermined: "undetermined" };

  // The group whose effects to show: the selected dataset, or for "pooled" the first dataset (units differ across
  // datasets, so nothing is pooled).
  function groupOf(ranking, selected) {
    if (!ranking) return { name: null, group: null };
    const own = ranking.groups[selected];
    const hasEffects = (group) => group.rows.some((row) => row.effect);
    if (own && hasEffects(own)) return { name: selected, group: own };
    const datasets = Object.keys(ranking.groups).filter((g) => g !== "pooled" && hasEffects(ranking.groups[g])).sort();
    return datasets.length ? { name: datasets[0], group: ranking.groups[datasets[0]], others: datasets.length - 1 }
      : { name: null, group: null };
  }

  // A bin "0.000317 – 0.000996" ticks as its lower value "3.2e-4"; a choice keeps its name.
  function shortLabel(label) {
    const low = label.split(" – ")[0];
    const value = Number(low);
    if (low === "" || Number.isNaN(value)) return low.length > 9 ? `${low.slice(0, 8)}…` : low;
    if (value !== 0 && (Math.abs(value) < 0.01 || Math.abs(value) >= 1e5)) return value.toExponential(1).replace("e-0", "e-").replace("e+0", "e");
    return String(Number(value.toPrecision(3)));
  }

  // The page's CSP refuses style attributes; a custom property set through the CSSOM is allowed.
  function shaded(cell, strength) {
    const value = Math.max(0, Math.min(1, strength));
    cell.style.setProperty("--strength", value.toFixed(3));
    if (value > 0.55) cell.dataset.strong = "";  // light text on the darker fills
    return cell;
  }

  function noEffectSentence(row, group, metric) {
    const effect = row.effect;
    return `No level of ${row.name} moves mean ${metric} by more than δ = ${num(group.delta)} from the overall mean `
      + `(95% simultaneous bound ${num(effect.equivalence_bound)}), and no interaction with it is detectable.`;
  }

  function effectCard(row, group, metric, colorIndex) {
    const effect = row.effect;
    const verdict = row.verdict;
    const largest = effect.largest;
    const chart = h("div", { class: "chart", "data-effect": row.name });
    const card = h("article", { class: "effect", "data-name": row.name, "data-verdict": verdict || "" },
      h("h3", {}, row.name, verdict ? h("span", { class: "badge", "data-verdict": verdict }, VERDICT_WORDS[verdict]) : ""),
      h("p", { class: "difference" }, largest
        ? [`${largest.from_label} → ${largest.to_label}: `, h("b", {}, signed(largest.difference)),
          ` [${num(largest.ci_low)}, ${num(largest.ci_high)}]`]
        : "fewer than two levels seen"),
      chart,
      h("p", { class: "muted small" }, `main share ${share(effect.main_share)} [${share(effect.main_ci[0])}, `
        + `${share(effect.main_ci[1])}] · with interactions ${share(effect.total_share)} · `
        + `p (Holm) ${known(row.p_adjusted) ? num(row.p_adjusted, 2) : "–"}`),
      verdict === "no_detectable_effect" ? h("p", { class: "small" }, noEffectSentence(row, group, metric)) : "");
    return { card, chart, draw: () => Charts.levels(chart, effect.levels.map((level) => ({ label: level.label || String(level.key),
      tick: shortLabel(level.label || String(level.key)), mean: level.mean, lo: level.ci_low, hi: level.ci_high, n: level.n })),
    { yLabel: `mean ${metric}`, overall: group.metric_mean, delta: group.delta, colorIndex }) };
  }

  function matrix(group) {
    const names = group.rows.map((row) => row.name);
    const byPair = new Map();
    for (const pair of group.interactions || []) {
      byPair.set(`${pair.first}|${pair.second}`, pair);
      byPair.set(`${pair.second}|${pair.first}`, pair);
    }
    const top = Math.max(1e-9, ...(group.interactions || []).map((p) => p.share ?? 0));
    return h("table", { class: "heatmap", "aria-label": "interaction share of each pair" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), ...names.map((n) => h("th", { scope: "col" }, n)))),
      h("tbody", {}, ...names.map((row) => h("tr", {}, h("th", { scope: "row" }, row), ...names.map((col) => {
        const pair = row === col ? null : byPair.get(`${row}|${col}`);
        if (!pair) return h("td", {}, row === col ? "·" : "");
        return shaded(h("td", { "data-verdict": pair.verdict,
          title: `${pair.first} × ${pair.second}: interaction share ${share(pair.share)} (95% CI ${share(pair.ci_low)}–`
            + `${share(pair.ci_high)}), Holm-adjusted p ${num(pair.p_adjusted, 2)}: ${pair.verdict === "matters" ? "interacts" : "not shown to interact"}` },
        share(pair.share)), (pair.share ?? 0) / top);
      })))));
  }

  function pairTable(pair, metric) {
    const cells = pair.cell_means.flat().filter(known);
    const lo = Math.min(...cells), hi = Math.max(...cells);
    return h("article", { class: "effect", "data-pair": `${pair.first}|${pair.second}` },
      h("h3", {}, `${pair.first} × ${pair.second}`,
        h("span", { class: "badge", "data-verdict": pair.verdict }, pair.verdict === "matters" ? "interacts" : "undetermined")),
      h("p", { class: "difference" }, `interaction share ${share(pair.share)} [${share(pair.ci_low)}, ${share(pair.ci_high)}], `
        + `p (Holm) ${num(pair.p_adjusted, 2)}`),
      h("div", { class: "table-wrap" }, h("table", { class: "heatmap", "aria-label": `mean ${metric} per cell` },
        h("thead", {}, h("tr", {}, h("th", {}, `${pair.first} \\ ${pair.second}`),
          ...pair.second_labels.map((label) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, ...pair.first_labels.map((label, r) => h("tr", {}, h("th", { scope: "row" }, label),
          ...pair.cell_means[r].map((mean, c) => shaded(h("td", {
            title: `${pair.first} ${label}, ${pair.second} ${pair.second_labels[c]}: mean ${num(mean)}, ${pair.cell_counts[r][c]} trials` },
          num(mean)), known(mean) && hi > lo ? (mean - lo) / (hi - lo) : 0))))))));
  }

  function render(ranking, selected, metric, colorIndex) {
    const card = $("effects-card"), pairsCard = $("interactions-card");
    const { name, group, others } = groupOf(ranking, selected);
    card.hidden = pairsCard.hidden = !group;
    if (!group) return;
    const where = others ? ` · dataset ${name} (effects are per dataset: each has its own metric units)` : "";
    $("effects-where").textContent = `${group.n_trials} trials${where}`;
    $("effects-note").textContent = [group.design_note,
      `Dots: mean ${metric} per level with its 95% CI; dashed: the overall mean; dotted: ± δ = ${num(group.delta)}, `
      + "the band a hyperparameter must fit in to be called \"no detectable effect\"."].filter(Boolean).join(" ");
    const cards = group.rows.filter((row) => row.effect).map((row) => effectCard(row, group, metric, colorIndex(row.name)));
    $("effects").replaceChildren(...cards.map((c) => c.card));
    Charts.measure(cards.map((c) => c.chart));
    cards.forEach((c) => c.draw());
    $("interaction-matrix").replaceChildren(matrix(group));
    $("interaction-pairs").replaceChildren(...(group.interactions || []).filter((p) => p.cell_means).map((p) => pairTable(p, metric)));
  }

  return { render };
})();
