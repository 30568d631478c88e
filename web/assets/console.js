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
