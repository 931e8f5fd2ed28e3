// stallscope fleet dashboard: plain JS + inline SVG over the collector's /api/v1.
// Drill-down state lives in the URL hash (#service=..&host=..&pid=..) so views can be shared.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#d9480f", "#1c7ed6", "#2b8a3e", "#ae3ec9", "#f08c00", "#0c8599", "#c2255c", "#5c940d", "#3b5bdb", "#868e96"];
const state = { service: "", host: "", pid: "", range: "1h" };
let kinds = [];
let timer = null;

// ---------- helpers ----------
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function fill(id, ...nodes) {
  const target = document.getElementById(id);
  target.replaceChildren(...nodes);
}
function empty(text) { return el("div", { class: "empty" }, text); }
function fmtDur(ns) {
  ns = Number(ns);
  if (ns < 1e6) return (ns / 1e3).toFixed(0) + " µs";
  if (ns < 1e9) return (ns / 1e6).toFixed(1) + " ms";
  if (ns < 60e9) return (ns / 1e9).toFixed(2) + " s";
  if (ns < 3600e9) return (ns / 60e9).toFixed(1) + " min";
  return (ns / 3600e9).toFixed(1) + " h";
}
function fmtTime(ns) {
  const d = new Date(Number(ns) / 1e6);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}
function colorFor(key, keys) {
  const i = keys.indexOf(key);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
}
function rangeNs() {
  const m = /^(\d+)([mh])$/.exec(state.range);
  return Number(m[1]) * (m[2] === "m" ? 60e9 : 3600e9);
}
function filters(extra) {
  const p = new URLSearchParams();
  p.set("since", state.range);
  if (state.service) p.set("service", state.service);
  if (state.host) p.set("host", state.host);
  if (state.pid) p.set("pid", state.pid);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p.toString();
}
async function api(path, extra) {
  const res = await fetch(path + "?" + filters(extra), { cache: "no-store" });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}
function frameLabel(f) {
  if (f.kind === "PYTHON" || f.file) return (f.function || "?") + (f.file ? " (" + f.file + ":" + f.line + ")" : "");
  return (f.function || "0x" + Number(f.address).toString(16)) + (f.module ? " (" + f.module + ")" : "");
}
// What the report says about its Python frames: the asyncio Task, or why there are none.
function pythonNote(block) {
  if (!block) return "";
  if (block.asyncioTask || block.asyncioCoro) return "asyncio task " + (block.asyncioTask || "?") + " (coroutine " + (block.asyncioCoro || "?") + ")";
  if (block.pythonStackReason) return "python frames: none (" + block.pythonStackReason + ")";
  return "";
}
function stackBlock(block) {
  const frames = (block && block.stack) || [];
  const note = pythonNote(block);
  if (!frames.length) return el("div", { class: "stack" }, "(no stack)" + (note ? "\n" + note : ""));
  const box = el("div", { class: "stack" });
  frames.forEach((f, i) => {
    const py = f.kind === "PYTHON";
    box.append(el("span", { class: py ? "py" : "native" }, "#" + String(i).padEnd(3) + frameLabel(f)), "\n");
  });
  if (note) box.append(el("span", { class: "muted" }, note), "\n");
  return box;
}
function agentOf(r) { return r.agent || {}; }

// ---------- state / drill-down ----------
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  state.service = p.get("service") || "";
  state.host = p.get("host") || "";
  state.pid = p.get("pid") || "";
  state.range = p.get("range") || state.range;
}
function go(changes) {
  Object.assign(state, changes);
  const p = new URLSearchParams();
  for (const k of ["service", "host", "pid", "range"]) if (state[k]) p.set(k, state[k]);
  location.hash = p.toString();
}
function renderCrumbs() {
  const parts = [el("a", { onclick: () => go({ service: "", host: "", pid: "" }) }, "fleet")];
  if (state.service) parts.push(" › ", el("a", { onclick: () => go({ host: "", pid: "" }) }, "service " + state.service));
  if (state.host) parts.push(" › ", el("a", { onclick: () => go({ pid: "" }) }, "host " + state.host));
  if (state.pid) parts.push(" › ", el("span", {}, "pid " + state.pid));
  fill("crumbs", ...parts);
  document.getElementById("range").value = state.range;
}

