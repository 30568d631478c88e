// Argus console: sends forms to the JSON API (with the session's CSRF token), live-validates
// strategies, and draws charts with uPlot. No build step: this file is served as is.
"use strict";
const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";

async function api(method, path, body) {
  const opt = { method, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" };
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(path, opt);
  let data = null; try { data = await r.json(); } catch (e) { /* no body */ }
  return { ok: r.ok, status: r.status, data };
}

function setPath(obj, path, value) {
  const parts = path.split("."); let o = obj;
  for (let i = 0; i < parts.length - 1; i++) { o[parts[i]] = o[parts[i]] || {}; o = o[parts[i]]; }
  o[parts[parts.length - 1]] = value;
}

// A map field's text: one `name=value` a line; a line that does not start with a name and `=`
// continues the value above (annotations may span lines).
function parseMap(raw) {
  const out = {}; let last = null;
  for (const line of raw.split("\n")) {
    const m = line.match(/^([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/);
    if (m) { last = m[1]; out[last] = m[2].trim(); }
    else if (last !== null) out[last] += "\n" + line.trimEnd();
    else if (line.trim() !== "") { last = line.trim(); out[last] = ""; } // refused by the server, naming it
  }
  return out;
}

// Reads a form's inputs into an object; data-type says how: int, list, intlist, json, bool, tags, map.
function formObject(form) {
  const out = {};
  for (const el of form.querySelectorAll("[name]")) {
    const t = el.dataset.type || "text"; let v;
    if (el.type === "checkbox") { v = el.checked; }
    else if (el.multiple) { v = Array.from(el.selectedOptions).map(o => t === "intlist" ? parseInt(o.value, 10) : o.value); }
    else {
      const raw = el.value.trim();
      if (raw === "" && !el.dataset.keepEmpty) continue;
      if (t === "int") v = Number(raw);
      else if (t === "list") v = raw.split(",").map(s => s.trim()).filter(Boolean);
      else if (t === "intlist") v = raw.split(",").map(s => parseInt(s.trim(), 10)).filter(n => !isNaN(n));
      else if (t === "json") { try { v = JSON.parse(raw); } catch (e) { v = raw; } }
      else if (t === "map") v = parseMap(raw);
      else if (t === "time") v = Math.floor(new Date(raw + (raw.length <= 16 ? ":00Z" : "Z")).getTime() / 1000); // the form says UTC
      else v = raw;
    }
    setPath(out, el.name, v);
  }
  return out;
}

// A contact form's chat and paging receivers: each fieldset switched on becomes one entry of
// `channels`; a field left empty is left out (a credential left out keeps the stored one).
function receivers(form) {
  const out = [];
  form.querySelectorAll("fieldset[data-channel]").forEach(fs => {
    fs.dataset.index = "";
    if (!fs.querySelector("input[data-on]").checked) return;
    const r = { type: fs.dataset.channel };
    fs.querySelectorAll("[data-field]").forEach(el => {
      const v = el.tagName === "TEXTAREA" ? el.value : el.value.trim();
      if (v.trim() !== "") r[el.dataset.field] = v;
    });
    fs.dataset.index = String(out.length);
    out.push(r);
  });
  return out;
}

function showError(form, res) {
  form.querySelectorAll(".invalid").forEach(e => e.classList.remove("invalid"));
  const box = form.querySelector(".err");
  const d = res.data || {};
  const msg = (d.field ? d.field + ": " : "") + (d.error || ("HTTP " + res.status));
  if (box) box.textContent = msg;
  const ch = (d.field || "").match(/^channels\[(\d+)\]\.?(\w*)/);
  if (ch) {
    const fs = form.querySelector('fieldset[data-index="' + ch[1] + '"]');
    const el = fs && (fs.querySelector('[data-field="' + ch[2] + '"]') || fs);
    if (el) el.classList.add("invalid");
  } else if (d.field) {
    const el = form.querySelector('[name="' + d.field.replace(/\[\d+\]$/, "") + '"]');
    if (el) el.classList.add("invalid");
  }
}

document.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (form.id === "login") { loginSubmit(ev); return; }
  if (!form.dataset.api) return;
  ev.preventDefault();
  const body = formObject(form);
  if (form.querySelector("fieldset[data-channel]")) body.channels = receivers(form);
  const res = await api(form.dataset.method || "POST", form.dataset.api, body);
  if (!res.ok) { showError(form, res); return; }
  if (form.dataset.show && res.data) {
    const box = form.querySelector(".okmsg"); if (box) box.textContent = form.dataset.show + " " + (res.data.token || "");
    return;
  }
  location.href = form.dataset.redirect || location.href;
});

document.addEventListener("click", async (ev) => {
  const b = ev.target.closest("[data-call]");
  if (!b) return;
  ev.preventDefault();
  if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
  const body = b.dataset.body ? JSON.parse(b.dataset.body) : undefined;
  const res = await api(b.dataset.method || "POST", b.dataset.call, body);
  if (!res.ok) { alert((res.data && res.data.error) || ("HTTP " + res.status)); return; }
  location.href = b.dataset.redirect || location.href;
});

// Live validation of the strategy editor: checks the rule as it is typed.
let vt = null;
document.addEventListener("input", (ev) => {
  const form = ev.target.closest("form[data-validate]");
  if (!form) return;
  clearTimeout(vt);
  vt = setTimeout(async () => {
    const res = await api("POST", form.dataset.validate, formObject(form));
    const box = form.querySelector(".live");
    form.querySelectorAll(".invalid").forEach(e => e.classList.remove("invalid"));
    if (res.ok) { box.className = "live okmsg"; box.textContent = "✓ valid"; }
    else { box.className = "live err"; showError(form, res); box.textContent = ((res.data || {}).field || "") + ": " + ((res.data || {}).error || ""); }
  }, 250);
});

// Rule editors: the server checks the rule as it is typed (the checks of a save) and points at
// a parse error's position; Preview runs the expression now and shows what the rule would do.
let rt = null;
document.addEventListener("input", (ev) => {
  const form = ev.target.closest("form[data-rule-validate]");
  if (!form) return;
  clearTimeout(rt);
  rt = setTimeout(() => checkRule(form), 250);
});

async function checkRule(form) {
  const res = await api("POST", form.dataset.ruleValidate, formObject(form));
  const box = form.querySelector(".live"), caret = form.querySelector(".caret");
  form.querySelectorAll(".invalid").forEach(e => e.classList.remove("invalid"));
  caret.textContent = "";
  const d = res.data || {};
  if (res.ok && d.ok) { box.className = "live okmsg wide"; box.textContent = "✓ valid"; return; }
  box.className = "live err wide";
  if (!res.ok) { box.textContent = d.error || ("HTTP " + res.status); return; }
  const pos = d.position;
  box.textContent = (d.field ? d.field + ": " : "") + d.error + (pos ? " (line " + pos.line + ", column " + pos.column + ")" : "");
  const field = form.querySelector('[name="' + (d.field || "").split(".")[0] + '"]');
  if (field) field.classList.add("invalid");
  if (pos && d.field === "expr") {
    const line = (field.value.split("\n")[pos.line - 1] || "");
    caret.textContent = line + "\n" + " ".repeat(Math.max(0, pos.column - 1)) + "^";
  }
}

function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
function labelText(m) { return Object.entries(m).map(([k, v]) => k + "=" + v).join(", "); }

function renderPreview(box, res) {
  box.innerHTML = "";
  const d = res.data || {};
  const p = document.createElement("p");
  box.appendChild(p);
  if (!res.ok) { p.className = "err"; p.textContent = (d.field ? d.field + ": " : "") + (d.error || ("HTTP " + res.status)); box.dataset.count = "error"; return; }
  const at = new Date(d.time * 1000).toISOString().slice(11, 19) + " UTC";
  const rows = d.kind === "alert_rules" ? d.alerts : d.samples;
  box.dataset.count = String(rows.length);
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  if (d.kind === "alert_rules") {
    p.textContent = rows.length ? "At " + at + " " + rows.length + " alert(s) would be " + (d.state === "pending" ? "pending (firing once they last the rule's for)" : "firing") + ":" : "At " + at + " the expression gives no series: no alert.";
    ["Labels", "Annotations", "Value"].forEach(h => cell(head, h));
    rows.forEach(a => {
      const tr = table.insertRow();
      cell(tr, labelText(a.labels), "mono");
      const td = cell(tr, "");
      Object.entries(a.annotations).forEach(([k, v]) => { const div = document.createElement("div"); div.textContent = k + ": " + v; td.appendChild(div); });
      cell(tr, a.value, "mono");
    });
  } else {
    p.textContent = rows.length ? "At " + at + " it would record " + rows.length + " series:" : "At " + at + " the expression gives no series: nothing recorded.";
    ["Series", "Value"].forEach(h => cell(head, h));
    rows.forEach(s => { const tr = table.insertRow(); cell(tr, seriesName(s.labels), "mono"); cell(tr, s.value, "mono"); });
    if (d.skipped) { const n = document.createElement("p"); n.className = "small muted"; n.textContent = d.skipped + " sample(s) not finite numbers: not recorded."; box.appendChild(n); }
  }
  if (rows.length) box.appendChild(table);
  (d.warnings || []).forEach(w => { const n = document.createElement("p"); n.className = "small err"; n.textContent = w; box.appendChild(n); });
}

document.addEventListener("click", async (ev) => {
  const b = ev.target.closest("[data-rule-preview-run]");
  if (!b) return;
  ev.preventDefault();
  const form = b.closest("form");
  const box = form.querySelector(".preview");
  box.dataset.count = ""; box.textContent = "running…";
  renderPreview(box, await api("POST", form.dataset.rulePreview, formObject(form)));
});

async function loginSubmit(ev) {
  ev.preventDefault();
  const f = ev.target;
  const res = await api("POST", "/api/v1/login", { login: f.login.value, password: f.password.value });
  if (!res.ok) { f.querySelector(".err").textContent = (res.data && res.data.error) || ("HTTP " + res.status); return; }
  location.href = f.dataset.next || "/hosts";
}

// Charts: each .chart[data-promql] asks the PromQL API for its query over the last
// data-range seconds and draws one line per series.
function seriesName(m) {
  const name = m.__name__ || "";
  const rest = Object.entries(m).filter(([k]) => k !== "__name__").map(([k, v]) => k + "=" + JSON.stringify(v)).join(", ");
  return name + (rest ? "{" + rest + "}" : (name ? "" : "{}"));
}

async function drawChart(el) {
  const range = Number(el.dataset.range || 3600);
  const end = Math.floor(Date.now() / 1000);
  // About 300 points across the chart, never below the agents' 10 s step.
  const step = Math.max(10, Math.ceil(range / 300));
  const q = new URLSearchParams({ query: el.dataset.promql, start: String(end - range), end: String(end), step: String(step) });
  const res = await api("GET", "/prometheus/api/v1/query_range?" + q.toString());
  const body = el.querySelector(".body");
  if (!res.ok || !res.data || res.data.status !== "success") {
    body.innerHTML = ""; body.textContent = (res.data && res.data.error) || ("query failed: HTTP " + res.status); body.className = "body empty err"; return;
  }
  const series = res.data.data.resultType === "matrix" ? res.data.data.result : [];
  const pts = series.reduce((n, s) => n + s.values.length, 0);
  el.dataset.points = String(pts);
  el.dataset.series = String(series.length);
  if (!pts) { body.textContent = "no data in this range"; body.className = "body empty"; el.classList.add("drawn"); return; }
  const ts = Array.from(new Set(series.flatMap(s => s.values.map(p => p[0])))).sort((a, b) => a - b);
  const idx = new Map(ts.map((t, i) => [t, i]));
  const data = [ts];
  const colors = ["#2457c5", "#c0362c", "#1f8a4c", "#b7791f", "#7b3fb6", "#127a8a"];
  const opts = { width: Math.max(300, el.clientWidth - 18), height: 200, series: [{}], legend: { show: series.length <= 8 }, axes: [{}, { size: 60 }] };
  series.slice(0, 24).forEach((s, i) => {
    const col = new Array(ts.length).fill(null);
    s.values.forEach(p => { col[idx.get(p[0])] = Number(p[1]); });
    data.push(col);
    opts.series.push({ label: seriesName(s.metric), stroke: colors[i % colors.length], width: 1.5, spanGaps: false });
  });
  body.innerHTML = ""; body.className = "body";
  new uPlot(opts, data, body);
  el.classList.add("drawn");
}

// PromQL completion in the explorer: metric names outside braces, label names inside them,
// a label's values after `label="`; all from the PromQL API, so only the tenant's own.
const completionCache = new Map();
async function suggestions(path) {
  if (!completionCache.has(path)) {
    const res = await api("GET", "/prometheus/api/v1/" + path);
    completionCache.set(path, res.ok && res.data && Array.isArray(res.data.data) ? res.data.data : []);
  }
  return completionCache.get(path);
}

function completionContext(text) {
  const open = text.lastIndexOf("{"), close = text.lastIndexOf("}");
  if (open > close) {
    const inside = text.slice(open + 1);
    const v = inside.match(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)$/);
    if (v) return { path: "label/" + encodeURIComponent(v[1]) + "/values", word: v[3] };
    const n = inside.match(/([a-zA-Z_][a-zA-Z0-9_]*)?$/);
    return { path: "labels", word: n[1] || "" };
  }
  const m = text.match(/([a-zA-Z_:][a-zA-Z0-9_:.]*)$/);
  return { path: "label/__name__/values", word: m ? m[1] : "" };
}

