// Agreements: each one's status on a chosen date, its history as an SVG timeline (signature,
// entry into force, anniversaries, notices, suspension, end), its equivalence table and
// scope; per partner an overview of every agreement with that partner; and the open items
// (RFIs, consent requests, release requests, consents) the signed-in user's role may read.
// The terms shown (table, scope, reciprocity limit, permitted purposes) are those in force on
// the chosen date; an administrator amends them from a date with the form under each one.
import {api, ApiError, banner, esc, say, shell} from "./console.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const IN_FORCE = new Set(["IN_FORCE", "NOTICE_GIVEN", "NOTICE_SUSPENDED"]);
const STATE_COLOUR = {
  SIGNED: "#9aa4ad", IN_FORCE: "#2e7d32", NOTICE_GIVEN: "#f0a020", NOTICE_SUSPENDED: "#9ccc65",
  TERMINATED: "#444", EXPIRED: "#444", WITHDRAWN: "#444",
};
const STATE_TEXT = {
  NEGOTIATING: "under negotiation", SIGNED: "signed, not in force", IN_FORCE: "in force",
  NOTICE_GIVEN: "in force, notice of termination given",
  NOTICE_SUSPENDED: "in force, notice suspended", TERMINATED: "terminated",
  EXPIRED: "expired", WITHDRAWN: "withdrawn before entry into force",
};
const EVENT_TEXT = {
  SIGNED: "signed", ENTERED_INTO_FORCE: "in force", NOTICE_GIVEN: "notice given",
  NOTICE_SUSPENDED: "notice suspended", NOTICE_REACTIVATED: "notice reactivated",
  NOTICE_WITHDRAWN: "notice withdrawn", TERMINATED: "terminated", WITHDRAWN: "withdrawn",
};

// --- dates (ISO strings, UTC day numbers) ---------------------------------------------

const DAY_MS = 86400000;
const dayNo = (s) => Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10)) / DAY_MS;
const isoOf = (n) => new Date(n * DAY_MS).toISOString().slice(0, 10);
const addDays = (s, k) => isoOf(dayNo(s) + k);
const isLeap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const todayIso = () => new Date().toISOString().slice(0, 10);
const maxIso = (...xs) => xs.filter(Boolean).sort().at(-1);
const minIso = (...xs) => xs.filter(Boolean).sort()[0];

// same month and day ``k`` years later; 29 February becomes 28 February (as the node does)
function addYears(s, k) {
  const y = +s.slice(0, 4) + k;
  const md = s.slice(5) === "02-29" && !isLeap(y) ? "02-28" : s.slice(5);
  return `${String(y).padStart(4, "0")}-${md}`;
}

// --- the lifecycle, replayed for drawing (the node's status stays the authority) ------

function noticeEnd(a, since, notice) {
  // GSOMIA Art. 21: notice given ``notice_days`` before an anniversary ends the agreement the
  // day before it (the node's default: the cut-off day counts as in time)
  for (let k = 1; k < 1000; k++) {
    const anniversary = addYears(since, k * a.term_years);
    if (dayNo(anniversary) - dayNo(notice) >= a.notice_days) return addDays(anniversary, -1);
  }
  return null;
}

const termEnd = (a, since) => (a.auto_renew ? null : addDays(addYears(since, a.term_years), -1));

// Replay the events: periods of state, ranges in force, anniversaries, the end.
// ``nodeStatus`` (today's status from the node) corrects the end date where the node's
// settings differ from the default.
function replay(a, nodeStatus, horizon) {
  let state = "NEGOTIATING", since = null, ends = null;
  const periods = [], ignored = [];
  const enter = (day, s) => {
    if (periods.length && periods.at(-1).from === day) periods.at(-1).state = s;
    else if (!periods.length || periods.at(-1).state !== s) periods.push({from: day, state: s});
  };
  a.events.forEach((e) => {
    if (ignored.length) { ignored.push(e); return; }
    if (ends && IN_FORCE.has(state) && e.date > ends) { ignored.push(e); return; }
    switch (e.kind) {
      case "SIGNED": if (state === "NEGOTIATING") state = "SIGNED"; break;
      case "ENTERED_INTO_FORCE": state = "IN_FORCE"; since = e.date; ends = termEnd(a, e.date); break;
      case "NOTICE_GIVEN": case "NOTICE_REACTIVATED":
        if (since) { ends = noticeEnd(a, since, e.date); state = "NOTICE_GIVEN"; } break;
      case "NOTICE_SUSPENDED":
        if (state === "NOTICE_GIVEN") { state = "NOTICE_SUSPENDED"; ends = termEnd(a, since || e.date); }
        break;
      case "NOTICE_WITHDRAWN":
        if (state === "NOTICE_GIVEN" || state === "NOTICE_SUSPENDED") {
          state = "IN_FORCE"; ends = termEnd(a, since || e.date);
        } break;
      case "TERMINATED": state = "TERMINATED"; ends = addDays(e.date, -1); break;
      case "WITHDRAWN":
        if (state === "NEGOTIATING" || state === "SIGNED") state = "WITHDRAWN"; break;
      default: break;
    }
    enter(e.date, state);
  });
  if (nodeStatus && nodeStatus.ends_on && nodeStatus.in_force_since === since && IN_FORCE.has(state)) {
    ends = nodeStatus.ends_on;
  }
  let end = null;
  if (IN_FORCE.has(state) && ends) {
    const final = state === "NOTICE_GIVEN" ? "TERMINATED" : "EXPIRED";
    enter(addDays(ends, 1), final);
    end = {date: addDays(ends, 1), last: ends, state: final};
  }
  periods.forEach((p, i) => { p.to = periods[i + 1] ? periods[i + 1].from : null; });
  // in force ranges: runs of consecutive in-force periods (``to`` exclusive, null = open)
  const ranges = [];
  for (const p of periods) {
    if (!IN_FORCE.has(p.state)) continue;
    const last = ranges.at(-1);
    if (last && last.to === p.from) last.to = p.to;
    else ranges.push({from: p.from, to: p.to});
  }
  // automatic renewals: each anniversary of entry into force while in force, up to horizon
  const anniversaries = [];
  if (a.auto_renew) {
    for (const r of ranges) {
      for (let k = 1; k < 1000; k++) {
        const day = addYears(r.from, k * a.term_years);
        if ((r.to && day >= r.to) || day > horizon) break;
        anniversaries.push(day);
      }
    }
  }
  return {periods, ranges, anniversaries, end, ignored, state, since, ends};
}