// ---------- panels ----------
function renderTimeline(reports) {
  const W = 1200, H = 220, L = 56, R = 10, T = 10, B = 24;
  // Zoom to the stalls when they cover only a small part of the range (a fresh deployment).
  const now = Date.now() * 1e6;
  const times = reports.map(r => Number(r.loopBlock.startTimeUnixNano)).filter(t => t >= now - rangeNs());
  const oldest = times.length ? Math.min(...times) : now - rangeNs();
  const t0 = Math.max(now - rangeNs(), oldest - Math.max(60e9, (now - oldest) * 0.1));
  const services = [...new Set(reports.map(r => agentOf(r).service || ""))];
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "stalls over time" });
  const maxD = Math.max(1e9, ...reports.map(r => Number(r.loopBlock.durationNs)));
  const minD = 1e7;
  const x = t => L + (W - L - R) * (t - t0) / (now - t0);
  const y = d => T + (H - T - B) * (1 - Math.log(Math.max(d, minD) / minD) / Math.log(maxD / minD));
  const axis = svg("g", { class: "axis" });
  for (const d of [1e7, 1e8, 1e9, 1e10, 1e11]) {
    if (d > maxD * 1.01) break;
    axis.append(svg("line", { x1: L, x2: W - R, y1: y(d), y2: y(d) }), svg("text", { x: L - 6, y: y(d) + 3, "text-anchor": "end" }, fmtDur(d)));
  }
  for (let i = 0; i <= 6; i++) {
    const t = t0 + (now - t0) * i / 6;
    axis.append(svg("text", { x: x(t), y: H - 6, "text-anchor": i === 0 ? "start" : i === 6 ? "end" : "middle" }, fmtTime(t).slice(0, 8)));
  }
  box.append(axis);
  for (const r of reports) {
    const b = r.loopBlock, a = agentOf(r);
    const t = Number(b.startTimeUnixNano);
    if (t < t0) continue;
    const c = svg("circle", {
      cx: x(t), cy: y(Number(b.durationNs)), r: 4, fill: colorFor(a.service || "", services), "fill-opacity": 0.7,
      onclick: () => go({ host: a.host || "", pid: String(b.pid) }),
    });
    c.append(svg("title", {}, `${fmtDur(b.durationNs)} at ${fmtTime(t)} — ${a.service || "(no service)"} ${a.host || ""} pid ${b.pid}\n${b.wait || ""}`));
    box.append(c);
  }
  const legend = el("div", { class: "legend" }, ...services.map(s => el("span", {}, el("i", { style: "background:" + colorFor(s, services) }), s || "(no service)")));
  if (!reports.length) fill("timeline", empty("no stalls in this range"));
  else fill("timeline", box, legend);
  document.getElementById("timeline-note").textContent = reports.length ? `${reports.length} stalls (click one to drill down)` : "";
}

function renderMinutes(buckets, stepNs) {
  if (!buckets.length) return fill("minutes");
  const W = 1200, H = 70, L = 56, R = 10;
  const now = Date.now() * 1e6;
  const oldest = Math.min(...buckets.map(b => b.timeNs));
  const t0 = Math.max(now - rangeNs(), oldest - Math.max(60e9, (now - oldest) * 0.1));
  buckets = buckets.filter(b => b.timeNs >= t0);
  if (!buckets.length || stepNs * 4 > now - t0) return fill("minutes");  // too coarse to say anything
  const max = Math.max(1, ...buckets.map(b => b.totalNs));
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "stalled time per interval" });
  const bw = Math.max(2, (W - L - R) * stepNs / (now - t0) - 1);
  for (const b of buckets) {
    const h = (H - 14) * b.totalNs / max;
    const rect = svg("rect", { x: L + (W - L - R) * (b.timeNs - t0) / (now - t0), y: H - 12 - h, width: bw, height: h, fill: "#d9480f", "fill-opacity": 0.55 });
    rect.append(svg("title", {}, `${fmtTime(b.timeNs).slice(0, 5)}: ${b.count} stalls, ${fmtDur(b.totalNs)} stalled`));
    box.append(rect);
  }
  box.append(svg("text", { x: L - 6, y: 12, "text-anchor": "end", class: "axis", "font-size": 10, fill: "#6b7385" }, fmtDur(max)));
  box.append(svg("text", { x: L, y: H - 1, "font-size": 10, fill: "#6b7385" }, "stalled time per " + fmtDur(stepNs)));
  fill("minutes", box);
}

