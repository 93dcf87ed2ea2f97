// Reciprocity: the ledger of what this node gave and received, per partner, level,
// discipline and month, and per level or discipline over the months (small multiples),
// drawn as inline SVG charts, each with its data as a table.
import {api, ApiError, banner, esc, say, shell} from "./console.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const GIVEN = "#1f5fa8", RECEIVED = "#e08a2b", RECEIVED_EDGE = "#9a5410";
const LEVEL_ORDER = ["COSMIC TOP SECRET", "TOP SECRET", "SECRET", "CONFIDENTIAL", "RESTRICTED"];

let me = null;
let agreements = [];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceStep(max) {
  const raw = Math.max(1, max / 5);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return Math.max(1, m * mag);
  return Math.max(1, 10 * mag);
}

function frame(id, title, desc, W, H) {
  const svg = el("svg", {id, class: "chart", role: "img", viewBox: `0 0 ${W} ${H}`, width: W, height: H,
                         "aria-labelledby": `${id}-title ${id}-desc`, xmlns: SVG});
  svg.appendChild(el("title", {id: `${id}-title`}, title));
  svg.appendChild(el("desc", {id: `${id}-desc`}, desc));
  const defs = el("defs");
  const pat = el("pattern", {id: `${id}-hatch`, patternUnits: "userSpaceOnUse", width: 6, height: 6,
                             patternTransform: "rotate(45)"});
  pat.appendChild(el("rect", {width: 6, height: 6, fill: "#fff"}));
  pat.appendChild(el("rect", {width: 3.5, height: 6, fill: RECEIVED}));
  defs.appendChild(pat);
  svg.appendChild(defs);
  return svg;
}

function legend(svg, id, x, y, line) {
  const g = el("g", {class: "legend", "aria-hidden": "true"});
  const items = [["given", GIVEN, null], ["received", `url(#${id}-hatch)`, "6 4"]];
  items.forEach(([text, fill, dash], i) => {
    const lx = x + i * 90;
    if (line) {
      g.appendChild(el("line", {x1: lx, x2: lx + 22, y1: y - 4, y2: y - 4, stroke: i ? RECEIVED : GIVEN,
                                "stroke-width": 2.5, "stroke-dasharray": dash}));
    } else {
      g.appendChild(el("rect", {x: lx, y: y - 10, width: 16, height: 11, fill,
                                stroke: i ? RECEIVED_EDGE : GIVEN}));
    }
    g.appendChild(el("text", {x: lx + (line ? 27 : 21), y}, text));
  });
  svg.appendChild(g);
}