// --- SVG helpers ----------------------------------------------------------------------

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function titled(node, text) { node.appendChild(el("title", {}, text)); return node; }

function marker(kind, x, y, size = 6) {
  const s = size;
  const g = el("g", {class: "mark", "data-kind": kind});
  const stroke = {stroke: "#fff", "stroke-width": 1.5};
  switch (kind) {
    case "SIGNED":
      g.appendChild(el("path", {d: `M${x} ${y - s}L${x + s} ${y}L${x} ${y + s}L${x - s} ${y}Z`,
                                fill: "#3d4752", ...stroke})); break;
    case "ENTERED_INTO_FORCE":
      g.appendChild(el("circle", {cx: x, cy: y, r: s, fill: "#1b5e20", ...stroke})); break;
    case "NOTICE_GIVEN": case "NOTICE_REACTIVATED":
      g.appendChild(el("path", {d: `M${x - s} ${y - s}L${x + s} ${y - s}L${x} ${y + s}Z`,
                                fill: "#b85c00", ...stroke})); break;
    case "NOTICE_SUSPENDED":
      g.appendChild(el("rect", {x: x - s + 1, y: y - s + 1, width: 2 * s - 2, height: 2 * s - 2,
                                fill: "#5d7f1e", ...stroke})); break;
    case "NOTICE_WITHDRAWN":
      g.appendChild(el("path", {d: `M${x - s} ${y + s}L${x + s} ${y + s}L${x} ${y - s}Z`,
                                fill: "#1b5e20", ...stroke})); break;
    default: // TERMINATED, WITHDRAWN, computed end
      g.appendChild(el("path", {d: `M${x - s} ${y - s}L${x + s} ${y + s}M${x + s} ${y - s}L${x - s} ${y + s}`,
                                stroke: "#fff", "stroke-width": 5}));
      g.appendChild(el("path", {d: `M${x - s} ${y - s}L${x + s} ${y + s}M${x + s} ${y - s}L${x - s} ${y + s}`,
                                stroke: "#a00", "stroke-width": 2.5}));
  }
  return g;
}

function yearStep(years) {
  for (const step of [1, 2, 5, 10, 20, 50]) if (years / step <= 12) return step;
  return 100;
}

function eventText(e) {
  return `${EVENT_TEXT[e.kind] || e.kind}${e.by ? ` by ${e.by}` : ""}`;
}

function endText(end, today) {
  return end.date > today ? `ends after ${end.last}` : `ended after ${end.last} (${end.state.toLowerCase()})`;
}

