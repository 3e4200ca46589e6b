// The sweeps list: progress, ETA, sampler, best so far and its config, top 3, stability; live.
"use strict";

(() => {
  const { h, fmt } = SR;

  // How many hyperparameters the compact config names; the full config is its tooltip.
  const SHOWN = 3;

  // The best value, and under it the config that reached it: what the sweep tunes (or its ranking's top) first.
  function bestCell(sw) {
    if (!sw.best) return "–";
    const config = sw.best.config, leading = (sw.tuned || sw.top).filter((name) => name in config);
    const names = [...leading, ...Object.keys(config).filter((name) => !leading.includes(name))];
    const pair = (name) => `${name}=${fmt.value(config[name])}`;
    return h("div", {}, `${fmt.metric(sw.best.metric, sw.best.value)} (#${sw.best.trial_id})`,
      h("span", { class: "best-config", title: names.map(pair).join("\n") },
        names.slice(0, SHOWN).map(pair).join(", ") + (names.length > SHOWN ? ", …" : "")));
  }

  function row(sw) {
    const stable = sw.stability;
    const badge = !stable ? h("span", { class: "badge" }, "no ranking")
      : stable.stable ? h("span", { class: "badge stable", title: stable.sentence },
        `${sw.final ? "settled" : "stable"} since ${stable.stable_since}`)
      : h("span", { class: "badge changing", title: stable.sentence }, sw.final ? "did not settle" : "changing");
    const cell = (label, attrs, ...content) => h("td", { "data-label": label, ...attrs }, ...content);
    return h("tr", { "data-sweep": sw.id },
      cell("owner", {}, sw.owner),
      cell("name", {}, h("div", {}, h("a", { href: `/sweeps/${sw.id}` }, sw.name), h("div", { class: "muted small" }, sw.id))),
      cell("status", {}, h("span", { class: "status", "data-status": sw.status }, sw.status)),
      cell("progress", {}, h("div", { class: "progress-block" }, SR.progress(sw.n_final / sw.n_trials),
        h("span", { class: "count" }, `${sw.n_final}/${sw.n_trials}`))),
      cell("ETA", { class: "num" }, fmt.duration(sw.eta_s)),
      cell("sampler", {}, sw.sampler),
      cell("best", { class: "num" }, bestCell(sw)),
      cell("top 3", { title: sw.reading }, sw.top.length ? sw.top.join(", ") : "–"),
      cell("stability", {}, badge));
  }

  async function refresh() {
    const box = document.getElementById("sweeps");
    try {
      const { sweeps } = await SR.get("/api/summaries");
      box.replaceChildren(sweeps.length ? h("table", { class: "stack-narrow" },
        h("thead", {}, h("tr", {}, ["owner", "name", "status", "progress", "ETA", "sampler", "best", "top 3",
          "stability"].map((c) => h("th", { class: ["ETA", "best"].includes(c) ? "num" : null }, c)))),
        h("tbody", {}, sweeps.map(row)))
        : h("p", { class: "muted" }, "No sweeps yet. ", h("a", { href: "/submit" }, "Submit one.")));
    } catch (err) {
      box.replaceChildren(h("p", { class: "error" }, `Cannot load sweeps: ${err.message}`));
    }
  }

  const update = SR.throttle(refresh, 300);
  SR.live((event) => { if (event.topic === "sweep") update(); });
  refresh();
})();