async function complete(input, list) {
  const before = input.value.slice(0, input.selectionStart);
  const ctx = completionContext(before);
  const all = await suggestions(ctx.path);
  const hits = all.filter(x => x.startsWith(ctx.word) && x !== ctx.word).slice(0, 12);
  list.innerHTML = "";
  hits.forEach(h => {
    const li = document.createElement("li");
    li.textContent = h;
    li.addEventListener("mousedown", ev => {
      ev.preventDefault();
      const at = before.length - ctx.word.length;
      // Names PromQL cannot write bare (falcon's dots) go through __name__.
      const text = ctx.path === "label/__name__/values" && /[^a-zA-Z0-9_:]/.test(h) ? '{__name__="' + h + '"}' : h;
      input.value = input.value.slice(0, at) + text + input.value.slice(before.length);
      input.selectionStart = input.selectionEnd = at + text.length;
      list.innerHTML = "";
      input.focus();
    });
    list.appendChild(li);
  });
}

window.addEventListener("load", () => {
  document.querySelectorAll(".chart[data-promql]").forEach(drawChart);
  document.querySelectorAll("input[data-promql-complete]").forEach(input => {
    const list = document.getElementById(input.dataset.promqlComplete);
    input.addEventListener("input", () => complete(input, list));
    input.addEventListener("blur", () => { list.innerHTML = ""; });
  });
});