// Draw one SVG with one lane per agreement on a shared time axis.
// lanes: [{a, h, label}]; opts: {id, start, end, today, at, labels: bool (event labels above)}
function timeline(lanes, opts) {
  const W = 960, R = 14, L = opts.labels ? 14 : 190;
  const s0 = dayNo(opts.start), s1 = dayNo(opts.end);
  const x = (d) => L + ((dayNo(d) - s0) / Math.max(1, s1 - s0)) * (W - L - R);
  const svg = el("svg", {id: opts.id, class: "timeline", role: "img",
                         "aria-labelledby": `${opts.id}-title ${opts.id}-desc`,
                         xmlns: SVG});
  svg.appendChild(el("title", {id: `${opts.id}-title`}, opts.title));
  svg.appendChild(el("desc", {id: `${opts.id}-desc`}, opts.desc));

  // event labels above the bar (single-lane timeline): greedy rows so that none overlap
  let rows = 0;
  const placed = [];
  if (opts.labels) {
    const {a, h} = lanes[0];
    const byDate = new Map();
    for (const e of a.events) {
      if (!byDate.has(e.date)) byDate.set(e.date, []);
      byDate.get(e.date).push(eventText(e));
    }
    const labelled = [...byDate.entries()].map(([date, texts]) => [date, `${texts.join(" · ")} ${date}`]);
    if (h.end) labelled.push([h.end.date, endText(h.end, opts.today).replace(/ \(.*\)$/, "")]);
    const rowEnds = [];
    for (const [date, text] of labelled.sort((p, q) => p[0].localeCompare(q[0]))) {
      const px = x(date), w = text.length * 5.8 + 6;
      const anchorEnd = px + w > W - R;
      const from = anchorEnd ? px - w : px, to = anchorEnd ? px : px + w;
      let r = rowEnds.findIndex((end) => end < from);
      if (r < 0) { r = rowEnds.length; rowEnds.push(to); } else rowEnds[r] = to;
      placed.push({date, text, px, r, anchorEnd});
    }
    rows = rowEnds.length;
  }
  const laneH = opts.labels ? 18 : 26;
  const top = opts.labels ? 6 + rows * 15 + 6 : 6;
  const axisY = top + lanes.length * laneH + 10;
  const twoLines = Boolean(opts.at && opts.at !== opts.today);
  const H = axisY + (twoLines ? 48 : 34);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);

  // the time axis: a tick each year, a label every few years
  const y0 = +opts.start.slice(0, 4), y1 = +opts.end.slice(0, 4);
  const step = yearStep(y1 - y0 + 1);
  const axis = el("g", {class: "axis", "aria-hidden": "true"});
  axis.appendChild(el("line", {x1: L, x2: W - R, y1: axisY, y2: axisY, stroke: "#555"}));
  for (let y = y0 + 1; y <= y1; y++) {
    const px = x(`${String(y).padStart(4, "0")}-01-01`);
    const major = y % step === 0;
    axis.appendChild(el("line", {x1: px, x2: px, y1: axisY, y2: axisY + (major ? 6 : 3), stroke: "#555"}));
    if (major) axis.appendChild(el("text", {x: px, y: axisY + 17, "text-anchor": "middle"}, String(y)));
    if (major) axis.appendChild(el("line", {x1: px, x2: px, y1: top - 2, y2: axisY, stroke: "#eee"}));
  }
  svg.appendChild(axis);

  // the lanes
  lanes.forEach(({a, h, label}, i) => {
    const y = top + i * laneH, barY = y + (opts.labels ? 1 : 5), barH = opts.labels ? 16 : 14;
    const g = el("g", {class: "lane", "data-agreement": a.id});
    if (!opts.labels) {
      const short = label.length > 28 ? `${label.slice(0, 27)}…` : label;
      g.appendChild(titled(el("text", {x: 4, y: barY + 11, class: "lane-label"}, short), label));
    }
    g.appendChild(el("line", {x1: x(a.events[0] ? a.events[0].date : opts.start), x2: W - R,
                              y1: barY + barH / 2, y2: barY + barH / 2, stroke: "#ccc",
                              "stroke-dasharray": "2 3"}));
    for (const p of h.periods) {
      if (p.state === "NEGOTIATING") continue;
      const to = p.to || opts.end;
      const ended = !IN_FORCE.has(p.state) && p.state !== "SIGNED";
      const rect = el("rect", {x: x(p.from), y: ended ? barY + barH / 2 - 2 : barY,
                               width: Math.max(1, x(to) - x(p.from)), height: ended ? 4 : barH,
                               fill: STATE_COLOUR[p.state] || "#999", class: `span ${p.state}`,
                               "data-state": p.state});
      g.appendChild(titled(rect, `${STATE_TEXT[p.state] || p.state}: ${p.from} – ${p.to ? addDays(p.to, -1) : "today"}`));
    }
    for (const day of h.anniversaries) {
      const px = x(day);
      g.appendChild(titled(el("line", {x1: px, x2: px, y1: barY + barH, y2: barY + barH + 5,
                                       stroke: "#1b5e20", "stroke-width": 1.5, class: "anniversary"}),
                           `${day}: anniversary, renewed automatically`));
    }
    for (const e of a.events) {
      const m = marker(e.kind, x(e.date), barY + barH / 2, opts.labels ? 6 : 5);
      m.setAttribute("data-date", e.date);
      g.appendChild(titled(m, `${e.date}: ${eventText(e)}${e.note ? ` — ${e.note}` : ""}`));
    }
    if (h.end) {
      const m = marker("END", x(h.end.date), barY + barH / 2, opts.labels ? 6 : 5);
      m.setAttribute("data-date", h.end.date);
      g.appendChild(titled(m, endText(h.end, opts.today)));
    }
    svg.appendChild(g);
  });

  // the event labels, with a leader line down to the bar
  for (const p of placed) {
    const ty = 6 + p.r * 15 + 10;
    svg.appendChild(el("line", {x1: p.px, x2: p.px, y1: ty + 3, y2: top, stroke: "#888",
                                "stroke-width": 0.7, "aria-hidden": "true"}));
    svg.appendChild(el("text", {x: p.anchorEnd ? p.px - 3 : p.px + 3, y: ty,
                                "text-anchor": p.anchorEnd ? "end" : "start"}, p.text));
  }

  // today and the "status on" date
  const vline = (day, colour, text, dy) => {
    if (!day || day < opts.start || day > opts.end) return;
    const px = x(day);
    svg.appendChild(el("line", {x1: px, x2: px, y1: top - 4, y2: axisY + 4, stroke: colour,
                                "stroke-width": 1.5, "stroke-dasharray": "4 3",
                                class: `vline ${text.replace(/\s/g, "-")}`}));
    const right = px > W - 120;
    svg.appendChild(el("text", {x: right ? px - 3 : px + 3, y: axisY + 30 - dy,
                                "text-anchor": right ? "end" : "start", fill: colour,
                                style: `fill:${colour};font-weight:bold`}, `${text} ${day}`));
  };
  vline(opts.today, "#a00", "today", 0);
  if (twoLines) vline(opts.at, "#1565c0", "status on", -14);
  return svg;
}