function renderSites(sites) {
  if (!sites.length) return fill("sites", empty("no stalls in this range"));
  const max = sites[0].totalNs || 1;
  const table = el("table", {}, el("tr", {}, el("th", {}, "call site"), el("th", { class: "num" }, "stalls"), el("th", { class: "num" }, "total"), el("th", { class: "num" }, "longest")));
  for (const s of sites) {
    const detail = el("tr", { hidden: "" }, el("td", { colspan: 4 }, s.example ? stackBlock(s.example.loopBlock) : ""));
    const row = el("tr", { class: "clickable", onclick: () => detail.toggleAttribute("hidden") },
      el("td", {}, el("div", { class: "site" }, s.site || "(no stack)"), el("div", { class: "bar", style: `width:${100 * s.totalNs / max}%` })),
      el("td", { class: "num" }, s.count), el("td", { class: "num" }, fmtDur(s.totalNs)), el("td", { class: "num" }, fmtDur(s.maxNs)));
    table.append(row, detail);
  }
  fill("sites", table, el("div", { class: "muted" }, "click a call site for the stack of its longest stall (Python frames in green)"));
}

function renderServices(services) {
  if (!services.length) return fill("services", empty("no stalls in this range"));
  const max = services[0].totalNs || 1;
  const table = el("table", {}, el("tr", {}, el("th", {}, "service"), el("th", { class: "num" }, "stalls"), el("th", { class: "num" }, "stalled")));
  for (const s of services) {
    table.append(el("tr", { class: "clickable", onclick: () => go({ service: s.service, host: "", pid: "" }) },
      el("td", {}, s.service || "(no service)", el("div", { class: "bar", style: `width:${100 * s.totalNs / max}%` })),
      el("td", { class: "num" }, s.count), el("td", { class: "num" }, fmtDur(s.totalNs))));
  }
  fill("services", table);
}

function renderProcesses(procs) {
  if (!procs.length) return fill("processes", empty("no stalls in this range"));
  const table = el("table", {}, el("tr", {}, el("th", {}, "host"), el("th", {}, "service"), el("th", { class: "num" }, "pid"), el("th", { class: "num" }, "stalls"), el("th", { class: "num" }, "stalled"), el("th", { class: "num" }, "longest")));
  for (const p of procs) {
    table.append(el("tr", {},
      el("td", {}, el("a", { onclick: () => go({ host: p.host, pid: "" }) }, p.host)),
      el("td", {}, p.service || ""),
      el("td", { class: "num" }, el("a", { onclick: () => go({ host: p.host, pid: String(p.pid) }) }, p.pid)),
      el("td", { class: "num" }, p.count), el("td", { class: "num" }, fmtDur(p.totalNs)), el("td", { class: "num" }, fmtDur(p.maxNs))));
  }
  fill("processes", table);
}

function renderFlame(data) {
  const root = data.root;
  document.getElementById("flame-note").textContent = data.stalls ? `${data.stalls} stalls, ${fmtDur(root.value)} stalled; click to zoom` : "";
  if (!root.value) return fill("flame", empty("no stalls in this range"));
  let focus = root;
  const W = 1200, RH = 18;
  const depthOf = n => 1 + Math.max(0, ...(n.children || []).map(depthOf));
  const draw = () => {
    const depth = Math.min(40, depthOf(focus));
    const box = svg("svg", { viewBox: `0 0 ${W} ${depth * RH}`, class: "flame", role: "img", "aria-label": "flame graph" });
    const walk = (n, x, w, d) => {
      if (d >= depth || w < 0.5) return;
      const hue = n === focus ? 20 : 15 + (n.name.length * 7) % 30;
      const py = /\.py:\d+\)$/.test(n.name);
      const g = svg("g", { onclick: () => { focus = n === focus ? root : n; draw(); } });
      g.append(svg("rect", { x, y: d * RH, width: w, height: RH - 1, fill: py ? `hsl(${100 + hue},45%,62%)` : `hsl(${hue},80%,${62 + (d % 3) * 5}%)` }));
      g.append(svg("title", {}, `${n.name}\n${fmtDur(n.value)} (${(100 * n.value / root.value).toFixed(1)}% of stalled time)`));
      if (w > 40) {
        const chars = Math.floor((w - 6) / 6.6);
        g.append(svg("text", { x: x + 3, y: d * RH + 13 }, n.name.length > chars ? n.name.slice(0, chars - 1) + "…" : n.name));
      }
      box.append(g);
      let cx = x;
      for (const c of n.children || []) {
        const cw = w * c.value / n.value;
        walk(c, cx, cw, d + 1);
        cx += cw;
      }
    };
    walk(focus, 0, W, 0);
    fill("flame", box, el("div", { class: "muted" }, "root at the top; Python frames in green; width = stalled time"));
  };
  draw();
}

function numericFields(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj || {})) {
    const n = Number(v);
    if ((typeof v === "number" || (typeof v === "string" && /^\d+$/.test(v))) && !/time|pid|seq/i.test(k)) out[k] = n;
  }
  return out;
}