// Dashboards (/dashboards/{id}): the page holds the dashboard's document (data-doc); each
// panel box is filled here from the PromQL API with the variables substituted, and redrawn
// when a variable, the time range or the refresh timer changes. The URL carries the state:
// ?from=now-3600&to=now (relative) or ?from=<unix>&to=<unix> (absolute), &var-<name>=value
// (repeated for several values), &refresh=<secs>.
const dash = { doc: null, id: "", groups: {}, lines: {}, sel: {}, options: {}, rel: 3600, from: 0, to: 0, refresh: 0, timer: null, gen: 0 };
const COLORS = { green: "#1f8a4c", blue: "#2457c5", yellow: "#c9a100", orange: "#d9730d", red: "#c0362c" };
const PALETTE = ["#2457c5", "#c0362c", "#1f8a4c", "#b7791f", "#7b3fb6", "#127a8a", "#d9730d", "#5a6b8c"];

function reEsc(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
function strEsc(s) { return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"'); }

function dashTimes() {
  if (dash.rel) { const end = Math.floor(Date.now() / 1000); return { start: end - dash.rel, end }; }
  return { start: dash.from, end: dash.to };
}

// A variable's text in an expression: one value as it is; several (or a host group's members)
// as a regex alternation, for `=~"$var"`; All as `.*`. Escaped for a PromQL string literal.
function varText(v) {
  const sel = dash.sel[v.name] || [];
  const all = sel.includes("$__all");
  if (v.type === "host_group") {
    const names = all ? Object.keys(dash.groups) : sel;
    const members = Array.from(new Set(names.flatMap(n => dash.groups[n] || [])));
    return strEsc(members.length ? members.map(reEsc).join("|") : "__no_member__");
  }
  if (all) return ".*";
  if (sel.length > 1 || v.multi) return strEsc(sel.map(reEsc).join("|"));
  return strEsc(sel[0] || "");
}

function subst(text, t, step) {
  return text.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (m, a, b) => {
    const name = a || b;
    if (name === "__interval") return step + "s";
    if (name === "__range") return (t.end - t.start) + "s";
    const v = dash.doc.variables.find(x => x.name === name);
    return v ? varText(v) : m;
  });
}

function legendOf(fmt, metric) {
  if (!fmt) return seriesName(metric);
  return fmt.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, k) => metric[k] === undefined ? "" : metric[k]);
}