// The axis of a set of agreements: first event to today (further when an end, or the
// chosen date, lies beyond), with a little room either side.
function span(items, today, at) {
  const firsts = items.map(({a}) => a.events[0] && a.events[0].date).filter(Boolean);
  const ends = items.map(({h}) => h.end && h.end.date).filter(Boolean);
  let start = minIso(...firsts, at) || addDays(today, -365);
  let end = maxIso(today, at, ...ends);
  const pad = Math.max(20, Math.round((dayNo(end) - dayNo(start)) * 0.02));
  return {start: addDays(start, -pad), end: addDays(end, pad)};
}

function describe(a, h, today) {
  const parts = a.events.map((e) => `${eventText(e)} on ${e.date}${e.note ? ` (${e.note})` : ""}`);
  if (h.anniversaries.length) {
    parts.push(`renewed automatically ${h.anniversaries.length} time(s) at its anniversaries, ` +
               `${h.anniversaries[0]} to ${h.anniversaries.at(-1)}`);
  }
  if (h.end) parts.push(endText(h.end, today));
  if (h.ignored.length) parts.push(`${h.ignored.length} later event(s) not applied: it had ended`);
  return `${a.id}: ${parts.join("; ")}.`;
}

// --- page state -------------------------------------------------------------------------

let me = null;
let todayList = [];      // agreements with today's status (for the timelines)
let open = {};           // partner -> [texts]
let openReadable = {read: 0, forbidden: 0};

function partnersOf(a) { return a.parties.filter((p) => p !== me.node); }

function stateBadge(status) {
  return `<span class="state" data-state="${esc(status.state)}">${esc(status.state.replace(/_/g, " "))}</span>`;
}

function tableHtml(caption, head, rows, cls = "") {
  return `<table class="${cls}"><caption>${caption}</caption><thead><tr>` +
    head.map((h) => `<th scope="col">${esc(h)}</th>`).join("") + "</tr></thead><tbody>" +
    rows.join("") + "</tbody></table>";
}

function termText(a) {
  if (a.kind === "MOU" && !a.table.length) {
    return a.auto_renew ? `${a.term_years}-year term, renewed automatically` : `${a.term_years}-year term`;
  }
  return a.auto_renew
    ? `${a.term_years}-year term, renewed automatically at each anniversary unless written notice ` +
      `is given ${a.notice_days} days before it`
    : `${a.term_years}-year term, not renewed`;
}

function renewalText(a, h, today) {
  if (!a.auto_renew || !h.since || !IN_FORCE.has(h.state) || (h.end && h.end.date <= today)) return "";
  if (h.state === "NOTICE_GIVEN" && h.end) return `Ends after ${h.end.last} (notice given).`;
  let k = 1, next;
  do { next = addYears(h.since, k * a.term_years); k++; } while (next <= today);
  const by = addDays(next, -a.notice_days);
  return `Next anniversary ${next}: renewed automatically unless written notice is given by ${by}.`;
}

