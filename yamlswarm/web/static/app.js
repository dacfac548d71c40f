// yamlswarm live web UI: one EventSource, a table, four SVG charts. No network assets.
"use strict";

const TOKEN_KEY = "yamlswarm-token";
const MAX_POINTS = 3600;
const SVG_NS = "http://www.w3.org/2000/svg";
const CHARTS = [
  ["chart-rps", [["rps", "#2d6cdf"]]],
  ["chart-users", [["users", "#7b4fd6"]]],
  ["chart-latency", [["p50", "#1f8a4c"], ["p95", "#e08a00"], ["p99", "#c0392b"]]],
  ["chart-errors", [["failures_per_s", "#c0392b"]]],
];

const ui = { points: [], picture: null, sortKey: null, sortAsc: true, source: null, formTouched: false };

function $(id) { return document.getElementById(id); }
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
function fmt(n, digits) {
  if (n === null || n === undefined) return "-";
  if (typeof n !== "number") return String(n);
  return n.toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 1 : digits });
}
function say(text) { $("message").textContent = text || ""; }

async function api(method, path, fields) {
  const headers = {};
  if (token()) headers["X-Yamlswarm-Token"] = token();
  const init = { method, headers, credentials: "same-origin" };
  if (fields) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    init.body = new URLSearchParams(fields).toString();
  }
  const reply = await fetch(path, init);
  const text = await reply.text();
  let data = null;
  try { data = JSON.parse(text); } catch (e) { data = { message: text }; }
  if (!reply.ok) throw new Error((data && data.message) || reply.statusText);
  return data;
}

function withToken(path) {
  if (!token()) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token());
}

function connect() {
  if (ui.source) ui.source.close();
  const source = new EventSource(withToken("/events"));
  ui.source = source;
  source.addEventListener("history", (event) => {
    ui.points = JSON.parse(event.data).slice(-MAX_POINTS);
    drawCharts();
  });
  source.addEventListener("update", (event) => render(JSON.parse(event.data)));
  source.onerror = () => { if (!ui.picture || !ui.picture.finished) $("state").textContent = "reconnecting"; };
  for (const id of ["dl-json", "dl-html"]) $(id).href = withToken($(id).getAttribute("href").split("?")[0]);
  $("dl-csv").href = withToken("/api/report.csv?kind=stats");
}

function render(p) {
  ui.picture = p;
  document.body.className = "model-" + p.model;
  $("scenario").textContent = p.scenario;
  $("host").textContent = p.host || "";
  const state = $("state");
  state.textContent = p.state;
  state.className = "badge " + p.state;
  $("users").textContent = fmt(p.users, 0);
  $("rps").textContent = fmt(p.totals.current_rps || 0);
  $("fps").textContent = fmt(p.totals.current_fail_per_s || 0);
  $("failpct").textContent = fmt(p.totals.fail_pct, 2) + "%";
  $("elapsed").textContent = fmt(p.elapsed, 0) + "s";
  $("cpu").textContent = fmt(p.generator.cpu_pct);
  $("lag").textContent = fmt(p.generator.loop_lag_ms);
  renderControls(p);
  renderStats(p);
  renderSmallTables(p);
  if (p.point && (!ui.points.length || p.point.t > ui.points[ui.points.length - 1].t)) {
    ui.points.push(p.point);
    if (ui.points.length > MAX_POINTS) ui.points.shift();
    drawCharts();
  }
}