function yAxis(svg, L, R, W, top, bottom, yMax, step) {
  const g = el("g", {class: "y-axis", "aria-hidden": "true"});
  const y = (v) => bottom - (v / yMax) * (bottom - top);
  for (let v = 0; v <= yMax; v += step) {
    g.appendChild(el("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: v ? "#e4e4e4" : "#555"}));
    g.appendChild(el("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end"}, String(v)));
  }
  svg.appendChild(g);
  return y;
}

// Grouped bars: given and received per category
function barChart(id, title, rows) {
  const W = 560, H = 290, L = 42, R = 12, top = 34, bottom = H - 48;
  const total = rows.reduce((s, r) => s + r.given + r.received, 0);
  const desc = rows.length
    ? rows.map((r) => `${r.key}: given ${r.given}, received ${r.received}`).join("; ") + "."
    : "No ledger entries.";
  const svg = frame(id, title, desc, W, H);
  legend(svg, id, W - R - 175, 16, false);
  if (!rows.length || !total) {
    yAxis(svg, L, R, W, top, bottom, 5, 1);
    svg.appendChild(el("text", {x: (L + W - R) / 2, y: (top + bottom) / 2, "text-anchor": "middle",
                                class: "empty"}, "No ledger entries"));
    return svg;
  }
  const maxV = Math.max(...rows.map((r) => Math.max(r.given, r.received)));
  const step = niceStep(maxV);
  const yMax = Math.ceil(maxV / step) * step;
  const y = yAxis(svg, L, R, W, top, bottom, yMax, step);
  const gw = (W - L - R) / rows.length;
  const bw = Math.min(42, gw * 0.36);
  const maxChars = Math.max(4, Math.floor(gw / 7));
  rows.forEach((r, i) => {
    const cx = L + gw * (i + 0.5);
    const g = el("g", {class: "group", "data-key": r.key});
    for (const [dir, v, x0] of [["given", r.given, cx - bw - 1], ["received", r.received, cx + 1]]) {
      const bar = el("rect", {x: x0, y: y(v), width: bw, height: Math.max(0, bottom - y(v)),
                              fill: dir === "given" ? GIVEN : `url(#${id}-hatch)`,
                              stroke: dir === "given" ? GIVEN : RECEIVED_EDGE,
                              class: `bar ${dir}`, "data-value": v});
      bar.appendChild(el("title", {}, `${r.key}: ${dir} ${v}`));
      g.appendChild(bar);
      g.appendChild(el("text", {x: x0 + bw / 2, y: y(v) - 4, "text-anchor": "middle", class: "value"}, String(v)));
    }
    const label = r.key.length > maxChars ? `${r.key.slice(0, maxChars - 1)}…` : r.key;
    const t = el("text", {x: cx, y: bottom + 17, "text-anchor": "middle"}, label);
    t.appendChild(el("title", {}, r.key));
    g.appendChild(t);
    const net = r.given - r.received;
    g.appendChild(el("text", {x: cx, y: bottom + 33, "text-anchor": "middle", class: "value",
                              fill: "#555"}, `net ${net > 0 ? "+" : ""}${net}`));
    svg.appendChild(g);
  });
  return svg;
}

// Given and received per month, as two lines; opts: {W, H} to draw it smaller, yMax to
// share one scale between small multiples
function timeChart(id, title, months, opts = {}) {
  const W = opts.W || 1100, H = opts.H || 300, L = 42, R = 16, top = 34, bottom = H - 44;
  const desc = months.length
    ? `${months.length} month(s) from ${months[0].key} to ${months.at(-1).key}; ` +
      months.filter((m) => m.given || m.received)
        .map((m) => `${m.key}: given ${m.given}, received ${m.received}`).join("; ") + "."
    : "No ledger entries.";
  const svg = frame(id, title, desc, W, H);
  legend(svg, id, W - R - 175, 16, true);
  if (!months.length) {
    yAxis(svg, L, R, W, top, bottom, 5, 1);
    svg.appendChild(el("text", {x: (L + W - R) / 2, y: (top + bottom) / 2, "text-anchor": "middle",
                                class: "empty"}, "No ledger entries"));
    return svg;
  }
  const maxV = Math.max(1, opts.yMax || 0, ...months.map((m) => Math.max(m.given, m.received)));
  const step = niceStep(maxV);
  const yMax = Math.ceil(maxV / step) * step;
  const y = yAxis(svg, L, R, W, top, bottom, yMax, step);
  const n = months.length;
  const x = (i) => (n === 1 ? (L + W - R) / 2 : L + 20 + (i * (W - L - R - 40)) / (n - 1));
  const every = Math.ceil(n / (opts.W ? Math.max(4, Math.floor(W / 80)) : 14));
  const axis = el("g", {class: "x-axis", "aria-hidden": "true"});
  months.forEach((m, i) => {
    axis.appendChild(el("line", {x1: x(i), x2: x(i), y1: bottom, y2: bottom + 4, stroke: "#555"}));
    if ((n - 1 - i) % every === 0) {
      axis.appendChild(el("text", {x: x(i), y: bottom + 18, "text-anchor": "middle"}, m.key));
    }
  });
  svg.appendChild(axis);
  for (const [dir, colour, dash] of [["given", GIVEN, null], ["received", RECEIVED, "7 4"]]) {
    const g = el("g", {class: `series ${dir}`});
    if (n > 1) {
      g.appendChild(el("polyline", {points: months.map((m, i) => `${x(i)},${y(m[dir])}`).join(" "),
                                    fill: "none", stroke: colour, "stroke-width": 2.5,
                                    "stroke-dasharray": dash}));
    }
    months.forEach((m, i) => {
      const pt = dir === "given"
        ? el("circle", {cx: x(i), cy: y(m[dir]), r: 4, fill: GIVEN, class: "point", "data-value": m[dir]})
        : el("rect", {x: x(i) - 4, y: y(m[dir]) - 4, width: 8, height: 8, fill: "#fff",
                      stroke: RECEIVED_EDGE, "stroke-width": 2, class: "point", "data-value": m[dir]});
      pt.appendChild(el("title", {}, `${m.key}: ${dir} ${m[dir]}`));
      g.appendChild(pt);
    });
    svg.appendChild(g);
  }
  return svg;
}

// --- aggregation ----------------------------------------------------------------------

function tally(entries, keyOf) {
  const map = new Map();
  for (const e of entries) {
    const k = keyOf(e);
    if (!map.has(k)) map.set(k, {key: k, given: 0, received: 0});
    map.get(k)[e.direction === "given" ? "given" : "received"] += 1;
  }
  return map;
}

function levelOrder() {
  // the common names in the order the agreements' tables list them (highest first)
  const order = [];
  for (const a of agreements) for (const r of a.table) if (!order.includes(r.common)) order.push(r.common);
  for (const lv of LEVEL_ORDER) if (!order.includes(lv)) order.push(lv);
  return order;
}

function byOrder(order) {
  return (p, q) => {
    const i = order.indexOf(p.key), j = order.indexOf(q.key);
    if (i >= 0 && j >= 0) return i - j;
    if (i >= 0) return -1;
    if (j >= 0) return 1;
    return p.key.localeCompare(q.key);
  };
}

const monthOf = (iso) => iso.slice(0, 7);

function monthSeries(entries) {
  if (!entries.length) return [];
  const counts = tally(entries, (e) => monthOf(e.at));
  const keys = [...counts.keys()].sort();
  if (keys.length === 1) {
    // one month alone draws no line: start from the month before, empty
    let [y0, m0] = keys[0].split("-").map(Number);
    m0 -= 1;
    if (m0 < 1) { m0 = 12; y0 -= 1; }
    keys.unshift(`${String(y0).padStart(4, "0")}-${String(m0).padStart(2, "0")}`);
  }
  const now = new Date().toISOString().slice(0, 7);
  const last = keys.at(-1) > now ? keys.at(-1) : now;
  const out = [];
  let [y, m] = keys[0].split("-").map(Number);
  for (let guard = 0; guard < 1200; guard++) {
    const key = `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}`;
    out.push(counts.get(key) || {key, given: 0, received: 0});
    if (key >= last) break;
    m += 1;
    if (m > 12) { m = 1; y += 1; }
  }
  return out;
}

// Per level or discipline, per month: one row per category, its months on the shared axis
function monthsBy(entries, keyOf, order) {
  const axis = monthSeries(entries).map((m) => m.key);
  const groups = new Map();
  for (const e of entries) {
    const k = keyOf(e);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(e);
  }
  return [...groups.keys()].map((key) => ({key})).sort(order).map(({key}) => {
    const counts = tally(groups.get(key), (e) => monthOf(e.at));
    return {key, months: axis.map((m) => counts.get(m) || {key: m, given: 0, received: 0})};
  });
}

// --- tables -----------------------------------------------------------------------------

function dataTable(caption, head, rows, cls) {
  const body = rows.map((r) => {
    const net = r.given - r.received;
    return `<tr><th scope="row">${esc(r.key)}</th><td class="num">${r.given}</td>` +
      `<td class="num">${r.received}</td><td class="num ${net > 0 ? "net-pos" : net < 0 ? "net-neg" : ""}">` +
      `${net > 0 ? "+" : ""}${net}</td></tr>`;
  }).join("");
  const g = rows.reduce((s, r) => s + r.given, 0), rc = rows.reduce((s, r) => s + r.received, 0);
  return `<table class="${cls}"><caption>${caption}</caption><thead><tr><th scope="col">${esc(head)}</th>` +
    `<th scope="col" class="num">Given</th><th scope="col" class="num">Received</th><th scope="col" class="num">Net</th>` +
    `</tr></thead><tbody>${body || `<tr><td colspan="4">No entries.</td></tr>`}</tbody>` +
    (rows.length > 1 ? `<tfoot><tr><th scope="row">Total</th><td class="num">${g}</td><td class="num">${rc}</td>` +
      `<td class="num">${g - rc > 0 ? "+" : ""}${g - rc}</td></tr></tfoot>` : "") + "</table>";
}

// Months down, each category's given and received across
function monthTable(caption, series, cls) {
  if (!series.length) return `<table class="${cls}"><caption>${caption}</caption><tbody><tr><td>No entries.</td></tr></tbody></table>`;
  const head = series.map((s) => `<th scope="col" class="num">${esc(s.key)} given</th>` +
    `<th scope="col" class="num">${esc(s.key)} received</th>`).join("");
  const rows = series[0].months.map((m, i) => `<tr><th scope="row">${esc(m.key)}</th>` +
    series.map((s) => `<td class="num">${s.months[i].given}</td><td class="num">${s.months[i].received}</td>`)
      .join("") + "</tr>").join("");
  return `<table class="${cls}"><caption>${caption}</caption><thead><tr><th scope="col">Month</th>` +
    `${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

const BY = {
  level: {label: "level", keyOf: (e) => e.level, order: () => byOrder(levelOrder())},
  discipline: {label: "discipline", keyOf: (e) => e.discipline,
               order: () => (p, q) => p.key.localeCompare(q.key)},
};
let lastEntries = [];
let lastScope = "";

// Small multiples: a chart per level (or discipline), one scale for all, and the table
function renderByMonth() {
  const kind = BY[$("by-month").value] ? $("by-month").value : "level";
  const {label, keyOf, order} = BY[kind];
  const series = monthsBy(lastEntries, keyOf, order());
  const yMax = Math.max(1, ...series.flatMap((s) => s.months.map((m) => Math.max(m.given, m.received))));
  const charts = series.map((s, i) => {
    const wrap = document.createElement("div");
    wrap.className = "multiple";
    wrap.dataset.key = s.key;
    const name = document.createElement("p");
    name.className = "multiple-key";
    name.textContent = s.key;
    wrap.append(name, timeChart(`chart-month-${kind}-${i}`, `${s.key}: given and received per month${lastScope}`,
                          s.months, {W: 540, H: 230, yMax}));
    return wrap;
  });
  const fig = $("fig-by-month");
  fig.querySelector("figcaption").textContent = `Over time, per ${label}: entries per month`;
  const plot = fig.querySelector(".plot");
  if (charts.length) plot.replaceChildren(...charts);
  else plot.textContent = "No ledger entries.";
  const months = series.length ? series[0].months.length : 0;
  fig.querySelector(".data").innerHTML =
    `<details class="data"${months <= 12 ? " open" : ""}><summary>Entries per month and ${esc(label)} as a table ` +
    `(${months} month${months === 1 ? "" : "s"})</summary>` +
    monthTable(`Per month and ${esc(label)}${esc(lastScope)}`, series, `data-month-${kind}`) + "</details>";
}

function place(figId, svg, table) {
  const fig = $(figId);
  fig.querySelector(".plot").replaceChildren(svg);
  fig.querySelector(".data").innerHTML = table;
}

function renderBalances(ledger, filtered) {
  const byId = new Map(agreements.map((a) => [a.id, a]));
  const partners = new Map();
  for (const e of ledger.entries) {
    if (!partners.has(e.agreement_id)) partners.set(e.agreement_id, new Set());
    partners.get(e.agreement_id).add(e.partner);
  }
  const rows = Object.entries(ledger.balances).map(([id, b]) => {
    const a = byId.get(id);
    const limit = a && a.max_imbalance !== null && a.max_imbalance !== undefined ? a.max_imbalance : null;
    let hold = "no hold threshold";
    if (limit !== null) {
      hold = filtered ? `limit ${limit} (judged over all partners)`
        : b.net >= limit ? `<span class="over">limit ${limit}: new releases are held</span>`
          : `limit ${limit}: ${limit - b.net} more before releases are held`;
    }
    return `<tr data-agreement="${esc(id)}"><th scope="row">${esc(id)}</th>` +
      `<td>${esc([...(partners.get(id) || [])].sort().join(", "))}</td>` +
      `<td class="num">${b.given}</td><td class="num">${b.received}</td>` +
      `<td class="num ${b.net > 0 ? "net-pos" : b.net < 0 ? "net-neg" : ""}">${b.net > 0 ? "+" : ""}${b.net}</td>` +
      `<td>${hold}</td></tr>`;
  });
  $("balance-table").innerHTML = `<table id="balance"><caption>Balance per agreement${filtered ? " (filtered)" : ""}` +
    `</caption><thead><tr><th scope="col">Agreement</th><th scope="col">Partners</th>` +
    `<th scope="col" class="num">Given</th><th scope="col" class="num">Received</th>` +
    `<th scope="col" class="num">Net</th><th scope="col">Reciprocity hold</th></tr></thead><tbody>` +
    (rows.join("") || `<tr><td colspan="6">No entries.</td></tr>`) + "</tbody></table>";
}

const PAGE = 50;
let shownCount = PAGE;

function renderEntries(entries) {
  const shown = [...entries].sort((p, q) => q.at.localeCompare(p.at)).slice(0, shownCount);
  $("entry-table").innerHTML = `<table id="entry-list"><caption>${entries.length} entr${entries.length === 1 ? "y" : "ies"}` +
    `${entries.length > shown.length ? `, newest ${shown.length} shown` : ""}, newest first</caption>` +
    `<thead><tr><th scope="col">At</th><th scope="col">Direction</th><th scope="col">Partner</th>` +
    `<th scope="col">Agreement</th><th scope="col">Level</th><th scope="col">Discipline</th>` +
    `<th scope="col">Item</th></tr></thead><tbody>` +
    (shown.map((e) => `<tr class="${esc(e.direction)}"><td>${esc(e.at.replace("T", " ").slice(0, 19))}</td>` +
      `<td>${esc(e.direction)}</td><td>${esc(e.partner)}</td><td>${esc(e.agreement_id)}</td>` +
      `<td>${esc(e.level)}</td><td>${esc(e.discipline)}</td><td>${esc(e.item_id)}</td></tr>`).join("") ||
      `<tr><td colspan="7">No entries.</td></tr>`) + "</tbody></table>" +
    (entries.length > shown.length
      ? `<button type="button" id="more">Show ${Math.min(PAGE, entries.length - shown.length)} more</button>` : "");
  const more = $("more");
  if (more) {
    more.addEventListener("click", () => {
      shownCount += PAGE;
      renderEntries(entries);
      const rows = document.querySelectorAll("#entry-list tbody tr");
      rows[Math.min(rows.length - 1, shownCount - PAGE)]?.querySelector("td")?.setAttribute("tabindex", "-1");
      rows[Math.min(rows.length - 1, shownCount - PAGE)]?.querySelector("td")?.focus();
    });
  }
}

// --- loading ----------------------------------------------------------------------------

function filters() {
  return {partner: $("partner").value, agreement: $("agreement").value};
}

let loadSeq = 0;

async function load() {
  const mine = ++loadSeq;
  const f = filters();
  const params = new URLSearchParams();
  if (f.agreement) params.set("agreement", f.agreement);
  if (f.partner) params.set("partner", f.partner);
  const url = new URL(location.href);
  url.search = params.toString();
  if ($("by-month").value !== "level") url.searchParams.set("by", $("by-month").value);
  history.replaceState(null, "", url);
  say("Loading the ledger…");
  say("", true);
  let ledger;
  try {
    ledger = await api("GET", `/api/ledger${params.toString() ? `?${params}` : ""}`);
  } catch (e) {
    if (mine !== loadSeq) return;
    say("");
    say(e instanceof ApiError && e.status === 403 ? `Not for your role: ${e.message}` : e.message, true);
    for (const id of ["balances", "charts", "entries"]) $(id).hidden = true;
    return;
  }
  if (mine !== loadSeq) return; // a later filter change has taken over
  for (const id of ["balances", "charts", "entries"]) $(id).hidden = false;
  const entries = ledger.entries;
  const what = [f.partner && `partner ${f.partner}`, f.agreement && `agreement ${f.agreement}`].filter(Boolean);
  const scope = what.length ? ` (${what.join(", ")})` : "";

  renderBalances(ledger, Boolean(f.partner));

  const partners = [...tally(entries, (e) => e.partner).values()].sort((p, q) => p.key.localeCompare(q.key));
  place("fig-partner", barChart("chart-partner", `Given and received per partner${scope}`, partners),
        dataTable(`Per partner${esc(scope)}`, "Partner", partners, "data-partner"));

  const levels = [...tally(entries, (e) => e.level).values()].sort(byOrder(levelOrder()));
  place("fig-level", barChart("chart-level", `Given and received per level${scope}`, levels),
        dataTable(`Per level${esc(scope)}`, "Level", levels, "data-level"));

  const disciplines = [...tally(entries, (e) => e.discipline).values()].sort((p, q) => p.key.localeCompare(q.key));
  place("fig-discipline", barChart("chart-discipline", `Given and received per discipline${scope}`, disciplines),
        dataTable(`Per discipline${esc(scope)}`, "Discipline", disciplines, "data-discipline"));

  const months = monthSeries(entries);
  place("fig-time", timeChart("chart-time", `Entries per month, given and received${scope}`, months),
        `<details class="data"${months.length <= 12 ? " open" : ""}><summary>Entries per month as a table ` +
        `(${months.length} month${months.length === 1 ? "" : "s"})</summary>` +
        dataTable(`Per month${esc(scope)}`, "Month", months, "data-time") + "</details>");

  lastEntries = entries;
  lastScope = scope;
  renderByMonth();

  shownCount = PAGE;
  renderEntries(entries);
  const given = entries.filter((e) => e.direction === "given").length;
  say(`${entries.length} ledger entr${entries.length === 1 ? "y" : "ies"}${scope}: ` +
      `${given} given, ${entries.length - given} received.`);
}

async function main() {
  banner("UNCLASSIFIED");
  me = await shell("reciprocity.html");
  if (!me) return;
  const [parties, ags] = await Promise.all([
    api("GET", "/api/parties").catch(() => []), api("GET", "/api/agreements").catch(() => [])]);
  agreements = ags;
  const partnerCodes = new Set(parties.map((p) => p.code).filter((c) => c !== me.node));
  for (const a of ags) for (const p of a.parties) if (p !== me.node) partnerCodes.add(p);
  const names = new Map(parties.map((p) => [p.code, p.name]));
  for (const code of [...partnerCodes].sort()) {
    $("partner").add(new Option(names.has(code) ? `${code} — ${names.get(code)}` : code, code));
  }
  for (const a of ags.filter((x) => x.parties.includes(me.node))) {
    $("agreement").add(new Option(`${a.id} (${a.kind})`, a.id));
  }
  const query = new URLSearchParams(location.search);
  for (const key of ["partner", "agreement"]) {
    const v = query.get(key);
    if (v && [...$(key).options].some((o) => o.value === v)) $(key).value = v;
  }
  if (BY[query.get("by")]) $("by-month").value = query.get("by");
  $("by-month").addEventListener("change", () => {
    const url = new URL(location.href);
    if ($("by-month").value === "level") url.searchParams.delete("by");
    else url.searchParams.set("by", $("by-month").value);
    history.replaceState(null, "", url);
    renderByMonth();
  });
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  $("partner").addEventListener("change", load);
  $("agreement").addEventListener("change", load);
  $("clear").addEventListener("click", () => { $("partner").value = ""; $("agreement").value = ""; load(); });
  await load();
}

main();