function agreementSection(a, status, h, axis, today, at) {
  const section = document.createElement("section");
  section.className = "agreement";
  section.id = `agreement-${a.id}`;
  section.setAttribute("aria-labelledby", `agreement-${a.id}-h`);
  const parties = a.parties.map((p) => (p === a.hub ? `${p} (hub)` : p)).join(", ");
  const scope = a.scope || {};
  const list = (xs) => (xs === null || xs === undefined ? "any" : xs.length ? xs.map(esc).join(", ") : "none");
  const ceilings = Object.entries(scope.max_level || {});
  section.innerHTML =
    `<h3 id="agreement-${esc(a.id)}-h">${esc(a.id)} <small>${esc(a.title)}</small></h3>` +
    `<dl class="facts">` +
    `<dt>Kind</dt><dd>${esc(a.kind)}${a.opens.length ? ` — opens ${a.opens.map(esc).join(", ")}` : ""}</dd>` +
    `<dt>Parties</dt><dd>${esc(parties)}</dd>` +
    `<dt>Status on ${esc(at)}</dt><dd class="status-on" data-state="${esc(status.state)}">` +
    `${stateBadge(status)} ${esc(status.explanation)}</dd>` +
    (status.in_force_since ? `<dt>In force since</dt><dd>${esc(status.in_force_since)}</dd>` : "") +
    (status.ends_on ? `<dt>Last day in force</dt><dd>${esc(status.ends_on)}</dd>` : "") +
    `<dt>Term</dt><dd>${esc(termText(a))}. ${at !== today && renewalText(a, h, today) ? "As of today: " : ""}` +
    `${esc(renewalText(a, h, today))}</dd>` +
    (a.max_imbalance !== null && a.max_imbalance !== undefined
      ? `<dt>Reciprocity</dt><dd>releases are held once this node has given ${esc(a.max_imbalance)} more than it received</dd>` : "") +
    `<dt>Permitted purposes</dt><dd class="purposes">${a.purposes && a.purposes.length
      ? a.purposes.map(esc).join("; ") : "not restricted (any purpose the originator's consent names)"}</dd>` +
    `</dl>`;
  const fig = document.createElement("figure");
  fig.style.margin = "0";
  fig.appendChild(timeline([{a, h, label: a.id}], {
    id: `timeline-${a.id}`, labels: true, start: axis.start, end: axis.end, today, at,
    title: `Timeline of ${a.id}`, desc: describe(a, h, today)}));
  section.appendChild(fig);

  const rows = a.events.map((e) => {
    const skipped = h.ignored.includes(e);
    return [e.date, `<tr data-kind="${esc(e.kind)}"><td>${esc(e.date)}</td><td>${esc(EVENT_TEXT[e.kind] || e.kind)}` +
      `${skipped ? ' <span class="computed">(not applied: the agreement had ended)</span>' : ""}</td>` +
      `<td>${esc(e.by || "")}</td><td>${esc(e.note)}</td></tr>`];
  });
  if (h.anniversaries.length) {
    const first = h.anniversaries[0], last = h.anniversaries.at(-1);
    rows.push([first, `<tr class="computed"><td>${esc(first)}${first !== last ? ` – ${esc(last)}` : ""}</td>` +
      `<td>renewed automatically ×${h.anniversaries.length}</td><td></td>` +
      `<td>each anniversary of entry into force while in force (computed)</td></tr>`]);
  }
  if (h.end) {
    rows.push([h.end.date, `<tr class="computed"><td>${esc(h.end.date)}</td><td>${h.end.date > today ? "ends" : "ended"}</td>` +
      `<td></td><td>${esc(endText(h.end, today))} (computed)</td></tr>`]);
  }
  rows.sort((r1, r2) => r1[0].localeCompare(r2[0]));
  const details = document.createElement("div");
  details.innerHTML = tableHtml(`Events of ${esc(a.id)} (the timeline as a table)`,
                                ["Date", "Event", "By", "Note"], rows.map((r) => r[1]), "events");
  section.appendChild(details);

  const cols = document.createElement("div");
  cols.className = "cols";
  const parts = [...a.parties].sort((p, q) => (p === me.node ? -1 : q === me.node ? 1 : p.localeCompare(q)));
  const equivalence = a.table.length
    ? tableHtml(`Equivalence table of ${esc(a.id)} <span class="note">(per party, the first level ` +
                `listed is the one it marks received items with)</span>`,
      ["Common level", ...parts],
      a.table.map((r) => `<tr><th scope="row">${esc(r.common)}</th>` + parts.map((p) => {
        const names = (r.levels[p] || []);
        return `<td>${names.length ? names.map((n, i) => (i ? esc(n) : `<strong>${esc(n)}</strong>`)).join(", ") : "—"}</td>`;
      }).join("") + "</tr>"), "equivalence")
    : `<p class="note equivalence">No equivalence table: this agreement carries no classified exchange.</p>`;
  cols.innerHTML =
    `<div>${equivalence}</div>` +
    `<div><table class="scope"><caption>Scope of ${esc(a.id)}</caption><tbody>` +
    `<tr><th scope="row">Disciplines</th><td>${list(scope.disciplines)}</td></tr>` +
    `<tr><th scope="row">Topics</th><td>${list(scope.topics)}</td></tr>` +
    `<tr><th scope="row">Ceiling</th><td>${ceilings.length
      ? ceilings.map(([p, lv]) => `${esc(p)}: ${esc(lv)}`).join("; ") : "none"}</td></tr>` +
    `<tr><th scope="row">Imagery</th><td>${scope.imagery_min_gsd_m !== null && scope.imagery_min_gsd_m !== undefined
      ? `no finer than ${esc(scope.imagery_min_gsd_m)} m ground sample distance (finer imagery goes as a reduced copy)`
      : "no limit"}</td></tr>` +
    `</tbody></table></div>`;
  section.appendChild(cols);
  section.appendChild(amendmentsPart(a, at));
  if (me.roles.includes("admin") && a.kind !== "MOU") section.appendChild(amendForm(a, today));
  return section;
}

const TERM_TEXT = {table: "equivalence table", scope: "scope", max_imbalance: "reciprocity limit",
                   purposes: "permitted purposes"};

function amendmentText(m) {
  const parts = [];
  if ("max_imbalance" in m) parts.push(m.max_imbalance === null ? "no reciprocity limit" : `reciprocity limit ${m.max_imbalance}`);
  if ("purposes" in m) parts.push(m.purposes.length ? `purposes: ${m.purposes.join("; ")}` : "any purpose");
  if ("scope" in m) parts.push("new scope");
  if ("table" in m) parts.push(`new equivalence table (${m.table.length} row(s))`);
  return parts.join("; ");
}