function fmtValue(x, unit) {
  if (x === null || x === undefined || isNaN(x)) return "–";
  const num = (n) => Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : Number(n.toFixed(2)).toString();
  const scaled = (n, base, units) => { let i = 0; while (Math.abs(n) >= base && i < units.length - 1) { n /= base; i++; } return num(n) + units[i]; };
  switch (unit) {
    case "percent": return num(x) + "%";
    case "bytes": return scaled(x, 1024, [" B", " KiB", " MiB", " GiB", " TiB", " PiB"]);
    case "bytes/s": return scaled(x, 1024, [" B/s", " KiB/s", " MiB/s", " GiB/s", " TiB/s"]);
    case "seconds": return Math.abs(x) < 1 ? num(x * 1000) + " ms" : Math.abs(x) < 120 ? num(x) + " s" : Math.abs(x) < 7200 ? num(x / 60) + " min" : num(x / 3600) + " h";
    case "ops": return scaled(x, 1000, [" ops/s", "k ops/s", "M ops/s", "G ops/s"]);
    default: return scaled(x, 1000, ["", "k", "M", "G", "T"]);
  }
}

function thresholdColor(p, x) {
  let c = null;
  (p.thresholds || []).forEach(t => { if (x >= t.value) c = COLORS[t.color]; });
  return c;
}

async function promql(path, params) {
  const res = await api("GET", "/prometheus/api/v1/" + path + "?" + new URLSearchParams(params).toString());
  if (!res.ok || !res.data || res.data.status !== "success") throw new Error((res.data && res.data.error) || ("HTTP " + res.status));
  return res.data.data;
}

// An instant query's answer as [{metric, value}].
async function instant(expr, t) {
  const d = await promql("query", { query: expr, time: String(t.end) });
  if (d.resultType === "scalar") return [{ metric: {}, value: Number(d.result[1]) }];
  return d.result.map(s => ({ metric: s.metric, value: Number(s.value[1]) }));
}

function stepOf(t) { return Math.max(10, Math.ceil((t.end - t.start) / 300)); }

