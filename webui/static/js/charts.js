// Small SVG charts written for this app: bars with CI whiskers and verdicts, line charts with CI bands. No library.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  // Series colours are CSS variables (--s0..--s11 in app.css, one set for light and one for dark); a series carries
  // the class cN. The second cue cycles on its own: a dash pattern on lines (and their legend swatches), a hatch on
  // bars, so two series never differ by colour alone, and ten hyperparameters get ten colours.
  const N_COLOURS = 12;
  // Four of each: the palette's look-alike pairs (blue and sky, orange and yellow, green and teal) sit 4k+1 or 4k+3
  // apart, so each pair differs in dash and hatch too.
  const DASHES = ["", "8 4", "2 3", "12 3 2 3"];
  const HATCHES = [null, "diagonal", "dots", "cross"];
  const FONT = 13;
  const NARROW = 560; // below this many user units the charts stack their labels instead of using side columns
  // Estimated advance of one character, as a share of the font size (no layout pass to measure text).
  const CHAR = 0.62;

  function style(index) {
    const i = Math.max(0, index);
    return { cls: `c${i % N_COLOURS}`, dash: DASHES[i % DASHES.length], hatch: HATCHES[i % HATCHES.length] };
  }

  // A chart's width in user units: CSS pixels at a 16 px root font, so text keeps its size on a phone (where a fixed
  // viewBox would shrink it to 6 px) and grows with the root font on a wall screen.
  function widthOf(el) {
    const px = measured.has(el) ? measured.get(el) : el.getBoundingClientRect().width;
    const rootPx = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    return px > 0 ? Math.max(280, Math.floor((px * 16) / rootPx)) : 640;
  }

  // Boxes' widths read ahead (`measure`) and then kept by the observer: reading a box's width after another chart
  // was drawn forces the browser to lay the page out again, so a page drawing many charts in a row reads all of
  // their widths first (one layout) instead of one layout per chart.
  const measured = new WeakMap();
  function measure(els) {
    const widths = els.map((el) => el.getBoundingClientRect().width);
    els.forEach((el, i) => measured.set(el, widths[i]));
  }

  // Redraw a chart when its box changes width (a rotated phone, a resized window).
  const drawn = new WeakMap();
  const resized = typeof ResizeObserver === "undefined" ? null : new ResizeObserver((entries) => {
    for (const entry of entries) {
      // The observer hands over the new border box: reading it forces no layout.
      const box = entry.borderBoxSize && entry.borderBoxSize[0];
      measured.set(entry.target, box ? box.inlineSize : entry.target.getBoundingClientRect().width);
      const last = drawn.get(entry.target);
      if (last && widthOf(entry.target) !== last.width) last.redraw();
    }
  });
  function remember(el, width, redraw) {
    drawn.set(el, { width, redraw });
    if (resized) resized.observe(el);
  }

  // Words of `text` in lines of at most `width` user units at `font`.
  function wrap(text, width, font = FONT) {
    const most = Math.max(8, Math.floor(width / (font * CHAR)));
    const lines = [""];
    for (const word of text.split(" ")) {
      const line = lines[lines.length - 1];
      if (line && line.length + 1 + word.length > most) lines.push(word);
      else lines[lines.length - 1] = line ? `${line} ${word}` : word;
    }
    return lines;
  }

  function hatchDefs(el) {
    const id = (name) => `hatch-${el.id || "chart"}-${name}`;
    const tile = { width: 6, height: 6, patternUnits: "userSpaceOnUse" };
    const defs = s("defs", {},
      s("pattern", { id: id("diagonal"), ...tile, patternTransform: "rotate(45)" }, s("path", { d: "M0,3H6" })),
      s("pattern", { id: id("cross"), ...tile, patternTransform: "rotate(45)" }, s("path", { d: "M0,3H6M3,0V6" })),
      s("pattern", { id: id("dots"), ...tile }, s("circle", { cx: 3, cy: 3, r: 1.3 })));
    return { defs, url: (hatch) => `url(#${id(hatch)})` };
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
    const W = widthOf(el);
    const root = svg(W, height, message);
    root.append(s("text", { x: W / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, message));
    el.replaceChildren(root);
    remember(el, W, () => empty(el, message, height));
  }

  // An axis label under the plot, wrapped to the chart's width; returns the height it takes.
  function axisLabel(root, text, x, yTop, W) {
    const lines = wrap(text, 2 * Math.min(x, W - x) - 8);
    lines.forEach((line, k) => root.append(s("text", { x, y: yTop + 14 + 16 * k, "text-anchor": "middle",
                                                      class: "axis-label" }, line)));
    return 16 * lines.length;
  }

  // rows: [{name, value, lo, hi, colorIndex, title, tag: {kind, label, title}}], drawn best first; x axis is the
  // importance share. A tag (the verdict) is written right of the values when there is room, else on the name's line
  // above the bar. Every bar is labelled with its name and carries its series' hatch as well as its colour.
  function bars(el, rows, options = {}) {
    if (!rows.length) return empty(el, "No ranking yet");
    const { xLabel = "importance (share of total, 0–1)" } = options;
    const W = widthOf(el);
    const tagW = rows.some((r) => r.tag) ? Math.max(...rows.map((r) => (r.tag ? r.tag.label.length : 0))) * 12.5 * CHAR + 22 : 0;
    const narrow = W < Math.max(NARROW, 138 + 56 + tagW + 200);
    // Narrow: the name (and verdict) on a line of their own, the bar under it across the whole width.
    const left = narrow ? 16 : 138, right = narrow ? 52 : 56 + tagW, top = 8, rowH = narrow ? 46 : 28;
    const barTop = narrow ? 22 : 5, barH = narrow ? 16 : rowH - 10;
    const plotBottom = top + rows.length * rowH;
    const xMax = Math.max(0.05, ...rows.map((r) => Math.max(r.hi ?? r.value, r.value))) * 1.04;
    const tickValues = ticks(0, xMax, narrow ? 4 : 5);
    const domain = tickValues[tickValues.length - 1] >= xMax ? tickValues[tickValues.length - 1] : xMax;
    const x = (v) => left + (Math.max(0, v) / domain) * (W - left - right);
    const root = svg(W, 0, "importance per hyperparameter with 95% confidence intervals");
    const hatches = hatchDefs(el);
    const grid = s("g", { class: "grid" }), axis = s("g", { class: "axis tick" });
    for (const t of tickValues) {
      grid.append(s("line", { x1: x(t), x2: x(t), y1: top, y2: plotBottom }));
      axis.append(s("text", { x: x(t), y: plotBottom + 16, "text-anchor": "middle" }, t.toFixed(2)));
    }
    root.append(hatches.defs, grid, axis);
    rows.forEach((r, i) => {
      const y = top + i * rowH, mid = y + barTop + barH / 2, { cls, hatch } = style(r.colorIndex ?? i);
      const nameAt = narrow ? { x: left + 12, y: y + 15, "text-anchor": "start" } : { x: left - 8, y: mid + 4.5, "text-anchor": "end" };
      const bar = { x: left, y: y + barTop, width: Math.max(0, x(r.value) - left), height: barH, rx: 2 };
      const g = s("g", { class: `bar ${cls}`, "data-name": r.name, "data-verdict": r.tag ? r.tag.kind : null,
                         "data-hatch": hatch || "none" },
        s("title", {}, r.title
          ?? `${r.name}: ${r.value.toFixed(3)} (95% CI ${(r.lo ?? r.value).toFixed(3)}–${(r.hi ?? r.value).toFixed(3)})`),
        s("text", nameAt, r.name),
        s("rect", { ...bar, class: "fill" }),
        hatch ? s("rect", { ...bar, class: "hatch", fill: hatches.url(hatch) }) : null);
      if (r.lo !== undefined && r.hi !== undefined) {
        g.append(s("g", { class: "whisker", "stroke-width": 1.6 },
          s("line", { x1: x(r.lo), x2: x(r.hi), y1: mid, y2: mid }),
          s("line", { x1: x(r.lo), x2: x(r.lo), y1: mid - 6, y2: mid + 6 }),
          s("line", { x1: x(r.hi), x2: x(r.hi), y1: mid - 6, y2: mid + 6 })));
      }
      g.append(s("text", { x: Math.max(x(r.value), x(r.hi ?? r.value)) + 6, y: mid + 4.5, class: "tick" },
        r.value.toFixed(3)));
      if (r.tag) {
        const verdict = narrow
          ? [s("circle", { cx: left + 4, cy: y + 10.5, r: 4.5 }),
             s("text", { x: W - 4, y: y + 15, "text-anchor": "end", "font-size": 12.5 }, r.tag.label)]
          : [s("circle", { cx: W - tagW + 12, cy: mid, r: 4.5 }),
             s("text", { x: W - tagW + 22, y: mid + 4.5, "font-size": 12.5 }, r.tag.label)];
        g.append(s("g", { class: "verdict", "data-verdict": r.tag.kind }, r.tag.title ? s("title", {}, r.tag.title) : null,
          verdict));
      }
      root.append(g);
    });
    root.append(s("g", { class: "axis" }, s("line", { x1: left, x2: left, y1: top, y2: plotBottom })));
    const H = plotBottom + 24 + axisLabel(root, xLabel, (left + W - right) / 2, plotBottom + 18, W) + 4;
    root.setAttribute("viewBox", `0 0 ${W} ${H}`);
    el.replaceChildren(root);
    remember(el, W, () => bars(el, rows, options));
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

  // The line a series draws: its points, or for a step series (a best so far) a value held until the next point and
  // to `extendTo` (where the data ends), so a flat stretch reads as "no improvement", not as a slope.
  function traced(sr) {
    if (!sr.step) return sr.points;
    const out = [];
    for (const p of sr.points) {
      if (out.length && Number.isFinite(p[1])) out.push([p[0], out[out.length - 1][1]]);
      out.push(p);
    }
    const last = out[out.length - 1];
    if (last && sr.extendTo !== undefined && sr.extendTo > last[0]) out.push([sr.extendTo, last[1]]);
    return out;
  }

  // series: [{name, points: [[x, y]], colorIndex, band: [[x, lo, hi]], title, step, extendTo, pointTitles}]; a band
  // is shaded behind all lines. A point whose y is null breaks its line there (no segment is drawn across it).
  // marks: [{x, label}] drawn as dashed verticals; gaps: [{x0, x1, label}] shaded spans (data the lines skip).
  function lines(el, series, options = {}) {
    const { xLabel, yLabel, yMin, yMax, xMin, marks = [], gaps = [], yFormat = (v) => String(v), height = 300,
            labelEnds = true, xInteger = false } = options;
    const points = series.flatMap((sr) => [...traced(sr), ...(sr.band || []).flatMap((p) => [[p[0], p[1]], [p[0], p[2]]])])
      .filter((p) => Number.isFinite(p[1]));
    if (!points.length) return empty(el, "No data yet", height);
    const W = widthOf(el);
    // Wide: each line is labelled at its end; narrow: the labels become a legend under the plot.
    const endLabels = labelEnds && W >= NARROW;
    const H = height, left = 58, right = endLabels ? 140 : 20, top = 22, bottom = 48;
    let x0 = Math.min(xMin ?? Infinity, ...points.map((p) => p[0])), x1 = Math.max(...points.map((p) => p[0]));
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    const xTicks = ticks(x0, x1, W < NARROW ? 4 : 6).filter((t) => t >= x0 && t <= x1 && (!xInteger || Number.isInteger(t)));
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
      const flip = x(m.x) > left + (W - left - right) / 2;
      root.append(s("g", { class: "mark" }, s("line", { x1: x(m.x), x2: x(m.x), y1: top - 4, y2: H - bottom }),
        s("text", { x: x(m.x) + (flip ? -4 : 4), y: top - 8, "text-anchor": flip ? "end" : "start", "font-size": 12 },
          m.label)));
    }
    // Many overlapping bands turn into a wash: fainter the more there are; hovering a line brings its band out.
    const bands = s("g", { class: "bands" }), bandOf = {};
    const opacity = series.filter((sr) => sr.band).length > 5 ? 0.06 : 0.1;
    series.forEach((sr, i) => {
      if (!sr.band) return;
      const paths = bandPaths(sr.band, x, y);
      if (paths.length) {
        bandOf[sr.name] = s("g", { class: `band ${style(sr.colorIndex ?? i).cls}`, "data-name": sr.name },
          paths.map((d) => s("path", { d, "fill-opacity": opacity, stroke: "none" })));
        bands.append(bandOf[sr.name]);
      }
    });
    root.append(bands);
    const ends = [];
    series.forEach((sr, i) => {
      const known = sr.points.filter((p) => Number.isFinite(p[1]));
      if (!known.length) return;
      const { cls, dash } = style(sr.colorIndex ?? i);
      let d = "", pen = "M";
      for (const p of traced(sr)) {
        if (!Number.isFinite(p[1])) { pen = "M"; continue; }
        d += `${pen}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`;
        pen = "L";
      }
      const g = s("g", { class: `series ${cls}`, "data-name": sr.name, "data-dash": dash || "solid" },
        s("title", {}, sr.title ?? sr.name),
        s("path", { d, fill: "none", "stroke-width": 2.2, "stroke-dasharray": dash || null, "stroke-linejoin": "round" }));
      if (bandOf[sr.name]) {
        g.addEventListener("mouseenter", () => bandOf[sr.name].classList.add("hot"));
        g.addEventListener("mouseleave", () => bandOf[sr.name].classList.remove("hot"));
      }
      if (known.length <= 40) {
        known.forEach((p) => g.append(s("circle", { cx: x(p[0]), cy: y(p[1]), r: 2.6 },
          sr.pointTitles ? s("title", {}, sr.pointTitles[sr.points.indexOf(p)]) : null)));
      }
      root.append(g);
      const drawnTo = traced(sr).filter((p) => Number.isFinite(p[1]));
      const last = drawnTo[drawnTo.length - 1];
      ends.push({ name: sr.name, cls, dash, y: y(last[1]) });
    });
    // A swatch of the line's own stroke and dash, then the name in the text colour (yellow text would be unreadable).
    const label = (e, sx, sy) => s("g", { class: `label ${e.cls}`, "data-name": e.name },
      s("line", { x1: sx, x2: sx + 16, y1: sy, y2: sy, class: "swatch", "stroke-width": 3, "stroke-dasharray": e.dash || null }),
      s("text", { x: sx + 20, y: sy + 4, "font-size": 12 }, e.name));
    let total = H;
    if (endLabels) {
      // Direct labels at the line ends, nudged apart so they never overlap.
      ends.sort((a, b) => a.y - b.y);
      for (let i = 1; i < ends.length; i++) ends[i].y = Math.max(ends[i].y, ends[i - 1].y + 14);
      const overflow = ends.length ? ends[ends.length - 1].y - (H - bottom) : 0;
      if (overflow > 0) ends.forEach((e) => { e.y -= overflow; });
      for (const e of ends) root.append(label(e, W - right + 4, e.y));
    } else if (labelEnds && ends.length) {
      const colW = 28 + Math.max(...ends.map((e) => e.name.length)) * 12 * CHAR;
      const columns = Math.max(1, Math.floor((W - 16) / colW));
      ends.forEach((e, k) => root.append(label(e, 8 + (k % columns) * colW, H + 6 + 18 * Math.floor(k / columns))));
      total = H + 12 + 18 * Math.ceil(ends.length / columns);
    }
    root.setAttribute("viewBox", `0 0 ${W} ${total}`);
    el.replaceChildren(root);
    remember(el, W, () => lines(el, series, options));
  }

  // points: [{label, mean, lo, hi, n}] in level order; a dot per level's mean with its 95% CI whisker, a dashed line
  // at the overall mean, and dotted lines at overall mean ± delta (the band "no detectable effect" must fit in).
  function levels(el, points, options = {}) {
    const shown = points.filter((p) => p.mean !== null && p.mean !== undefined);
    if (!shown.length) return empty(el, "No trials yet", 90);
    const { yLabel = "mean", overall = null, delta = null, colorIndex = 0, format = (v) => v.toPrecision(3) } = options;
    const W = widthOf(el), H = 156, left = 48, right = 10, top = 8, bottom = 46;
    const values = shown.flatMap((p) => [p.lo ?? p.mean, p.hi ?? p.mean]);
    if (overall !== null && delta !== null) values.push(overall - delta, overall + delta);
    let lo = Math.min(...values), hi = Math.max(...values);
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    const y = (v) => top + (H - top - bottom) * (1 - (v - lo) / (hi - lo));
    const step = (W - left - right) / points.length;
    const x = (i) => left + step * (i + 0.5);
    const root = svg(W, H, `${yLabel} per level`);
    const st = style(colorIndex);
    const grid = s("g", { class: "grid" });
    for (const t of ticks(lo, hi, 3)) {
      grid.append(s("line", { x1: left, x2: W - right, y1: y(t), y2: y(t) }),
        s("text", { x: left - 4, y: y(t) + 4, "text-anchor": "end", class: "tick" }, format(t)));
    }
    root.append(grid);
    if (overall !== null) {
      root.append(s("line", { x1: left, x2: W - right, y1: y(overall), y2: y(overall), class: "overall" }));
      if (delta !== null) {
        for (const edge of [overall - delta, overall + delta]) {
          root.append(s("line", { x1: left, x2: W - right, y1: y(edge), y2: y(edge), class: "delta" }));
        }
      }
    }
    const series = s("g", { class: `series ${st.cls}` });
    points.forEach((p, i) => {
      if (p.mean === null || p.mean === undefined) return;
      const g = s("g", { class: "level" }, s("title", {}, `${p.label}: mean ${format(p.mean)}`
        + (p.lo !== null && p.lo !== undefined ? ` (95% CI ${format(p.lo)}–${format(p.hi)})` : "") + `, ${p.n} trials`));
      if (p.lo !== null && p.lo !== undefined) g.append(s("line", { x1: x(i), x2: x(i), y1: y(p.lo), y2: y(p.hi), class: "whisker" }));
      g.append(s("circle", { cx: x(i), cy: y(p.mean), r: 3.5 }));
      series.append(g);
    });
    root.append(series);
    // Tick labels: a level's short name (a bin's lower value), every k-th one where they would touch.
    const tick = (p) => p.tick || p.label;
    const longest = Math.max(...points.map((p) => tick(p).length));
    const every = Math.max(1, Math.ceil((points.length * (longest + 1) * CHAR * 11) / (W - left - right)));
    points.forEach((p, i) => {
      if (i % every) return;
      root.append(s("text", { x: x(i), y: H - bottom + 14, "text-anchor": "middle", class: "tick", "font-size": 11 }, tick(p)));
    });
    axisLabel(root, yLabel, W / 2, H - bottom + 16, W);
    el.replaceChildren(root);
    remember(el, W, () => levels(el, points, options));
  }

  return { bars, lines, levels, measure, style, N_COLOURS };
})();
