// Shared helpers: JSON API calls (with the CSRF token), DOM building, formatting, live events, theme.
"use strict";

const SR = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  async function request(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") {
      init.headers["X-CSRF-Token"] = csrf;
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch(url, init);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.error || `HTTP ${response.status}`);
      error.status = response.status;
      error.errors = data.errors || []; // [{field, message}] for a request the server refused field by field
      throw error;
    }
    return data;
  }

  // h("td", {class: "num"}, "text", child): children are text or nodes, never parsed HTML.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function progress(fraction) {
    const fill = h("span");
    fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
    return h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
                      "aria-valuenow": Math.round(fraction * 100) }, fill);
  }

  const fmt = {
    pct: (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`),
    share: (x) => (x === null || x === undefined ? "–" : x.toFixed(3)),
    num: (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toPrecision(digits)),
    // A trial of a model-based sweep has no config until it is dispatched (asked from its study): a dash.
    value: (x) =>
      x === undefined || x === null
        ? "–"
        : typeof x === "number" && !Number.isInteger(x)
          ? Number(x.toPrecision(3)).toString()
          : String(x),
    duration(s) {
      if (s === null || s === undefined || !isFinite(s)) return "–";
      if (s < 10) return `${Math.max(0, s).toFixed(1)} s`;
      s = Math.round(s);
      if (s < 60) return `${s} s`;
      if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
      const hours = Math.floor(s / 3600);
      return hours < 48 ? `${hours} h ${Math.round((s % 3600) / 60)} min` : `${Math.round(hours / 24)} d`;
    },
    ago: (s) => (s < 1.5 ? "just now" : `${fmt.duration(s)} ago`),
    time: (t) => new Date(t * 1000).toLocaleTimeString(),
    metric: (name, x) => (x === null || x === undefined ? "–" : name.includes("loss") ? x.toFixed(4) : fmt.pct(x)),
  };

  // Run fn at most once per `ms`, and never while its previous run is still in flight (fn may return a promise):
  // calls in between are folded into one trailing call, so a slow server never has requests piling up.
  function throttle(fn, ms) {
    let busy = false, pending = false;
    return async function run() {
      if (busy) { pending = true; return; }
      busy = true;
      try {
        await fn();
      } catch (err) {
        console.error(err);
      }
      setTimeout(() => { busy = false; if (pending) { pending = false; run(); } }, ms);
    };
  }

  // Requests for one view overlap (a timer, an action, a live event) and their answers arrive in any order. Each
  // request takes a number when asked; an answer asked before the one drawn last is dropped, so a view never
  // steps back to an older reading.
  function inOrder() {
    let asked = 0, drawn = 0;
    return {
      ask: () => ++asked,
      isLatest(number) {
        if (number < drawn) return false;
        drawn = number;
        return true;
      },
    };
  }

  // One EventSource per page; it reconnects by itself (the server sends `retry:`).
  function live(onChange) {
    const badge = document.getElementById("live");
    badge.hidden = false;
    const source = new EventSource("/events");
    source.addEventListener("hello", () => { badge.dataset.state = "on"; badge.title = "live updates: connected"; });
    source.addEventListener("change", (event) => onChange(JSON.parse(event.data)));
    source.onerror = () => { badge.dataset.state = "off"; badge.title = "live updates: reconnecting…"; };
    return source;
  }

  document.getElementById("theme-toggle").addEventListener("click", () => {
    const root = document.documentElement;
    const dark = root.dataset.theme ? root.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = dark ? "light" : "dark";
    localStorage.setItem("sweeprank-theme", root.dataset.theme);
    document.dispatchEvent(new Event("themechange"));
  });

  return { get: (url) => request("GET", url), post: (url, body) => request("POST", url, body), h, progress, fmt,
           throttle, inOrder, live };
})();