async function drawTimeseries(el, p, body, t) {
  const step = stepOf(t);
  const series = [];
  for (const tg of p.targets) {
    const d = await promql("query_range", { query: subst(tg.expr, t, step), start: String(t.start), end: String(t.end), step: String(step) });
    d.result.forEach(s => series.push({ name: legendOf(tg.legend, s.metric), values: s.values }));
  }
  const pts = series.reduce((n, s) => n + s.values.length, 0);
  el.dataset.series = String(series.length); el.dataset.points = String(pts);
  if (!pts) { body.className = "body empty"; body.textContent = "no data in this range"; return; }
  const ts = Array.from(new Set(series.flatMap(s => s.values.map(v => v[0])))).sort((a, b) => a - b);
  const idx = new Map(ts.map((x, i) => [x, i]));
  const cols = series.slice(0, 24).map(s => { const c = new Array(ts.length).fill(null); s.values.forEach(v => { c[idx.get(v[0])] = Number(v[1]); }); return c; });
  const stacked = p.style === "stacked";
  if (stacked) for (let i = 1; i < cols.length; i++) cols[i] = cols[i].map((x, j) => (x === null ? 0 : x) + (cols[i - 1][j] || 0));
  const opts = {
    width: Math.max(280, el.clientWidth - 18), height: 200, legend: { show: series.length <= 8 },
    series: [{}], axes: [{}, { size: 70, values: (u, vals) => vals.map(v => fmtValue(v, p.unit)) }],
    scales: { y: { range: (u, lo, hi) => [p.min !== undefined ? p.min : lo, p.max !== undefined ? p.max : hi] } },
    cursor: { drag: { x: true, y: false, setScale: false } },
    hooks: { setSelect: [u => {
      if (u.select.width < 3) return;
      const a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
      dashSetAbsolute(Math.floor(a), Math.ceil(b), true);
    }] },
  };
  const data = [ts];
  cols.forEach((c, i) => {
    data.push(c);
    const color = PALETTE[i % PALETTE.length];
    opts.series.push({ label: series[i].name, stroke: color, width: 1.5, fill: stacked ? color + "33" : undefined, value: (u, v) => fmtValue(v, p.unit) });
  });
  (p.thresholds || []).forEach(th => {
    if (th.value === 0 && (p.min === undefined || p.min === 0)) return;
    data.push(ts.map(() => th.value));
    opts.series.push({ label: "≥ " + fmtValue(th.value, p.unit), stroke: COLORS[th.color], width: 1, dash: [6, 4], points: { show: false } });
  });
  const lines = strategyLinesFor(el.dataset.row + "." + el.dataset.index);
  lines.forEach(l => {
    data.push(ts.map(() => l.value));
    opts.series.push({ label: "P" + l.priority + " " + l.op + " " + fmtValue(l.value, p.unit), stroke: l.priority < 2 ? COLORS.red : l.priority < 3 ? COLORS.orange : COLORS.yellow, width: 1.5, dash: [2, 3], points: { show: false } });
  });
  el.dataset.strategyLines = lines.map(l => l.op + " " + l.value).join(", ");
  body.innerHTML = ""; body.className = "body";
  new uPlot(opts, data, body);
}

// The strategies' lines of panel `key` (row.index) that apply to the hosts the variables
// select: a host group variable picks its groups' lines, an `endpoint` variable the lines of
// the groups holding the host; without either, or with All, every line. An expression
// strategy (no group) applies to any host. One line per comparison and value.
function strategyLinesFor(key) {
  let groups = null;
  const gv = dash.doc.variables.find(v => v.type === "host_group");
  const ev = dash.doc.variables.find(v => v.type !== "host_group" && v.label === "endpoint");
  if (gv) {
    const sel = dash.sel[gv.name] || [];
    if (!sel.includes("$__all")) groups = new Set(sel);
  } else if (ev) {
    const sel = dash.sel[ev.name] || [];
    if (!sel.includes("$__all")) groups = new Set(Object.keys(dash.groups).filter(g => dash.groups[g].some(h => sel.includes(h))));
  }
  const seen = new Set();
  return (dash.lines[key] || []).filter(l => {
    if (groups && l.groups.length && !l.groups.some(g => groups.has(g))) return false;
    const k = l.op + " " + l.value;
    if (seen.has(k)) return false;
    seen.add(k); return true;
  });
}

function statBox(name, value, p) {
  const box = document.createElement("div"); box.className = "stat";
  const c = thresholdColor(p, value); if (c) box.style.color = c;
  const v = document.createElement("div"); v.className = "v"; v.textContent = fmtValue(value, p.unit);
  const l = document.createElement("div"); l.className = "l muted small"; l.textContent = name;
  box.append(v, l); return box;
}

async function currentValues(p, t) {
  const out = [];
  for (const tg of p.targets) (await instant(subst(tg.expr, t, stepOf(t)), t)).forEach(s => out.push({ name: legendOf(tg.legend, s.metric), metric: s.metric, value: s.value }));
  return out;
}

function renderTable(body, rows, p, key, desc) {
  rows.sort((a, b) => { const x = key === "name" ? a.name.localeCompare(b.name) : a.value - b.value; return desc ? -x : x; });
  const table = document.createElement("table"); table.className = "sortable";
  const head = table.createTHead().insertRow();
  [["name", "Series"], ["value", "Value"]].forEach(([k, label]) => {
    const th = document.createElement("th"); th.textContent = label + (k === key ? (desc ? " ▼" : " ▲") : "");
    th.dataset.sort = k; th.style.cursor = "pointer"; head.appendChild(th);
    th.addEventListener("click", () => renderTable(body, rows, p, k, k === key ? !desc : k === "value"));
  });
  const tbody = table.createTBody();
  rows.forEach(r => { const tr = tbody.insertRow(); cell(tr, r.name, "mono"); const td = cell(tr, fmtValue(r.value, p.unit), "mono right"); const c = thresholdColor(p, r.value); if (c) td.style.color = c; });
  body.innerHTML = ""; body.className = "body"; body.appendChild(table);
}