function amendmentsPart(a, at) {
  const div = document.createElement("div");
  const rows = (a.amendments || []).map((m) => `<tr data-effective="${esc(m.effective)}" ` +
    `data-in-force="${m.effective <= at}"><td>${esc(m.effective)}</td>` +
    `<td>${esc(m.changes.map((c) => TERM_TEXT[c] || c).join(", "))}</td><td>${esc(amendmentText(m))}</td>` +
    `<td>${esc(m.recorded_by)} on ${esc(m.recorded_on)}</td><td>${esc(m.note)}</td>` +
    `<td>${m.effective <= at ? "in force" : "not yet"} on ${esc(at)}</td></tr>`);
  div.innerHTML = rows.length
    ? tableHtml(`Amendments of ${esc(a.id)} <span class="note">(the terms above are those in force on ${esc(at)})</span>`,
                ["Effective", "Changes", "New terms", "Recorded", "Note", "On the chosen date"], rows, "amendments")
    : `<p class="note amendments">No amendments: the terms are those recorded with the agreement.</p>`;
  return div;
}

function amendForm(a, today) {
  const form = document.createElement("form");
  form.className = "amend";
  const id = `amend-${a.id}`;
  form.id = id;
  form.setAttribute("aria-label", `Amend ${a.id}`);
  const json = (v) => esc(JSON.stringify(v, null, 1));
  form.innerHTML =
    `<details><summary>Amend the terms of ${esc(a.id)} (administrator; dated and audited)</summary>` +
    `<p class="note">In force from the effective date (today or later); checks dated earlier keep the old terms. ` +
    `Tick only the terms that change.</p>` +
    `<p><label for="${id}-effective">Effective from</label> <input type="date" id="${id}-effective" name="effective" required value="${today}"></p>` +
    `<fieldset><legend><label><input type="checkbox" name="change-limit"> Reciprocity limit</label></legend>` +
    `<label for="${id}-limit">Hold releases once this node has given this many more than received (empty: never hold)</label> ` +
    `<input type="number" min="0" id="${id}-limit" name="limit" value="${a.max_imbalance ?? ""}"></fieldset>` +
    `<fieldset><legend><label><input type="checkbox" name="change-purposes"> Permitted purposes</label></legend>` +
    `<label for="${id}-purposes">One purpose per line (empty: any purpose)</label><br>` +
    `<textarea id="${id}-purposes" name="purposes" rows="3" cols="60">${esc((a.purposes || []).join("\n"))}</textarea></fieldset>` +
    `<fieldset><legend><label><input type="checkbox" name="change-scope"> Scope</label></legend>` +
    `<label for="${id}-scope">Scope, JSON as in the import format</label><br>` +
    `<textarea id="${id}-scope" name="scope" rows="4" cols="60">${json(a.scope)}</textarea></fieldset>` +
    `<fieldset><legend><label><input type="checkbox" name="change-table"> Equivalence table</label></legend>` +
    `<label for="${id}-table">Rows, JSON as in the import format</label><br>` +
    `<textarea id="${id}-table" name="table" rows="4" cols="60">${json(a.table)}</textarea></fieldset>` +
    `<p><label for="${id}-note">Note (the exchange of notes or decision it records)</label> ` +
    `<input id="${id}-note" name="note" size="50"></p>` +
    `<p><button type="submit">Record the amendment</button> <span class="amend-result" role="status"></span></p>` +
    `</details>`;
  form.addEventListener("submit", (ev) => { ev.preventDefault(); submitAmendment(a, form); });
  return form;
}

function amendmentBody(form) {
  const f = form.elements;
  const body = {effective: f.effective.value, note: f.note.value};
  if (f["change-limit"].checked) body.max_imbalance = f.limit.value === "" ? null : Number(f.limit.value);
  if (f["change-purposes"].checked) body.purposes = f.purposes.value.split("\n").map((x) => x.trim()).filter(Boolean);
  for (const name of ["scope", "table"]) {
    if (!f[`change-${name}`].checked) continue;
    try { body[name] = JSON.parse(f[name].value); }
    catch (e) { throw new Error(`${TERM_TEXT[name]}: not valid JSON (${e.message})`); }
  }
  return body;
}

async function submitAmendment(a, form) {
  const result = form.querySelector(".amend-result");
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const body = amendmentBody(form);
    await api("POST", `/api/agreements/${encodeURIComponent(a.id)}/amendments`, body);
    todayList = await api("GET", "/api/agreements");
    say(`${a.id} amended from ${body.effective}.`);
    await render(chosenDate() === todayIso() ? "" : chosenDate());
    document.getElementById(`agreement-${a.id}`)?.scrollIntoView();
  } catch (e) {
    result.textContent = "";
    say(`${a.id} not amended: ${e.message}`, true);
    result.textContent = `Not amended: ${e.message}`;
  } finally {
    button.disabled = false;
  }
}