const POOL_FIELDS = ["size", "busy", "busyPeak", "maxQueued"];
const POOL_FIELD_NAMES = { size: "members", busy: "busy (mean)", busyPeak: "busy (peak)", maxQueued: "queued (peak)" };

function renderPoolSeries(reports) {
  // One small chart per pool: members, busy (mean and peak) and queued connections over time,
  // on one scale of workers (rates and counters would flatten them), newest reports last.
  const byPool = new Map();
  for (const r of reports.slice().reverse()) {
    const m = r.poolUtilization || {};
    const a = agentOf(r);
    const pool = m.pool || m.poolName || m.name || "pool";
    const name = `${a.host || ""} ${pool}${/\bpid\b/.test(pool) ? "" : ` (pid ${m.pid || "?"})`}`;
    if (!byPool.has(name)) byPool.set(name, []);
    byPool.get(name).push({ t: Number(m.timeUnixNano || m.startTimeUnixNano || 0), v: numericFields(m) });
  }
  const charts = [];
  for (const [name, points] of byPool) {
    const fields = POOL_FIELDS.filter(f => points.some(p => f in p.v));
    if (!fields.length) continue;
    // A wide, short viewBox scales with the panel; text stays in HTML (legend) so it keeps
    // its size at 390 px.
    const W = 560, H = 110, L = 30;
    const t0 = Math.min(...points.map(p => p.t)), t1 = Math.max(...points.map(p => p.t), t0 + 1);
    const max = Math.max(1, ...points.flatMap(p => fields.map(f => p.v[f] || 0)));
    const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": name });
    fields.forEach((f, i) => {
      const d = points.map((p, j) => `${j ? "L" : "M"}${L + (W - L - 4) * (p.t - t0) / (t1 - t0)},${H - 4 - (H - 8) * (p.v[f] || 0) / max}`).join(" ");
      box.append(svg("path", { d, fill: "none", stroke: PALETTE[i % PALETTE.length], "stroke-width": 1.5 }));
    });
    box.append(svg("line", { x1: L, x2: W, y1: 4, y2: 4, stroke: "#e3e6ec" }));
    const last = points[points.length - 1].v;
    charts.push(el("div", { class: "pool-chart" }, el("div", { class: "muted site" }, `${name}: top of chart = ${max}`), box,
      el("div", { class: "legend" }, ...fields.map((f, i) => el("span", {}, el("i", { style: "background:" + PALETTE[i % PALETTE.length] }),
        `${POOL_FIELD_NAMES[f]} ${last[f] === undefined ? "" : +last[f].toFixed(1)}`)))));
  }
  return charts;
}

async function renderPools() {
  const hasSat = kinds.includes("pool_saturation"), hasUtil = kinds.includes("pool_utilization");
  if (!hasSat && !hasUtil) return fill("pools", empty("no pool reports yet"));
  const parts = [];
  if (hasSat) {
    const pools = (await api("/api/v1/summary/pools")).pools;
    if (pools.length) {
      const table = el("table", {}, el("tr", {}, el("th", {}, "pool"), el("th", {}, "service / host"), el("th", { class: "num" }, "saturations"), el("th", { class: "num" }, "saturated")));
      for (const p of pools) table.append(el("tr", {}, el("td", {}, p.pool || "(unnamed)"), el("td", {}, `${p.service} / ${p.host}`), el("td", { class: "num" }, p.count), el("td", { class: "num" }, fmtDur(p.totalNs))));
      parts.push(table);
    }
  }
  if (hasUtil) {
    const util = (await api("/api/v1/reports", { kind: "pool_utilization", limit: 2000 })).reports;
    parts.push(...renderPoolSeries(util));
  }
  fill("pools", ...(parts.length ? parts : [empty("no pool reports yet")]));
}

async function renderAccept() {
  if (!kinds.includes("socket_lifetime")) return fill("accept", empty("no socket reports yet"));
  const reports = (await api("/api/v1/reports", { kind: "socket_lifetime", limit: 5000 })).reports;
  const waits = [];
  for (const r of reports) {
    if (r.socketLifetime && r.socketLifetime.accepted === false) continue;  // outbound, or never accepted
    for (const [k, v] of Object.entries(r.socketLifetime || {})) if (/accept/i.test(k) && /Ns$/.test(k)) { waits.push(Number(v)); break; }
  }
  if (!waits.length) return fill("accept", empty("no accept-queue waits in this range"));
  const bounds = [1e6, 5e6, 1e7, 5e7, 1e8, 5e8, 1e9, Infinity];
  const counts = bounds.map(() => 0);
  for (const w of waits) counts[bounds.findIndex(b => w <= b)]++;
  const max = Math.max(...counts);
  const table = el("table", {}, el("tr", {}, el("th", {}, "wait up to"), el("th", { class: "num" }, "connections"), el("th", {}, "")));
  bounds.forEach((b, i) => table.append(el("tr", {}, el("td", {}, b === Infinity ? "longer" : fmtDur(b)), el("td", { class: "num" }, counts[i]),
    el("td", { style: "width:50%" }, el("div", { class: "bar", style: `width:${100 * counts[i] / max}%;background:#1c7ed6` })))));
  fill("accept", table);
}

