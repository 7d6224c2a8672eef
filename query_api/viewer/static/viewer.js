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

// Waterfall: fold a span's children, filter by text, jump to the first error.
(function waterfall() {
  const root = document.getElementById("waterfall");
  if (!root) return;
  const rows = Array.from(root.querySelectorAll(".span-row"));
  const children = new Map();
  rows.forEach((r) => {
    const p = r.dataset.parent;
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(r);
  });
  function setHidden(row, hidden) {
    (children.get(row.dataset.id) || []).forEach((c) => {
      c.hidden = hidden;
      if (!c.classList.contains("collapsed")) setHidden(c, hidden);
    });
  }
  root.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button.fold");
    if (!btn) return;
    const row = btn.closest(".span-row");
    const collapse = !row.classList.contains("collapsed");
    row.classList.toggle("collapsed", collapse);
    setHidden(row, collapse);
  });
  document.getElementById("collapse-all").addEventListener("click", () => {
    rows.forEach((r) => { if (r.dataset.depth === "1") { r.classList.add("collapsed"); setHidden(r, true); } });
  });
  document.getElementById("expand-all").addEventListener("click", () => {
    rows.forEach((r) => { r.classList.remove("collapsed"); r.hidden = false; });
  });
  document.getElementById("first-error").addEventListener("click", () => {
    const err = root.querySelector(".span-error");
    if (err) { err.hidden = false; err.scrollIntoView({ block: "center" }); err.classList.add("hit"); }
  });
  const filter = document.getElementById("span-filter");
  filter.addEventListener("input", () => {
    const text = filter.value.trim().toLowerCase();
    rows.forEach((r) => {
      const match = !text || r.textContent.toLowerCase().includes(text) || (r.querySelector(".bar").title || "").toLowerCase().includes(text);
      r.hidden = !match;
      r.classList.toggle("hit", Boolean(text) && match);
    });
  });
  if (location.hash) {
    const target = root.querySelector(`[data-id="${CSS.escape(location.hash.slice(1))}"]`);
    if (target) { target.classList.add("hit"); target.scrollIntoView({ block: "center" }); }
  }
})();
