// connlog viewer: live runs list, copy buttons, waterfall collapse/filter. No dependencies.
"use strict";

// Runs list: while a run is running, re-read the rows fragment every few seconds.
(function liveRuns() {
  const table = document.getElementById("runs");
  if (!table) return;
  const body = document.getElementById("runs-body");
  const note = document.getElementById("live-note");
  const url = table.dataset.fragment;
  const every = Number(document.body.dataset.poll || 3000);
  function running() { return body.querySelector('tr[data-status="running"]') !== null; }
  async function tick() {
    if (running()) {
      try {
        const resp = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
        if (resp.ok) { body.innerHTML = await resp.text(); }
      } catch (e) { /* the next tick tries again */ }
    }
    if (note) note.hidden = !running();
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
})();

// Copy buttons: copy the text of the element named by data-copy.
document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button.copy");
  if (!btn) return;
  const el = document.getElementById(btn.dataset.copy);
  if (!el) return;
  navigator.clipboard.writeText(el.textContent).then(() => { btn.textContent = "Copied"; },
    () => { btn.textContent = "Select and copy"; });
});

// Waterfall: fold a span's children, filter by text, step through the errors. Written for
// runs of thousands of spans: each row's text is lower-cased once, the filter waits for a
// pause in typing, and rows off screen are not laid out (CSS content-visibility).
(function waterfall() {
  const root = document.getElementById("waterfall");
  if (!root) return;
  const rows = Array.from(root.querySelectorAll(".span-row"));
  const byId = new Map(rows.map((r) => [r.dataset.id, r]));
  // Rows come depth-first, so a row's parent is the last row seen one level up: the page
  // need not repeat each parent's id on every row.
  const parentOf = new Map();
  const children = new Map();
  const path = [];
  rows.forEach((r) => {
    const d = Number(r.dataset.depth);
    path.length = d;
    const p = d > 0 ? path[d - 1] : undefined;
    if (p) {
      parentOf.set(r, p);
      if (!children.has(p)) children.set(p, []);
      children.get(p).push(r);
    }
    path[d] = r;
  });
  const count = document.getElementById("span-count");
  const total = rows.length;
  function shown() {
    if (count) count.textContent = `${rows.filter((r) => !r.hidden).length} of ${total} spans shown`;
  }
  function setHidden(row, hidden) {
    (children.get(row) || []).forEach((c) => {
      c.hidden = hidden;
      if (!c.classList.contains("collapsed")) setHidden(c, hidden);
    });
  }
  function reveal(row) {
    // Unfold every ancestor of `row`, so a span found by error or link is seen in its place.
    const chain = [];
    for (let p = parentOf.get(row); p && !chain.includes(p); p = parentOf.get(p)) chain.unshift(p);
    chain.forEach((p) => { p.hidden = false; if (p.classList.contains("collapsed")) { p.classList.remove("collapsed"); setHidden(p, false); } });
    row.hidden = false;
  }
  root.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button.fold");
    if (!btn) return;
    const row = btn.closest(".span-row");
    const collapse = !row.classList.contains("collapsed");
    row.classList.toggle("collapsed", collapse);
    setHidden(row, collapse);
    shown();
  });
  document.getElementById("collapse-all").addEventListener("click", () => {
    rows.forEach((r) => { if (r.dataset.depth === "1") { r.classList.add("collapsed"); setHidden(r, true); } });
    shown();
  });
  document.getElementById("expand-all").addEventListener("click", () => {
    rows.forEach((r) => { r.classList.remove("collapsed"); r.hidden = false; });
    shown();
  });
  const errors = rows.filter((r) => r.classList.contains("span-error"));
  const errorButton = document.getElementById("first-error");
  let nextError = 0;
  if (!errors.length) { errorButton.disabled = true; errorButton.textContent = "No error"; }
  errorButton.addEventListener("click", () => {
    if (!errors.length) return;
    const err = errors[nextError % errors.length];
    root.querySelectorAll(".span-row.current").forEach((r) => r.classList.remove("current"));
    reveal(err);
    err.classList.add("hit", "current");
    err.scrollIntoView({ block: "center" });
    nextError += 1;
    errorButton.textContent = `Next error (${((nextError - 1) % errors.length) + 1} of ${errors.length})`;
    shown();
  });
  const haystack = new Map();
  function textOf(r) {
    if (!haystack.has(r)) haystack.set(r, `${r.textContent} ${r.querySelector(".bar").title || ""}`.toLowerCase());
    return haystack.get(r);
  }
  const filter = document.getElementById("span-filter");
  let timer = 0;
  function applyFilter() {
    const text = filter.value.trim().toLowerCase();
    rows.forEach((r) => {
      const match = !text || textOf(r).includes(text);
      r.hidden = !match;
      r.classList.toggle("hit", Boolean(text) && match);
    });
    if (!text) rows.forEach((r) => { if (r.classList.contains("collapsed")) setHidden(r, true); });
    shown();
  }
  filter.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(applyFilter, rows.length > 1000 ? 150 : 0); });
  if (location.hash) {
    const target = byId.get(location.hash.slice(1));
    if (target) { reveal(target); target.classList.add("hit"); target.scrollIntoView({ block: "center" }); }
  }
  shown();
})();