async function drawPanel(el, gen) {
  const p = dash.doc.rows[Number(el.dataset.row)].panels[Number(el.dataset.index)];
  const body = el.querySelector(".body");
  const t = dashTimes();
  el.classList.remove("drawn");
  try {
    if (p.type === "timeseries") await drawTimeseries(el, p, body, t);
    else if (p.type === "alerts") await drawAlerts(el, body, t);
    else if (p.type === "missing") {
      const present = new Set((await instant(subst(p.targets[0].expr, t, stepOf(t)), t)).map(s => s.metric.endpoint));
      const v = dash.doc.variables.find(x => x.name === p.variable);
      const sel = dash.sel[v.name] || [];
      const names = sel.includes("$__all") ? Object.keys(dash.groups) : sel;
      const missing = Array.from(new Set(names.flatMap(n => dash.groups[n] || []))).filter(h => !present.has(h)).sort();
      body.innerHTML = ""; body.className = missing.length ? "body" : "body empty";
      if (!missing.length) body.textContent = "every host of the group reports";
      missing.forEach(h => { const a = document.createElement("a"); a.href = "/hosts?q=" + encodeURIComponent(h); a.textContent = h; a.className = "badge bad"; body.append(a, " "); });
      el.dataset.series = String(missing.length);
    } else {
      const rows = await currentValues(p, t);
      el.dataset.series = String(rows.length);
      if (gen !== dash.gen) return;
      if (!rows.length) { body.className = "body empty"; body.textContent = "no data"; }
      else if (p.type === "stat") { body.innerHTML = ""; body.className = "body stats"; rows.forEach(r => body.appendChild(statBox(r.name, r.value, p))); }
      else if (p.type === "table") renderTable(body, rows, p, "value", true);
      else {
        rows.sort((a, b) => b.value - a.value);
        const top = rows.slice(0, p.limit || 10);
        const hi = p.max !== undefined ? p.max : Math.max(...top.map(r => r.value), 0) || 1;
        const lo = p.min !== undefined ? p.min : 0;
        body.innerHTML = ""; body.className = "body bars";
        top.forEach(r => {
          const row = document.createElement("div"); row.className = "bar";
          const name = document.createElement("span"); name.className = "n mono"; name.textContent = r.name;
          const track = document.createElement("span"); track.className = "track";
          const fill = document.createElement("span"); fill.className = "fill";
          fill.style.width = Math.max(0, Math.min(100, (r.value - lo) / (hi - lo) * 100)) + "%";
          const c = thresholdColor(p, r.value); if (c) fill.style.background = c;
          track.appendChild(fill);
          const val = document.createElement("span"); val.className = "val mono"; val.textContent = fmtValue(r.value, p.unit);
          row.append(name, track, val); body.appendChild(row);
        });
      }
    }
  } catch (e) {
    if (gen !== dash.gen) return;
    body.innerHTML = ""; body.className = "body empty err"; body.textContent = e.message;
  }
  if (gen === dash.gen) el.classList.add("drawn");
}