function renderControls(p) {
  const ended = p.state === "stopped" || p.state === "stopping";
  const started = p.state !== "ready";
  $("start").textContent = started ? "Apply" : "Start";
  $("start").disabled = ended || (started && (p.model === "stages" || p.model === "iterations"));
  $("stop").disabled = ended;
  $("reset").disabled = ended;
  if (!ui.formTouched) {
    $("user-count").value = p.target_users;
    $("spawn-rate").value = p.spawn_rate;
    if (p.rate !== null) $("arrival-rate").value = p.rate;
  }
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

const STAT_COLUMNS = [
  ["method", null], ["name", null], ["requests", 0], ["failures", 0], ["fail_pct", 2],
  ["current_rps", 1], ["rps", 1], ["min", 1], ["p50", 1], ["p90", 1], ["p95", 1],
  ["p99", 1], ["p99_9", 1], ["max", 1],
];

function statRow(r) {
  const tr = document.createElement("tr");
  for (const [key, digits] of STAT_COLUMNS) {
    cell(tr, digits === null ? r[key] : fmt(r[key], digits), key === "failures" && r.failures ? "fail" : "");
  }
  return tr;
}

function renderStats(p) {
  const rows = p.rows.slice();
  if (ui.sortKey) {
    const k = ui.sortKey, dir = ui.sortAsc ? 1 : -1;
    rows.sort((a, b) => (a[k] < b[k] ? -dir : a[k] > b[k] ? dir : 0));
  }
  const body = document.querySelector("#stats tbody");
  body.replaceChildren(...rows.map(statRow));
  const foot = document.querySelector("#stats tfoot");
  foot.replaceChildren(statRow({ method: "", name: "Aggregated", ...p.totals, current_rps: p.totals.current_rps || 0 }));
}

function renderSmallTables(p) {
  const thresholds = document.querySelector("#thresholds tbody");
  thresholds.replaceChildren(...p.thresholds.map((t) => {
    const tr = document.createElement("tr");
    cell(tr, t.expr);
    cell(tr, t.value === null ? "no data" : fmt(t.value, 3));
    cell(tr, t.passed ? "pass" : "FAIL", t.passed ? "pass" : "fail");
    return tr;
  }));
  const errors = document.querySelector("#errors tbody");
  errors.replaceChildren(...p.errors.map((e) => {
    const tr = document.createElement("tr");
    cell(tr, e.method); cell(tr, e.name); cell(tr, e.error); cell(tr, fmt(e.count, 0));
    return tr;
  }));
  renderMetrics(p.metrics || {});
  $("workers-box").hidden = !p.workers.length;
  const workers = document.querySelector("#workers tbody");
  workers.replaceChildren(...p.workers.map((w) => {
    const tr = document.createElement("tr");
    cell(tr, w.worker); cell(tr, w.name); cell(tr, w.state, w.state === "lost" ? "fail" : "");
    cell(tr, fmt(w.users, 0)); cell(tr, fmt(w.last_seen_s, 1) + "s ago");
    return tr;
  }));
}

// a custom metric's headline value and details, by kind (as the final table and the HTML report)
function mfmt(n, digits) { return n === null || n === undefined ? "no data" : fmt(n, digits); }
const METRIC_VIEWS = {
  counter: (m) => [mfmt(m.value, 3), mfmt(m.rate, 2) + "/s"],
  gauge: (m) => [mfmt(m.value, 3), "min " + mfmt(m.min, 3) + " max " + mfmt(m.max, 3)],
  rate: (m) => [m.value === null ? "no data" : fmt(100 * m.value, 2) + "%", fmt(m.passes, 0) + " passes, " + fmt(m.fails, 0) + " fails"],
  trend: (m) => [m.count ? "mean " + fmt(m.mean, 3) : "no data", ["count", "p50", "p95", "p99", "max"].map((k) => k + " " + mfmt(m[k], k === "count" ? 0 : 3)).join(" ")],
};

function renderMetrics(metrics) {
  const names = Object.keys(metrics).sort();
  $("metrics-box").hidden = !names.length;
  const body = document.querySelector("#metrics tbody");
  body.replaceChildren(...names.map((name) => {
    const m = metrics[name];
    const view = METRIC_VIEWS[m.kind] || (() => [fmt(m.value, 3), ""]);
    const [value, details] = view(m);
    const tr = document.createElement("tr");
    tr.dataset.metric = name;
    cell(tr, name); cell(tr, m.kind); cell(tr, value, "value"); cell(tr, details, "details");
    return tr;
  }));
}

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function niceTop(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function drawChart(svg, series, points) {
  const W = 600, H = 180, L = 44, R = 8, T = 8, B = 20;
  const parts = [];
  const xs = points.map((pt) => pt.t);
  const x0 = xs.length ? xs[0] : 0, x1 = xs.length ? Math.max(xs[xs.length - 1], x0 + 1) : 1;
  let top = 0;
  for (const [key] of series) for (const pt of points) top = Math.max(top, pt[key] || 0);
  top = niceTop(top);
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y) => H - B - (y / top) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = (top * i) / 4;
    parts.push(svgEl("line", { x1: L, x2: W - R, y1: py(y), y2: py(y), class: "grid" }));
    const label = svgEl("text", { x: L - 4, y: py(y) + 3, "text-anchor": "end", class: "axis" });
    label.textContent = fmt(y, 1);
    parts.push(label);
  }
  for (const x of [x0, x1]) {
    const label = svgEl("text", { x: px(x), y: H - 4, "text-anchor": x === x0 ? "start" : "end", class: "axis" });
    label.textContent = fmt(x, 0) + "s";
    parts.push(label);
  }
  for (const [key, colour] of series) {
    if (!points.length) continue;
    const d = points.map((pt, i) => (i ? "L" : "M") + px(pt.t).toFixed(1) + " " + py(pt[key] || 0).toFixed(1)).join(" ");
    parts.push(svgEl("path", { d, fill: "none", stroke: colour, "stroke-width": 1.6, "data-series": key }));
  }
  svg.replaceChildren(...parts);
  svg.setAttribute("data-points", String(points.length));
}

function drawCharts() {
  for (const [id, series] of CHARTS) drawChart($(id), series, ui.points);
}

async function submitLoad(event) {
  event.preventDefault();
  const p = ui.picture;
  const fields = {};
  if (!p || p.model === "closed") {
    fields.user_count = $("user-count").value;
    fields.spawn_rate = $("spawn-rate").value;
  } else if (p.model === "open" && $("arrival-rate").value !== "") {
    fields.rate = $("arrival-rate").value;
  }
  try {
    const reply = await api("POST", "/swarm", fields);
    say("");
    ui.formTouched = false;
    $("message").textContent = "";
    return reply;
  } catch (error) { say(error.message); }
}

async function command(path) {
  try { await api("POST", path); say(""); } catch (error) { say(error.message); }
}

function sortBy(key) {
  if (ui.sortKey === key) ui.sortAsc = !ui.sortAsc; else { ui.sortKey = key; ui.sortAsc = key === "name" || key === "method"; }
  for (const th of document.querySelectorAll("#stats th")) {
    th.classList.toggle("sorted", th.dataset.key === key);
    th.classList.toggle("asc", th.dataset.key === key && ui.sortAsc);
  }
  if (ui.picture) renderStats(ui.picture);
}

async function init() {
  $("load-form").addEventListener("submit", submitLoad);
  for (const id of ["user-count", "spawn-rate", "arrival-rate"]) $(id).addEventListener("input", () => { ui.formTouched = true; });
  $("stop").addEventListener("click", () => command("/stop"));
  $("reset").addEventListener("click", () => command("/stats/reset"));
  for (const th of document.querySelectorAll("#stats th")) th.addEventListener("click", () => sortBy(th.dataset.key));
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token-box").hidden = true;
    connect();
  });
  drawCharts();
  const info = await (await fetch("/api/info")).json().catch(() => ({}));
  if (info.token_required && !token()) { $("token-box").hidden = false; return; }
  connect();
}

document.addEventListener("DOMContentLoaded", init);