function partnerSection(partner, items, today, at) {
  const section = document.createElement("section");
  section.className = "partner";
  const key = partner || "others";
  section.id = `partner-${key}`;
  section.setAttribute("aria-labelledby", `partner-${key}-h`);
  const heading = partner ? `${partner}` : "Between other parties (for reference)";
  const axis = span(items, today, at);
  const counts = partner && open[partner] ? open[partner] : [];
  section.innerHTML = `<h3 id="partner-${esc(key)}-h">${esc(heading)}</h3>` +
    (partner && openReadable.read
      ? `<p class="note open-count">Open items with ${esc(partner)}: ${counts.length ? esc(counts.join(", ")) : "none"}` +
        `${openReadable.forbidden ? " (among those your role may read)" : ""} — <a href="#open-items">open items</a></p>` : "");
  section.appendChild(timeline(items.map(({a, h}) => ({a, h, label: a.id})), {
    id: `partner-timeline-${key}`, labels: false, start: axis.start, end: axis.end, today, at,
    title: `Agreements ${partner ? `with ${partner}` : "between other parties"} over time`,
    desc: items.map(({a, h}) => describe(a, h, today)).join(" ")}));
  const div = document.createElement("div");
  div.innerHTML = tableHtml(`Agreements ${partner ? `with ${esc(partner)}` : "between other parties"} on ${esc(at)}`,
    ["Agreement", "Kind", "Parties", "Status", "Explanation"],
    items.map(({a, status}) => `<tr><td><a href="#agreement-${esc(a.id)}">${esc(a.id)}</a></td>` +
      `<td>${esc(a.kind)}</td><td>${esc(a.parties.join(", "))}</td><td>${stateBadge(status)}</td>` +
      `<td>${esc(status.explanation)}</td></tr>`), "partner-table");
  section.appendChild(div);
  return section;
}

async function render(at) {
  const today = todayIso();
  const day = at || today;
  say(`Loading agreements on ${day}…`);
  let onDay;
  try {
    onDay = day === today ? todayList : await api("GET", `/api/agreements?at=${encodeURIComponent(day)}`);
  } catch (e) {
    say("");
    say(e.message, true);
    return;
  }
  say("", true);
  const nodeToday = new Map(todayList.map((a) => [a.id, a.status]));
  const items = onDay.map((a) => {
    const horizon = maxIso(today, day);
    return {a, status: a.status, h: replay(a, nodeToday.get(a.id), horizon)};
  });

  // per partner
  const groups = new Map();
  const others = [];
  for (const it of items) {
    if (!it.a.parties.includes(me.node)) { others.push(it); continue; }
    for (const p of partnersOf(it.a)) {
      if (!groups.has(p)) groups.set(p, []);
      groups.get(p).push(it);
    }
  }
  const plist = $("partner-list");
  plist.replaceChildren();
  for (const p of [...groups.keys()].sort()) plist.appendChild(partnerSection(p, groups.get(p), today, day));
  if (others.length) plist.appendChild(partnerSection(null, others, today, day));
  if (!items.length) plist.textContent = "No agreements recorded on this node.";

  // each agreement
  const alist = $("agreement-list");
  alist.replaceChildren();
  $("toc").innerHTML = items.map(({a}) => `<a href="#agreement-${esc(a.id)}">${esc(a.id)}</a>`).join(" ");
  for (const it of items) {
    const axis = span([it], today, day);
    alist.appendChild(agreementSection(it.a, it.status, it.h, axis, today, day));
  }
  const inForce = items.filter(({status}) => status.in_force).length;
  $("at-note").textContent = day === today ? "(today)" : "";
  say(`${items.length} agreement(s); ${inForce} in force on ${day}.`);
}

// --- open items -------------------------------------------------------------------------

async function fetchOr403(path) {
  try { return {data: await api("GET", path)}; }
  catch (e) {
    if (e instanceof ApiError && e.status === 403) return {forbidden: e.message};
    return {error: e.message};
  }
}

function unavailable(r) {
  if (r.forbidden) return `<p class="forbidden">Not for your role (${esc(r.forbidden)}).</p>`;
  return `<p class="denied">Could not load: ${esc(r.error)}</p>`;
}

const when = (s) => (s ? esc(s.replace("T", " ").slice(0, 16)) : "");

function count(partner, text) {
  if (!open[partner]) open[partner] = [];
  open[partner].push(text);
}

