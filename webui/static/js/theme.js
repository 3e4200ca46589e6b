// Runs in <head> so the chosen theme applies before the first paint.
(function () {
  const saved = localStorage.getItem("sweeprank-theme");
  if (saved === "dark" || saved === "light") document.documentElement.dataset.theme = saved;
})();
