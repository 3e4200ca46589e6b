// Small SVG charts written for this app: bars with CI whiskers and verdicts, line charts with CI bands. No library.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  // Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442"];
  const DASHES = ["", "7 4", "2 3"];
  const FONT = 13;

  function style(index) {
    return { color: PALETTE[index % PALETTE.length], dash: DASHES[Math.floor(index / PALETTE.length) % DASHES.length] };
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) if (value !== null && value !== undefined) el.setAttribute(key, value);
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function ticks(lo, hi, count = 5) {
    if (!(hi > lo)) hi = lo + 1;
    const raw = (hi - lo) / count, mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
    return out;
  }

  function svg(width, height, label) {
    return s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, "font-size": FONT });
  }

  function empty(el, message, height = 120) {
    const root = svg(640, height, message);
    root.append(s("text", { x: 320, y: height / 2, "text-anchor": "middle", class: "empty" }, message));
    el.replaceChildren(root);
  }

  // rows: [{name, value, lo, hi, colorIndex, title, tag: {kind, label}}], drawn best first; x axis is the
  // importance share. A tag (the verdict) is written in a column of its own right of the values.
  function bars(el, rows, { xLabel = "importance (share of total, 0–1)" } = {}) {
    if (!rows.length) return empty(el, "No ranking yet");
    // Tag width from its longest label (no layout pass to measure text); the chart widens by half of it.
    const tagW = rows.some((r) => r.tag) ? Math.max(...rows.map((r) => (r.tag ? r.tag.label.length : 0))) * 6.5 + 22 : 0;
    const W = 640 + Math.round(tagW / 2), left = 138, right = 56 + tagW, top = 8, rowH = 28, bottom = 48;
    const H = top + rows.length * rowH + bottom;
    const xMax = Math.max(0.05, ...rows.map((r) => Math.max(r.hi ?? r.value, r.value))) * 1.04;
    const tickValues = ticks(0, xMax, 5);
    const domain = tickValues[tickValues.length - 1] >= xMax ? tickValues[tickValues.length - 1] : xMax;
    const x = (v) => left + (Math.max(0, v) / domain) * (W - left - right);
    const root = svg(W, H, "importance per hyperparameter with 95% confidence intervals");
    const grid = s("g", { class: "grid" }), axis = s("g", { class: "axis tick" });
    for (const t of tickValues) {
      grid.append(s("line", { x1: x(t), x2: x(t), y1: top, y2: top + rows.length * rowH }));
      axis.append(s("text", { x: x(t), y: top + rows.length * rowH + 16, "text-anchor": "middle" }, t.toFixed(2)));
    }
    root.append(grid, axis);
    rows.forEach((r, i) => {
      const y = top + i * rowH, mid = y + rowH / 2, { color } = style(r.colorIndex ?? i);
      const g = s("g", { class: "bar", "data-name": r.name, "data-verdict": r.tag ? r.tag.kind : null },
        s("title", {}, r.title
          ?? `${r.name}: ${r.value.toFixed(3)} (95% CI ${(r.lo ?? r.value).toFixed(3)}–${(r.hi ?? r.value).toFixed(3)})`),
        s("text", { x: left - 8, y: mid + 4.5, "text-anchor": "end" }, r.name),
        s("rect", { x: left, y: y + 5, width: Math.max(0, x(r.value) - left), height: rowH - 10, fill: color, rx: 2 }));
      if (r.lo !== undefined && r.hi !== undefined) {
        g.append(s("g", { class: "whisker", "stroke-width": 1.6 },
          s("line", { x1: x(r.lo), x2: x(r.hi), y1: mid, y2: mid }),
          s("line", { x1: x(r.lo), x2: x(r.lo), y1: mid - 6, y2: mid + 6 }),
          s("line", { x1: x(r.hi), x2: x(r.hi), y1: mid - 6, y2: mid + 6 })));
      }
      g.append(s("text", { x: Math.max(x(r.value), x(r.hi ?? r.value)) + 6, y: mid + 4.5, class: "tick" },
        r.value.toFixed(3)));
      if (r.tag) {
        const tx = W - tagW + 8;
        g.append(s("g", { class: "verdict", "data-verdict": r.tag.kind },
          s("circle", { cx: tx + 4, cy: mid, r: 4.5 }),
          s("text", { x: tx + 14, y: mid + 4.5, "font-size": 12.5 }, r.tag.label)));
      }
      root.append(g);
    });
    root.append(s("g", { class: "axis" }, s("line", { x1: left, x2: left, y1: top, y2: top + rows.length * rowH })));
    root.append(s("text", { x: (left + W - right) / 2, y: H - 8, "text-anchor": "middle", class: "axis-label" }, xLabel));
    el.replaceChildren(root);
  }

  // Closed outlines of a band [[x, lo, hi]], one per run of points where both ends are known.
  function bandPaths(band, x, y) {
    const runs = [[]];
    for (const p of band) {
      if (Number.isFinite(p[1]) && Number.isFinite(p[2])) runs[runs.length - 1].push(p);
      else if (runs[runs.length - 1].length) runs.push([]);
    }
    return runs.filter((run) => run.length).map((run) => {
      const upper = run.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[2]).toFixed(1)}`).join("");
      const lower = run.slice().reverse().map((p) => `L${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      return `${upper}${lower}Z`;
    });
  }

  // series: [{name, points: [[x, y]], colorIndex, band: [[x, lo, hi]], title}]; a band is shaded behind all lines.
  // A point whose y is null breaks its line there (no segment is drawn across it).
  // marks: [{x, label}] drawn as dashed verticals; gaps: [{x0, x1, label}] shaded spans (data the lines skip).
  function lines(el, series, { xLabel, yLabel, yMin, yMax, marks = [], gaps = [], yFormat = (v) => String(v),
                               height = 300, labelEnds = true, xInteger = false } = {}) {
    const points = series.flatMap((sr) => [...sr.points, ...(sr.band || []).flatMap((p) => [[p[0], p[1]], [p[0], p[2]]])])
      .filter((p) => Number.isFinite(p[1]));
    if (!points.length) return empty(el, "No data yet", height);
    const W = 640, H = height, left = 58, right = labelEnds ? 140 : 20, top = 22, bottom = 48;
    let x0 = Math.min(...points.map((p) => p[0])), x1 = Math.max(...points.map((p) => p[0]));
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    const xTicks = ticks(x0, x1, 6).filter((t) => t >= x0 && t <= x1 && (!xInteger || Number.isInteger(t)));
    let lo = yMin ?? Math.min(...points.map((p) => p[1])), hi = yMax ?? Math.max(...points.map((p) => p[1]));
    if (hi === lo) { hi = lo + 1; }
    const yTicks = ticks(lo, hi, 5);
    if (yMin === undefined) lo = Math.min(lo, yTicks[0]);
    if (yMax === undefined) hi = Math.max(hi, yTicks[yTicks.length - 1]);
    const x = (v) => left + ((v - x0) / (x1 - x0)) * (W - left - right);
    const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (H - top - bottom);
    const root = svg(W, H, `${yLabel} against ${xLabel}`);
    const grid = s("g", { class: "grid" }), axis = s("g", { class: "tick" });
    for (const t of yTicks.filter((t) => t >= lo && t <= hi)) {
      grid.append(s("line", { x1: left, x2: W - right, y1: y(t), y2: y(t) }));
      axis.append(s("text", { x: left - 7, y: y(t) + 4.5, "text-anchor": "end" }, yFormat(t)));
    }
    for (const t of xTicks) {
      axis.append(s("text", { x: x(t), y: H - bottom + 17, "text-anchor": "middle" }, String(t)));
    }
    root.append(grid, axis, s("g", { class: "axis" },
      s("line", { x1: left, x2: W - right, y1: H - bottom, y2: H - bottom }),
      s("line", { x1: left, x2: left, y1: top, y2: H - bottom })));
    root.append(s("text", { x: (left + W - right) / 2, y: H - 8, "text-anchor": "middle", class: "axis-label" }, xLabel));
    root.append(s("text", { x: 14, y: (top + H - bottom) / 2, "text-anchor": "middle", class: "axis-label",
                            transform: `rotate(-90 14 ${(top + H - bottom) / 2})` }, yLabel));
    for (const gap of gaps) {
      const gx0 = x(Math.max(gap.x0, x0)), gx1 = x(Math.min(gap.x1, x1));
      root.append(s("g", { class: "gap", "data-from": gap.x0, "data-to": gap.x1 }, s("title", {}, gap.label),
        s("rect", { x: gx0, y: top, width: Math.max(2, gx1 - gx0), height: H - bottom - top }),
        s("text", { x: (gx0 + gx1) / 2, y: top + 12, "text-anchor": "middle", "font-size": 11 }, "paused")));
    }
    for (const m of marks) {
      if (m.x < x0 || m.x > x1) continue;
      root.append(s("g", { class: "mark" }, s("line", { x1: x(m.x), x2: x(m.x), y1: top - 4, y2: H - bottom }),
        s("text", { x: x(m.x) + (x(m.x) > W - right - 140 ? -4 : 4), y: top - 8,
                    "text-anchor": x(m.x) > W - right - 140 ? "end" : "start", "font-size": 12 }, m.label)));
    }
    // Many overlapping bands turn into a wash: fainter the more there are; hovering a line brings its band out.
    const bands = s("g", { class: "bands" }), bandOf = {};
    const opacity = series.filter((sr) => sr.band).length > 5 ? 0.06 : 0.1;
    series.forEach((sr, i) => {
      if (!sr.band) return;
      const { color } = style(sr.colorIndex ?? i);
      const paths = bandPaths(sr.band, x, y);
      if (paths.length) {
        bandOf[sr.name] = s("g", { class: "band", "data-name": sr.name },
          paths.map((d) => s("path", { d, fill: color, "fill-opacity": opacity, stroke: "none" })));
        bands.append(bandOf[sr.name]);
      }
    });
    root.append(bands);
    const ends = [];
    series.forEach((sr, i) => {
      const known = sr.points.filter((p) => Number.isFinite(p[1]));
      if (!known.length) return;
      const { color, dash } = style(sr.colorIndex ?? i);
      let d = "", pen = "M";
      for (const p of sr.points) {
        if (!Number.isFinite(p[1])) { pen = "M"; continue; }
        d += `${pen}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`;
        pen = "L";
      }
      const g = s("g", { class: "series", "data-name": sr.name }, s("title", {}, sr.title ?? sr.name),
        s("path", { d, fill: "none", stroke: color, "stroke-width": 2.2, "stroke-dasharray": dash || null,
                    "stroke-linejoin": "round" }));
      if (bandOf[sr.name]) {
        g.addEventListener("mouseenter", () => bandOf[sr.name].classList.add("hot"));
        g.addEventListener("mouseleave", () => bandOf[sr.name].classList.remove("hot"));
      }
      if (known.length <= 40) {
        for (const p of known) g.append(s("circle", { cx: x(p[0]), cy: y(p[1]), r: 2.6, fill: color }));
      }
      root.append(g);
      const last = known[known.length - 1];
      ends.push({ name: sr.name, color, dash, y: y(last[1]) });
    });
    if (labelEnds) {
      // Direct labels at the line ends, nudged apart so they never overlap.
      ends.sort((a, b) => a.y - b.y);
      for (let i = 1; i < ends.length; i++) ends[i].y = Math.max(ends[i].y, ends[i - 1].y + 14);
      const overflow = ends.length ? ends[ends.length - 1].y - (H - bottom) : 0;
      if (overflow > 0) ends.forEach((e) => { e.y -= overflow; });
      for (const e of ends) {
        // A swatch of the line's own stroke, then the name in the text colour (yellow text would be unreadable).
        root.append(s("line", { x1: W - right + 4, x2: W - right + 20, y1: e.y, y2: e.y, stroke: e.color,
                                "stroke-width": 3, "stroke-dasharray": e.dash || null }),
                    s("text", { x: W - right + 24, y: e.y + 4, "font-size": 12 }, e.name));
      }
    }
    el.replaceChildren(root);
  }

  return { bars, lines, style, PALETTE };
})();