async function loadOpen() {
  const [rfis, consentReqs, pending, blocked, consents] = await Promise.all([
    fetchOr403("/api/rfis"), fetchOr403("/api/consent-requests"),
    fetchOr403("/api/releases?state=pending&limit=500"),
    fetchOr403("/api/releases?state=blocked&limit=500"), fetchOr403("/api/consents")]);
  open = {};
  const all = [rfis, consentReqs, pending, blocked, consents];
  openReadable = {read: all.filter((r) => r.data).length, forbidden: all.filter((r) => !r.data).length};
  const parts = [];

  parts.push(`<section id="open-rfis" aria-labelledby="open-rfis-h"><h3 id="open-rfis-h">Requests for information</h3>`);
  if (rfis.data) {
    const rows = rfis.data.filter((r) => r.state === "open");
    const by = {};
    for (const r of rows) by[r.party] = (by[r.party] || 0) + 1;
    for (const [p, n] of Object.entries(by)) count(p, `${n} open RFI${n > 1 ? "s" : ""}`);
    parts.push(rows.length ? tableHtml(`Open RFIs (${rows.length} of ${rfis.data.length})`,
      ["Direction", "Partner", "Topic", "Event", "Priority", "Deadline", "Asked"],
      rows.map((r) => `<tr${r.overdue ? ' class="overdue"' : ""}><td>${esc(r.direction)}</td><td>${esc(r.party)}</td>` +
        `<td>${esc(r.topic)}</td><td>${esc(r.event)}</td><td>${esc(r.priority)}</td>` +
        `<td>${when(r.deadline)}${r.overdue ? " — overdue" : ""}</td><td>${when(r.created_at)}</td></tr>`))
      : `<p>No open RFIs (${rfis.data.length} answered or declined).</p>`);
  } else parts.push(unavailable(rfis));
  parts.push("</section>");

  parts.push(`<section id="open-consent-requests" aria-labelledby="open-cr-h"><h3 id="open-cr-h">Consent requests</h3>`);
  if (consentReqs.data) {
    const rows = consentReqs.data.filter((r) => r.state === "open");
    const by = {};
    for (const r of rows) by[r.party] = (by[r.party] || 0) + 1;
    for (const [p, n] of Object.entries(by)) count(p, `${n} open consent request${n > 1 ? "s" : ""}`);
    parts.push(rows.length ? tableHtml(`Open consent requests (${rows.length} of ${consentReqs.data.length})`,
      ["Direction", "Originator", "Item", "Onward to", "Purpose", "Asked"],
      rows.map((r) => `<tr><td>${esc(r.direction)}</td><td>${esc(r.party)}</td><td>${esc(r.item_id)}</td>` +
        `<td>${esc(r.recipient)}</td><td>${esc(r.purpose)}</td><td>${when(r.created_at)}</td></tr>`))
      : `<p>No open consent requests (${consentReqs.data.length} answered).</p>`);
  } else parts.push(unavailable(consentReqs));
  parts.push("</section>");

  const releaseTable = (r, caption, what) => {
    if (!r.data) return unavailable(r);
    const by = {};
    for (const q of r.data) by[q.recipient] = (by[q.recipient] || 0) + 1;
    for (const [p, n] of Object.entries(by)) count(p, `${n} ${what}`);
    if (!r.data.length) return `<p>None.</p>`;
    return tableHtml(`${caption} (${r.data.length})`,
      ["Requested", "Item", "To", "Agreement", "On", "Purpose", "By", "Reviews", "Why"],
      r.data.map((q) => `<tr><td>${when(q.requested_at)}</td><td>${esc(q.item_id)}</td><td>${esc(q.recipient)}</td>` +
        `<td>${esc(q.decision && q.decision.agreement_id)}</td><td>${esc(q.on)}</td><td>${esc(q.purpose)}</td>` +
        `<td>${esc(q.requested_by)}</td><td>${esc(q.approvals ?? q.reviews.length)} / ${esc(q.required_reviews)}</td>` +
        `<td>${esc(q.state_reason || (q.decision && q.decision.summary))}</td></tr>`));
  };
  parts.push(`<section id="open-pending" aria-labelledby="open-pending-h"><h3 id="open-pending-h">Release requests awaiting review</h3>` +
             releaseTable(pending, "Pending release requests", "pending release(s)") + "</section>");
  parts.push(`<section id="open-blocked" aria-labelledby="open-blocked-h"><h3 id="open-blocked-h">Release requests held</h3>` +
             releaseTable(blocked, "Held release requests", "held release(s)") + "</section>");

  parts.push(`<section id="open-consents" aria-labelledby="open-consents-h"><h3 id="open-consents-h">Recorded consents</h3>`);
  if (consents.data) {
    parts.push(consents.data.length ? tableHtml(`Originators' written consents (${consents.data.length})`,
      ["Granted on", "Originator", "Onward to", "Item", "Purpose", "Granted by", "Recorded"],
      consents.data.map((c) => `<tr><td>${esc(c.granted_on)}</td><td>${esc(c.originator)}</td><td>${esc(c.recipient)}</td>` +
        `<td>${esc(c.item_id)}</td><td>${esc(c.purpose)}</td><td>${esc(c.granted_by)}</td>` +
        `<td>${when(c.recorded_at)} by ${esc(c.recorded_by)}</td></tr>`))
      : "<p>No consents recorded.</p>");
  } else parts.push(unavailable(consents));
  parts.push("</section>");
  $("open-list").innerHTML = parts.join("");
}

// --- start --------------------------------------------------------------------------------

function chosenDate() {
  const v = $("at").value;
  return /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : "";
}

async function main() {
  banner("UNCLASSIFIED");
  me = await shell("agreements.html");
  if (!me) return;
  const query = new URLSearchParams(location.search);
  const at = /^\d{4}-\d{2}-\d{2}$/.test(query.get("at") || "") ? query.get("at") : "";
  $("at").value = at || todayIso();
  try {
    todayList = await api("GET", "/api/agreements");
  } catch (e) {
    say(e.message, true);
    return;
  }
  await loadOpen();
  await render(at);
  $("when").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const day = chosenDate();
    const url = new URL(location.href);
    if (day && day !== todayIso()) url.searchParams.set("at", day); else url.searchParams.delete("at");
    history.replaceState(null, "", url);
    await render(day);
  });
  $("today").addEventListener("click", async () => {
    $("at").value = todayIso();
    const url = new URL(location.href);
    url.searchParams.delete("at");
    history.replaceState(null, "", url);
    await render("");
  });
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

main();