// The open problems: counted by priority, by host group (a problem counts in each group
// holding its host) and over the range (from alarm's history, /api/v1/events/overview), then
// listed.
async function drawAlerts(el, body, t) {
  const res = await api("GET", "/api/v1/events/active?limit=200");
  if (!res.ok) throw new Error("alarm service: " + ((res.data && res.data.error) || ("HTTP " + res.status)));
  const step = stepOf(t);
  const ov = await api("GET", "/api/v1/events/overview?" + new URLSearchParams({ from: String(t.start), to: String(t.end), step: String(step) }).toString());
  if (!ov.ok) throw new Error("alarm service: " + ((ov.data && ov.data.error) || ("HTTP " + ov.status)));
  const alerts = res.data.alerts || [];
  const counts = [0, 0, 0, 0, 0, 0];
  alerts.forEach(a => { const p = Number(a.event.priority); if (p >= 0 && p < 6) counts[p]++; });
  body.innerHTML = ""; body.className = "body";
  const stats = document.createElement("div"); stats.className = "stats";
  counts.forEach((n, i) => stats.appendChild(statBox("P" + i, n, { unit: "none", thresholds: n ? [{ value: 1, color: i < 2 ? "red" : i < 3 ? "orange" : "yellow" }] : [] })));
  body.appendChild(stats);
  const o = ov.data;
  const groupName = g => g.group === null ? "(no group)" : g.group;
  el.dataset.byGroup = o.by_group.map(g => groupName(g) + "=" + g.open).join(" ");
  el.dataset.overTime = o.over_time.map(p => p[1]).join(",");
  if (o.by_group.length) {
    const gt = document.createElement("table"); gt.className = "by-group";
    const gh = gt.createTHead().insertRow();
    ["Host group", "Open problems"].forEach(h => { const th = document.createElement("th"); th.textContent = h; gh.appendChild(th); });
    const gb = gt.createTBody();
    o.by_group.forEach(g => { const tr = gb.insertRow(); cell(tr, groupName(g)); cell(tr, String(g.open), "mono right"); });
    body.appendChild(gt);
  }
  const chart = document.createElement("div"); chart.className = "over-time";
  body.appendChild(chart);
  new uPlot({
    width: Math.max(280, el.clientWidth - 18), height: 140, legend: { show: false },
    series: [{}, { label: "open problems", stroke: COLORS.red, width: 1.5, fill: COLORS.red + "22", paths: uPlot.paths.stepped({ align: 1 }) }],
    axes: [{}, { size: 50 }], scales: { y: { range: (u, lo, hi) => [0, Math.max(1, hi)] } },
  }, [o.over_time.map(p => p[0]), o.over_time.map(p => p[1])], chart);
  if (o.truncated) { const p = document.createElement("p"); p.className = "small muted"; p.textContent = "alarm holds more events than the overview reads: the oldest of the range are left out."; body.appendChild(p); }
  if (!alerts.length) { const p = document.createElement("p"); p.className = "muted"; p.textContent = "No open problems."; body.appendChild(p); return; }
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  ["Priority", "State", "Host", "Metric", "Value", "Since"].forEach(h => { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
  const tbody = table.createTBody();
  alerts.slice(0, 50).forEach(a => {
    const tr = tbody.insertRow(); const ev = a.event, s = ev.series || {};
    cell(tr, "P" + ev.priority); cell(tr, a.state); cell(tr, s.endpoint || "", "mono");
    cell(tr, (s.metric || ev.rule || ""), "mono"); cell(tr, String(ev.value), "mono");
    cell(tr, a.first_seen ? new Date(a.first_seen * 1000).toISOString().slice(0, 16).replace("T", " ") : "");
  });
  body.appendChild(table);
}

function dashDrawAll() {
  const gen = ++dash.gen;
  document.getElementById("dashboard").dataset.draws = String(gen);
  const t = dashTimes();
  const st = document.getElementById("dash-status");
  if (st) st.textContent = new Date(t.start * 1000).toISOString().slice(0, 19).replace("T", " ") + " – " + new Date(t.end * 1000).toISOString().slice(0, 19).replace("T", " ") + " UTC";
  const f = document.getElementById("dash-controls");
  if (f) { f.from.value = new Date(t.start * 1000).toISOString().slice(0, 19); f.to.value = new Date(t.end * 1000).toISOString().slice(0, 19); }
  document.querySelectorAll(".dpanel").forEach(el => drawPanel(el, gen));
}

function dashUrl(push) {
  const q = new URLSearchParams();
  if (dash.rel) { q.set("from", "now-" + dash.rel); q.set("to", "now"); } else { q.set("from", String(dash.from)); q.set("to", String(dash.to)); }
  dash.doc.variables.forEach(v => (dash.sel[v.name] || []).forEach(x => q.append("var-" + v.name, x)));
  if (dash.refresh) q.set("refresh", String(dash.refresh));
  const url = location.pathname + "?" + q.toString();
  if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
}

function dashTimer() {
  clearInterval(dash.timer); dash.timer = null;
  if (dash.refresh > 0 && dash.rel) dash.timer = setInterval(dashDrawAll, dash.refresh * 1000);
}

function dashSetAbsolute(from, to, push) {
  if (!(to > from)) return;
  dash.rel = 0; dash.from = from; dash.to = to;
  const r = document.querySelector("#dash-controls select[name=range]"); if (r) r.value = "absolute";
  dashUrl(push); dashTimer(); dashDrawAll();
}

async function varOptions(v) {
  if (v.type === "host_group") return Object.keys(dash.groups).sort();
  const t = dashTimes();
  const params = new URLSearchParams({ start: String(t.start), end: String(t.end) });
  if (v.type === "query") params.append("match[]", subst(v.query, t, stepOf(t)));
  else if (v.metric) params.append("match[]", '{__name__="' + strEsc(v.metric) + '"}');
  const res = await api("GET", "/prometheus/api/v1/label/" + encodeURIComponent(v.label) + "/values?" + params.toString());
  return res.ok && res.data && Array.isArray(res.data.data) ? res.data.data : [];
}

// Fills the selectors from index `from` on, in order (a query variable may use earlier ones);
// a selection the URL or the user made is kept while its values are still offered.
async function dashLoadVars(from, wanted) {
  for (let i = from; i < dash.doc.variables.length; i++) {
    const v = dash.doc.variables[i];
    const select = document.querySelector('#dash-controls select[data-var="' + CSS.escape(v.name) + '"]');
    const values = await varOptions(v);
    const keep = (wanted[v.name] || dash.sel[v.name] || []).filter(x => x === "$__all" ? v.include_all : values.includes(x));
    let sel = keep;
    if (!sel.length) sel = v.default !== undefined && (values.includes(v.default) || (v.default === "$__all" && v.include_all)) ? [v.default] : v.include_all ? ["$__all"] : values.slice(0, 1);
    if (!v.multi) sel = sel.slice(0, 1);
    dash.sel[v.name] = sel;
    if (!select) continue;
    select.innerHTML = "";
    const opts = (v.include_all ? ["$__all"] : []).concat(values);
    opts.forEach(x => { const o = document.createElement("option"); o.value = x; o.textContent = x === "$__all" ? "All" : x; o.selected = sel.includes(x); select.appendChild(o); });
  }
}

async function dashInit(root) {
  dash.doc = JSON.parse(root.dataset.doc);
  dash.id = root.dataset.id;
  dash.groups = root.dataset.groups ? JSON.parse(root.dataset.groups) : {};
  dash.lines = root.dataset.strategyLines ? JSON.parse(root.dataset.strategyLines) : {};
  const q = new URLSearchParams(location.search);
  const from = q.get("from") || "", to = q.get("to") || "";
  const rel = from.match(/^now-(\d+)$/);
  if (rel) dash.rel = Number(rel[1]);
  else if (/^\d+$/.test(from) && /^\d+$/.test(to) && Number(to) > Number(from)) { dash.rel = 0; dash.from = Number(from); dash.to = Number(to); }
  else dash.rel = dash.doc.range_secs;
  dash.refresh = q.has("refresh") ? Math.max(0, Number(q.get("refresh")) || 0) : dash.doc.refresh_secs;
  const f = document.getElementById("dash-controls");
  if (dash.rel) { if (![...f.range.options].some(o => o.value === String(dash.rel))) { const o = document.createElement("option"); o.value = String(dash.rel); o.textContent = "last " + dash.rel + " s"; f.range.prepend(o); } f.range.value = String(dash.rel); }
  else f.range.value = "absolute";
  if (![...f.refresh.options].some(o => o.value === String(dash.refresh))) { const o = document.createElement("option"); o.value = String(dash.refresh); o.textContent = dash.refresh + " s"; f.refresh.appendChild(o); }
  f.refresh.value = String(dash.refresh);
  const wanted = {};
  dash.doc.variables.forEach(v => { const xs = q.getAll("var-" + v.name); if (xs.length) wanted[v.name] = xs; });
  await dashLoadVars(0, wanted);
  dashUrl(false); dashTimer(); dashDrawAll();
  f.addEventListener("change", async ev => {
    const el = ev.target;
    if (el.dataset.var) {
      dash.sel[el.dataset.var] = Array.from(el.selectedOptions).map(o => o.value);
      const i = dash.doc.variables.findIndex(v => v.name === el.dataset.var);
      await dashLoadVars(i + 1, {});
      dashUrl(true); dashDrawAll();
    } else if (el.name === "range" && el.value !== "absolute") {
      dash.rel = Number(el.value); dashUrl(true); dashTimer(); dashDrawAll();
    } else if (el.name === "refresh") {
      dash.refresh = Number(el.value); dashUrl(false); dashTimer();
    }
  });
  f.addEventListener("submit", ev => {
    ev.preventDefault();
    const at = s => Math.floor(new Date(s + (s.length <= 16 ? ":00Z" : "Z")).getTime() / 1000);
    if (f.from.value && f.to.value) dashSetAbsolute(at(f.from.value), at(f.to.value), true);
  });
  window.addEventListener("popstate", () => location.reload());
}

// The dashboard JSON as the API takes it: what the list and page show, less id and time.
function exportable(d) { const c = Object.assign({}, d); delete c.id; delete c.updated_at; delete c.builtin; return c; }

async function saveDashboard(form, method, path, body) {
  const res = await api(method, path, body);
  if (!res.ok) {
    showError(form, res);
    // The panel form has one query: a field path ending in .expr is its text.
    const f = (res.data && res.data.field) || "";
    if (form.id === "add-panel" && f.endsWith(".expr")) form.querySelector('[name="expr"]').classList.add("invalid");
    return null;
  }
  return res.data;
}

document.addEventListener("submit", async ev => {
  const form = ev.target;
  if (!["new-dashboard", "import-dashboard", "add-panel", "edit-json"].includes(form.id)) return;
  ev.preventDefault();
  let doc;
  const fv = n => form.querySelector('[name="' + n + '"]').value.trim();
  if (form.id === "new-dashboard") doc = { title: fv("title"), rows: [] };
  else if (form.id === "add-panel") {
    doc = JSON.parse(JSON.stringify(dash.doc));
    const p = { type: fv("type"), title: fv("title"), unit: fv("unit"), targets: [{ expr: fv("expr"), legend: fv("legend") }] };
    if (!doc.rows.length) doc.rows.push({ title: "", panels: [] });
    doc.rows[doc.rows.length - 1].panels.push(p);
  } else {
    try { doc = JSON.parse(form.doc.value); } catch (e) { form.querySelector(".err").textContent = "not JSON: " + e.message; return; }
    if (form.id === "import-dashboard") doc = exportable(doc);
  }
  const editing = form.id === "add-panel" || form.id === "edit-json";
  const saved = await saveDashboard(form, editing ? "PUT" : "POST", editing ? "/api/v1/dashboards/" + dash.id : "/api/v1/dashboards", doc);
  if (!saved) return;
  if (editing) location.reload(); else location.href = "/dashboards/" + saved.id;
});

document.addEventListener("click", async ev => {
  const b = ev.target.closest("[data-clone]");
  if (!b) return;
  ev.preventDefault();
  const got = await api("GET", "/api/v1/dashboards/" + encodeURIComponent(b.dataset.clone));
  if (!got.ok) { alert((got.data && got.data.error) || ("HTTP " + got.status)); return; }
  const doc = exportable(got.data); doc.title = doc.title + " (copy)";
  const res = await api("POST", "/api/v1/dashboards", doc);
  if (!res.ok) { alert((res.data && res.data.error) || ("HTTP " + res.status)); return; }
  location.href = "/dashboards/" + res.data.id;
});

window.addEventListener("load", () => { const root = document.getElementById("dashboard"); if (root) dashInit(root); });