function renderRecent(reports) {
  if (!reports.length) return fill("recent", empty("no stalls in this range"));
  const table = el("table", {}, el("tr", {}, el("th", {}, "time"), el("th", {}, "service / host / pid"), el("th", { class: "num" }, "stalled"), el("th", {}, "why")));
  for (const r of reports.slice(0, 25)) {
    const b = r.loopBlock, a = agentOf(r);
    const call = (b.syscalls || [])[0];
    const py = (b.stack || []).find(f => f.kind === "PYTHON");
    // The agent's one-line cause (older agents: the first syscall and Python frame).
    const why = b.cause || [call ? `${call.name} ${call.target || ""}` : "", py ? "at " + frameLabel(py) : ""].join(" ").trim();
    const detail = el("tr", { hidden: "" }, el("td", { colspan: 4 }, el("div", { class: "site" }, el("b", {}, "why: "), why), stackBlock(b)));
    table.append(el("tr", { class: "clickable", onclick: () => detail.toggleAttribute("hidden") },
      el("td", {}, fmtTime(b.startTimeUnixNano)),
      el("td", {}, `${a.service || "-"} / ${a.host || "-"} / ${b.pid} (${b.processComm || b.comm || ""})`),
      el("td", { class: "num" }, fmtDur(b.durationNs)),
      el("td", { class: "site" }, why)), detail);
  }
  fill("recent", table);
}

async function refreshServices() {
  const all = await fetch("/api/v1/summary/services?since=" + encodeURIComponent(state.range), { cache: "no-store" }).then(r => r.json());
  const sel = document.getElementById("service");
  const names = (all.services || []).map(s => s.service);
  if (state.service && !names.includes(state.service)) names.push(state.service);
  sel.replaceChildren(el("option", { value: "" }, "all"), ...names.map(n => el("option", { value: n }, n || "(no service)")));
  sel.value = state.service;
}

async function refresh() {
  renderCrumbs();
  const status = document.getElementById("status");
  status.textContent = "loading…";
  const step = rangeNs() <= 3600e9 ? "60s" : rangeNs() <= 86400e9 ? "600s" : "3600s";
  const jobs = [
    refreshServices(),
    api("/api/v1/reports", { kind: "loop_block", final: "true", limit: 2000 }).then(d => { renderTimeline(d.reports); renderRecent(d.reports); }),
    api("/api/v1/summary/timeline", { step }).then(d => renderMinutes(d.buckets, d.stepNs)),
    api("/api/v1/summary/sites", { limit: 15 }).then(d => renderSites(d.sites)),
    api("/api/v1/summary/services").then(d => renderServices(d.services)),
    api("/api/v1/summary/processes", { limit: 30 }).then(d => renderProcesses(d.processes)),
    api("/api/v1/flamegraph").then(renderFlame),
    renderPools(),
    renderAccept(),
  ];
  const results = await Promise.allSettled(jobs);
  const failed = results.filter(r => r.status === "rejected");
  status.textContent = failed.length ? "error: " + failed[0].reason.message : "updated " + new Date().toLocaleTimeString([], { hour12: false });
}

function schedule() {
  if (timer) clearInterval(timer);
  timer = document.getElementById("auto").checked ? setInterval(refresh, 10000) : null;
}

async function main() {
  readHash();
  kinds = (await fetch("/api/v1/kinds").then(r => r.json())).kinds || [];
  document.getElementById("range").addEventListener("change", e => go({ range: e.target.value }));
  document.getElementById("service").addEventListener("change", e => go({ service: e.target.value, host: "", pid: "" }));
  document.getElementById("auto").addEventListener("change", schedule);
  window.addEventListener("hashchange", () => { readHash(); refresh(); });
  await refresh();
  schedule();
  document.body.dataset.ready = "1";  // for tests: the first render is complete
}

main().catch(e => { document.getElementById("status").textContent = "error: " + e.message; });
