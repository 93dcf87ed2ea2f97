// The tracks map: live tracks (WebSocket /api/tracks/live), launch events, areas of interest
// and area alerts on an offline base map (Leaflet + Natural Earth outlines, no tiles). The
// tables beside the map list the same things, so the page works without a mouse.
// Test hooks: window.liaisonMap (see the end of this file); rows carry data-track,
// data-launch, data-alert, data-area.

import {api, banner, esc, say, sessionEnded, shell, token} from "./console.js";

const L = window.L;
const TAIL = 20;                 // positions kept per track for its tail
const MAX_AGE_S = 600;           // the node drops a track after 10 min without updates
const MAX_ALERTS = 50;
const FRESH_MS = 30_000;         // how long a new alert stays highlighted
const MISSILE = "#d00000", OTHER = "#1f5fbf", IMPACT = "#e65100", RING = "#7b1fa2",
  AREA = "#2e7d32", ALERT = "#c2185b", HOT = "#d50000";

const $ = id => document.getElementById(id);

// --- state ------------------------------------------------------------------------------

const tracks = new Map();    // number -> {data, tail: [[lat, lon]], seen, marker, line, row}
const launches = new Map();  // id -> {data, group, row}
const areas = new Map();     // id -> {data, layer, item}
const alerts = [];           // newest first: {data, marker, item}
let scheme = null;           // own party's levels: {byMark, byName, unclassified, party}
let selected = null;
let socket = null, liveState = "connecting", snapshotSeen = false, retryMs = 1000;
let ready = false, userMoved = false, fitted = false, bannerText = "UNCLASSIFIED";
const dirty = new Set();
let flushTimer = null;

// --- map --------------------------------------------------------------------------------

const map = L.map("map", {center: [38.5, 129], zoom: 5, minZoom: 2, maxZoom: 11,
  worldCopyJump: false, zoomSnap: 0.5, keyboard: true, attributionControl: false});
L.control.attribution({prefix: "Leaflet (BSD-2-Clause)"}).addTo(map);
L.control.scale({imperial: false}).addTo(map);
for (const [name, z] of [["areasPane", 410], ["launchesPane", 420], ["alertsPane", 430],
                         ["tailsPane", 440], ["tracksPane", 450]]) {
  map.createPane(name).style.zIndex = z;
}
const layers = {
  countries: L.geoJSON(null, {interactive: false, attribution:
    "Natural Earth (public domain) via world-atlas",
    style: {color: "#7d7d73", weight: 0.8, fillColor: "#efece3", fillOpacity: 1}}),
  areas: L.layerGroup([], {pane: "areasPane"}),
  launches: L.layerGroup([], {pane: "launchesPane"}),
  alerts: L.layerGroup([], {pane: "alertsPane"}),
  tails: L.layerGroup([], {pane: "tailsPane"}),
  tracks: L.layerGroup([], {pane: "tracksPane"}),
};
for (const layer of Object.values(layers)) layer.addTo(map);
// once the user moves the map, new data no longer re-fits the view
map.on("dragstart", () => { userMoved = true; });
for (const ev of ["wheel", "keydown", "dblclick"]) {
  map.getContainer().addEventListener(ev, () => { userMoved = true; }, {passive: true});
}
map.zoomControl.getContainer().addEventListener("click", () => { userMoved = true; });

for (const name of Object.keys(layers)) {
  const box = $(`show-${name}`);
  if (box) box.addEventListener("change", () => {
    if (box.checked) layers[name].addTo(map); else map.removeLayer(layers[name]);
  });
}
$("fit").addEventListener("click", () => fitToData(true));

// --- formatting -------------------------------------------------------------------------

const isMissile = kind => {  // CoT a-?-A-M...: air / missile (as liaison.domain.tracks)
  const p = String(kind || "").split("-");
  return p.length >= 4 && p[0] === "a" && p[2] === "A" && p[3] === "M";
};
const DIMENSION = {A: "air", G: "ground", S: "surface", U: "subsurface", P: "space"};
function kindText(kind) {
  if (isMissile(kind)) return "missile";
  const p = String(kind || "").split("-");
  return (p[0] === "a" && DIMENSION[p[2]]) || kind || "—";
}
const deg = (v, pos, neg) => v == null ? "—" : `${Math.abs(v).toFixed(3)}°${v >= 0 ? pos : neg}`;
const num = (v, digits = 1) => v == null || Number.isNaN(Number(v)) ? "—"
  : Number(v).toLocaleString("en-US", {maximumFractionDigits: digits, minimumFractionDigits: digits});
const alt = m => m == null ? "—" : Math.abs(m) >= 1000 ? `${num(m / 1000)} km` : `${num(m, 0)} m`;
function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const s = d.toISOString();
  const today = new Date().toISOString().slice(0, 10);
  return (s.slice(0, 10) === today ? "" : s.slice(0, 10) + " ") + s.slice(11, 19) + "Z";
}
const timeTag = iso => `<time datetime="${esc(iso)}">${esc(when(iso))}</time>`;

// --- markings and the banner -------------------------------------------------------------

// A portion mark "(II//REL TO KOR, USA)" or a label (label_to shape) as parts for the banner.
function fromMark(marking, rank) {
  const segs = String(marking || "").replace(/^\(|\)$/g, "").split("//").filter(Boolean);
  const out = {rank: null, name: "", rel: null, eyes: null, caveats: [], raw: marking || ""};
  if (!segs.length) return {...out, rank: Infinity, name: "UNMARKED"};
  const level = levelOf(segs[0], "mark");
  out.rank = rank ?? (level ? level.rank : Infinity);  // unknown: the highest (fail safe)
  out.name = level ? level.name : segs[0];
  for (const seg of segs.slice(1)) {
    if (seg.startsWith("REL TO ")) out.rel = seg.slice(7).split(/,\s*/);
    else if (seg.endsWith(" EYES ONLY")) out.eyes = seg.slice(0, -10).split("/");
    else out.caveats.push(seg);  // caveats and compartments: kept on the banner
  }
  return out;
}

function fromLabel(label, rank, marking) {
  if (!label || !scheme) return fromMark(marking, rank);
  const level = levelOf(label.classification, "name");
  return {rank: rank ?? (level ? level.rank : Infinity), name: level ? level.name :
    label.classification, rel: label.rel_to || null, eyes: label.eyes_only || null,
    caveats: [...(label.compartments || []), ...(label.caveats || [])], raw: marking || ""};
}

function levelOf(key, by) {
  if (!scheme) return null;
  if (by === "mark" && key === "U") return {name: scheme.unclassified, rank: 0};
  if (by === "name" && key === scheme.unclassified) return {name: key, rank: 0};
  return (by === "mark" ? scheme.byMark : scheme.byName).get(key) || null;
}

function markOfLabel(label) {  // the portion mark of an area's label (as portion_mark)
  const level = levelOf(label.classification, "name");
  const parts = [level ? (level.rank === 0 ? "U" : level.mark) : label.classification];
  const own = scheme ? scheme.party : "";
  const order = xs => [...xs].sort((a, b) => (b === own) - (a === own) || a.localeCompare(b));
  if (label.rel_to) parts.push("REL TO " + order(label.rel_to).join(", "));
  if (label.eyes_only) parts.push(order(label.eyes_only).join("/") + " EYES ONLY");
  parts.push(...[...(label.caveats || [])].sort());
  if (label.compartments && label.compartments.length) {
    parts.splice(1, 0, [...label.compartments].sort().join("/"));
  }
  return `(${parts.join("//")})`;
}

// The banner: the highest level shown, every caveat, the releasability common to all that
// carry one (none in common: NOFORN). Nothing shown: UNCLASSIFIED.
function computeBanner() {
  const marks = [];
  const seenMarks = new Set();
  for (const t of tracks.values()) {
    if (!seenMarks.has(t.data.marking)) {
      seenMarks.add(t.data.marking); marks.push(fromMark(t.data.marking));
    }
  }
  for (const l of launches.values()) marks.push(fromLabel(l.data.label, l.data.rank, l.data.marking));
  for (const a of alerts) marks.push(fromLabel(a.data.label, a.data.rank, a.data.marking));
  for (const a of areas.values()) marks.push(fromLabel(a.data.label, undefined, a.mark));
  if (!marks.length) return "UNCLASSIFIED";
  const top = marks.reduce((a, b) => (b.rank > a.rank ? b : a));
  if (top.rank === Infinity) return (top.raw || top.name).replace(/^\(|\)$/g, "");
  if (top.rank === 0) return scheme ? scheme.unclassified : "UNCLASSIFIED";
  const caveats = new Set(marks.flatMap(m => m.caveats));
  const sets = marks.filter(m => m.rel || m.eyes).map(m => new Set(m.rel || m.eyes));
  const eyes = marks.some(m => m.eyes);
  const parts = [top.name];
  let common = null;
  for (const s of sets) common = common ? new Set([...common].filter(x => s.has(x))) : s;
  if (caveats.has("NOFORN") || (common && common.size === 0)) caveats.add("NOFORN");
  else if (common) {
    const own = scheme ? scheme.party : "";
    const list = [...common].sort((a, b) => (b === own) - (a === own) || a.localeCompare(b));
    parts.push(eyes ? list.join("/") + " EYES ONLY" : "REL TO " + list.join(", "));
  }
  parts.push(...[...caveats].sort());
  return parts.join("//");
}

function refreshBanner() {
  const text = computeBanner();
  if (text !== bannerText || !ready) { bannerText = text; banner(text); }
}

// --- tracks ----------------------------------------------------------------------------

function trackTip(t) {
  const d = t.data;
  return `<span class="mark">${esc(d.marking)}</span>` +
    `<strong>Track ${esc(d.number)}</strong> ${esc(d.callsign || d.uid)}<br>` +
    `source ${esc(d.source)} · ${esc(kindText(d.kind))} <code>${esc(d.kind)}</code><br>` +
    `alt ${esc(alt(d.alt_m))} · speed ${d.speed_ms == null ? "—" : esc(num(d.speed_ms, 0)) + " m/s"}` +
    (d.course_deg == null ? "" : ` · course ${esc(num(d.course_deg, 0))}°`) + "<br>" +
    `${esc(deg(d.lat, "N", "S"))} ${esc(deg(d.lon, "E", "W"))} ±${esc(num(d.ce_m, 0))} m · ${esc(when(d.time))}`;
}

function onTrack(d) {
  const key = Number(d.number), at = Date.parse(d.time);
  let t = tracks.get(key);
  if (!t) {
    t = {data: d, at, tail: [], seen: Date.now()};
    tracks.set(key, t);
  } else if (at < t.at) {  // a late update, older than the position shown: not drawn
    t.seen = Date.now();
    return;
  } else {
    t.data = d;
    t.at = at;
  }
  const last = t.tail[t.tail.length - 1];
  if (!last || last[0] !== d.lat || last[1] !== d.lon) {
    t.tail.push([d.lat, d.lon]);
    if (t.tail.length > TAIL) t.tail.splice(0, t.tail.length - TAIL);
  }
  t.seen = Date.now();
  dirty.add(key);
  schedule();
}

function drawTrack(key) {
  const t = tracks.get(key);
  if (!t) return;
  const d = t.data, color = isMissile(d.kind) ? MISSILE : OTHER;
  const here = [d.lat, d.lon], sel = selected === key;
  if (!t.marker) {
    t.marker = L.circleMarker(here, {pane: "tracksPane", radius: 6, color: "#fff", weight: 1.5,
      fillColor: color, fillOpacity: 1,
      className: `lm-track ${isMissile(d.kind) ? "lm-missile" : "lm-other"}`})
      .bindTooltip(() => trackTip(t), {direction: "top", offset: [0, -6]})
      .on("click", () => select(key, false));
    t.marker.addTo(layers.tracks);
    t.line = L.polyline(t.tail, {pane: "tailsPane", color, weight: 2, opacity: 0.65,
      interactive: false, className: "lm-tail"}).addTo(layers.tails);
  } else {
    t.marker.setLatLng(here);
    t.line.setLatLngs(t.tail);
    t.marker.setStyle({fillColor: color});
    t.line.setStyle({color});
    if (t.marker.isTooltipOpen()) t.marker.setTooltipContent(trackTip(t));
  }
  t.marker.setStyle({radius: sel ? 9 : 6, color: sel ? "#000" : "#fff", weight: sel ? 2.5 : 1.5});
  drawTrackRow(key, t);
}

function drawTrackRow(key, t) {
  const d = t.data;
  if (!t.row) {
    t.row = document.createElement("tr");
    t.row.dataset.track = String(key);
    t.row.innerHTML = `<th scope="row"><button type="button" class="link"></button>` +
      `<span class="callsign"></span></th><td class="mark"></td><td></td><td></td>` +
      `<td class="num"></td><td class="num"></td><td class="num"></td><td class="wrap"></td>`;
    t.row.querySelector("button").addEventListener("click", () => select(key, true));
    const body = $("track-rows");
    const after = [...body.rows].find(r => Number(r.dataset.track) > key);
    body.insertBefore(t.row, after || null);
  }
  const missile = isMissile(d.kind);
  t.row.dataset.missile = String(missile);
  t.row.dataset.source = d.source;
  const b = t.row.querySelector("button");
  b.textContent = String(d.number);
  b.setAttribute("aria-label", `Track ${d.number}${missile ? ", missile" : ""}: show on the map`);
  t.row.querySelector(".callsign").textContent = d.callsign || d.uid || "";
  const c = t.row.cells;
  c[1].textContent = d.marking || "";
  c[2].textContent = d.source;
  c[3].textContent = kindText(d.kind);
  c[3].title = d.kind;
  c[4].textContent = d.lat.toFixed(3);
  c[5].textContent = d.lon.toFixed(3);
  c[6].textContent = alt(d.alt_m);
  c[7].innerHTML = timeTag(d.time);
}

function removeTrack(key) {
  const t = tracks.get(key);
  if (!t) return;
  if (t.marker) { layers.tracks.removeLayer(t.marker); layers.tails.removeLayer(t.line); }
  if (t.row) t.row.remove();
  tracks.delete(key);
  if (selected === key) selected = null;
}

function select(key, fly) {
  const prev = selected;
  selected = key;
  for (const k of [prev, key]) if (k != null && tracks.has(k)) drawTrack(k);
  for (const r of document.querySelectorAll("#track-rows tr.selected")) {
    r.classList.remove("selected"); r.removeAttribute("aria-current");
  }
  const t = tracks.get(key);
  if (!t) return;
  t.row.classList.add("selected");
  t.row.setAttribute("aria-current", "true");
  if (fly) {
    userMoved = true;
    if (!map.hasLayer(layers.tracks)) { $("show-tracks").checked = true; layers.tracks.addTo(map); }
    map.setView([t.data.lat, t.data.lon], Math.max(map.getZoom(), 7));
    t.marker.openTooltip();
  } else {
    t.row.scrollIntoView({block: "nearest"});
  }
  say(`Track ${t.data.number} (${t.data.callsign || t.data.uid}) selected: ` +
      `${deg(t.data.lat, "N", "S")} ${deg(t.data.lon, "E", "W")}, ${alt(t.data.alt_m)}.`);
}

function schedule() {
  if (flushTimer == null) flushTimer = setTimeout(flush, 100);
}

function flush() {
  flushTimer = null;
  for (const key of dirty) drawTrack(key);
  dirty.clear();
  counts();
  refreshBanner();
}

function counts() {
  $("track-count").textContent = `(${tracks.size})`;
  $("tracks-empty").hidden = tracks.size > 0;
  $("launch-count").textContent = `(${launches.size})`;
  $("launches-empty").hidden = launches.size > 0;
  $("alert-count").textContent = `(${alerts.length})`;
  $("alerts-empty").hidden = alerts.length > 0;
  $("area-count").textContent = `(${areas.size})`;
  $("areas-empty").hidden = areas.size > 0;
}

function pruneStale() {
  const cutoff = Date.now() - MAX_AGE_S * 1000;
  let gone = 0;
  for (const [key, t] of tracks) if (t.seen < cutoff) { removeTrack(key); gone += 1; }
  if (gone) { counts(); refreshBanner(); }
}
setInterval(pruneStale, 15_000);

// --- launch events ------------------------------------------------------------------------

function launchTip(d) {
  return `<span class="mark">${esc(d.marking)}</span><strong>Launch event</strong> ` +
    `${esc(String(d.id).slice(0, 8))} rev ${esc(d.revision)} · ${esc(d.status)}<br>` +
    `launched ${esc(when(d.launch_time))} from ${esc(deg(d.launch_lat, "N", "S"))} ` +
    `${esc(deg(d.launch_lon, "E", "W"))}<br>${esc((d.objects || []).length)} object(s) · ` +
    `range ${esc(num(d.range_km, 0))} km · apogee ${esc(num(d.apogee_km, 0))} km · ` +
    `flight ${esc(num(d.flight_time_s, 0))} s<br>source ${esc(d.source)}`;
}

function impactTip(d, o, i) {
  return `<span class="mark">${esc(d.marking)}</span><strong>Impact ${esc(o.impact)}</strong> ` +
    `· object ${i + 1} (track ${esc(o.track)})<br>${esc(when(o.impact_time))} at ` +
    `${esc(deg(o.impact_lat, "N", "S"))} ${esc(deg(o.impact_lon, "E", "W"))}<br>` +
    `range ${esc(num(o.range_km, 0))} km · apogee ${esc(num(o.apogee_km, 0))} km · ` +
    `flight ${esc(num(o.flight_time_s, 0))} s`;
}

function onLaunch(d) {
  const old = launches.get(d.id);
  if (old && Number(old.data.revision) > Number(d.revision)) return;
  if (old) layers.launches.removeLayer(old.group);
  const entry = old || {};
  entry.data = d;
  const pane = "launchesPane";
  const group = L.featureGroup([], {pane});
  const origin = [d.launch_lat, d.launch_lon];
  if (d.range_km > 0) {
    L.circle(origin, {pane, radius: d.range_km * 1000, color: RING, weight: 1.5,
      dashArray: "6 6", fill: false, interactive: false, className: "lm-range-ring"}).addTo(group);
  }
  (d.objects || []).forEach((o, i) => {
    const observed = o.impact === "observed";
    const from = [o.launch_lat, o.launch_lon], to = [o.impact_lat, o.impact_lon];
    L.polyline([from, to], {pane, color: IMPACT, weight: 2, dashArray: observed ? null : "6 5",
      className: `lm-trajectory ${observed ? "lm-observed" : "lm-predicted"}`})
      .bindTooltip(impactTip(d, o, i), {sticky: true}).addTo(group);
    L.circleMarker(to, {pane, radius: 5, weight: 2,
      color: observed ? "#7a2a00" : IMPACT, dashArray: observed ? null : "3 2",
      fillColor: observed ? IMPACT : "#fff", fillOpacity: 1,
      className: `lm-impact ${observed ? "lm-observed" : "lm-predicted"}`})
      .bindTooltip(impactTip(d, o, i), {direction: "top"}).addTo(group);
  });
  L.circleMarker(origin, {pane, radius: 7, color: "#000", weight: 2, fillColor: "#ffd600",
    fillOpacity: 1, className: "lm-launch-point"})
    .bindTooltip(launchTip(d), {direction: "top"}).addTo(group);
  entry.group = group;
  group.addTo(layers.launches);
  if (!entry.row) {
    entry.row = document.createElement("tr");
    entry.row.dataset.launch = d.id;
    entry.row.innerHTML = `<th scope="row"><button type="button" class="link"></button></th>` +
      `<td class="mark"></td><td class="wrap"></td><td class="wrap"></td><td class="num"></td><td class="num"></td>` +
      `<td class="num"></td>`;
    entry.row.querySelector("button").addEventListener("click", () => {
      userMoved = true;
      if (!map.hasLayer(layers.launches)) { $("show-launches").checked = true; layers.launches.addTo(map); }
      map.fitBounds(entry.group.getBounds(), {maxZoom: 8, padding: [20, 20]});
      say(launchSummary(entry.data));
    });
    $("launch-rows").prepend(entry.row);
  }
  const b = entry.row.querySelector("button");
  b.textContent = String(d.id).slice(0, 8);
  b.title = d.id;
  b.setAttribute("aria-label", `Launch event ${String(d.id).slice(0, 8)}: show on the map`);
  entry.row.dataset.status = d.status;
  const c = entry.row.cells;
  c[1].textContent = d.marking || "";
  c[2].textContent = `${d.status} (rev ${d.revision})`;
  c[3].innerHTML = timeTag(d.launch_time);
  c[4].textContent = String((d.objects || []).length);
  c[5].textContent = num(d.range_km, 0);
  c[6].textContent = num(d.apogee_km, 0);
  launches.set(d.id, entry);
  counts();
  refreshBanner();
}

function launchSummary(d) {
  return `${d.marking || ""} Launch event ${String(d.id).slice(0, 8)}: ${d.summary || d.status}`;
}

// --- areas -------------------------------------------------------------------------------

const AREA_STYLE = p => ({color: AREA, weight: 1 + (6 - Math.min(5, Math.max(1, p || 3))) * 0.6,
  fillColor: AREA, fillOpacity: 0.06, dashArray: null});

function onArea(d) {
  const mark = markOfLabel(d.label || {});
  const opts = {pane: "areasPane", ...AREA_STYLE(d.priority), className: "lm-area"};
  let layer;
  if (d.polygon && d.polygon.length >= 3) layer = L.polygon(d.polygon, opts);
  else if (d.center && d.radius_m > 0) layer = L.circle(d.center, {...opts, radius: d.radius_m});
  else return;
  layer.bindTooltip(`<span class="mark">${esc(mark)}</span><strong>${esc(d.name)}</strong><br>` +
    `${esc(d.kind)} · priority ${esc(d.priority)} · from ${esc(d.originator)}`, {sticky: true});
  layer.addTo(layers.areas);
  const item = document.createElement("li");
  item.dataset.area = d.id;
  item.innerHTML = `<span class="mark">${esc(mark)}</span> <button type="button" class="link">` +
    `${esc(d.name)}</button> · ${esc(d.kind)} · priority ${esc(d.priority)} · ${esc(d.originator)}`;
  item.querySelector("button").addEventListener("click", () => {
    userMoved = true;
    if (!map.hasLayer(layers.areas)) { $("show-areas").checked = true; layers.areas.addTo(map); }
    map.fitBounds(layer.getBounds(), {maxZoom: 9, padding: [20, 20]});
    layer.openTooltip(layer.getBounds().getCenter());
  });
  $("areas").append(item);
  areas.set(d.id, {data: d, layer, item, mark});
}

// --- alerts ------------------------------------------------------------------------------

function onAlert(d, live) {
  if (alerts.some(a => a.data.id === d.id)) return;
  const trackNo = /^track:(\d+)$/.exec(d.subject || "");
  const item = document.createElement("li");
  item.dataset.alert = d.id;
  item.dataset.area = d.area_id;
  item.className = `p${d.priority}`;
  item.innerHTML = `<span class="mark">${esc(d.marking)}</span> ${timeTag(d.at)} ` +
    `<strong>P${esc(d.priority)} ${esc(d.area_name)}</strong>: ` +
    (trackNo ? `<button type="button" class="link">track ${esc(trackNo[1])}</button>`
             : esc(d.subject)) + ` ${esc(d.event)} (${esc(d.track_source || "")})`;
  if (trackNo) {
    item.querySelector("button").addEventListener("click", () => {
      const key = Number(trackNo[1]);
      if (tracks.has(key)) select(key, true);
      else {
        userMoved = true;
        map.setView([d.lat, d.lon], Math.max(map.getZoom(), 7));
        say(`Track ${key} is no longer current; the alert was at ` +
            `${deg(d.lat, "N", "S")} ${deg(d.lon, "E", "W")}.`);
      }
    });
  }
  const marker = L.circleMarker([d.lat, d.lon], {pane: "alertsPane", radius: 5, color: ALERT,
    weight: 2, fillColor: ALERT, fillOpacity: 0.3, className: "lm-alert"})
    .bindTooltip(`<span class="mark">${esc(d.marking)}</span><strong>Alert</strong> ` +
      `P${esc(d.priority)} ${esc(d.area_name)}<br>${esc(d.subject)} ${esc(d.event)} · ` +
      `${esc(when(d.at))}`, {direction: "top"})
    .addTo(layers.alerts);
  const entry = {data: d, marker, item};
  if (live) {
    alerts.unshift(entry);
    $("alerts").prepend(item);
    highlight(entry);
  } else {
    alerts.push(entry);
    $("alerts").append(item);
  }
  while (alerts.length > MAX_ALERTS) {
    const old = alerts.pop();
    old.item.remove();
    layers.alerts.removeLayer(old.marker);
  }
  counts();
  refreshBanner();
}

function highlight(entry) {
  const d = entry.data;
  entry.item.classList.add("fresh");
  entry.marker.setStyle({radius: 10, color: HOT, weight: 3});
  const area = areas.get(d.area_id);
  if (area) area.layer.setStyle({color: HOT, weight: 4, dashArray: "8 4"});
  const trackNo = /^track:(\d+)$/.exec(d.subject || "");
  const row = trackNo && tracks.get(Number(trackNo[1]))?.row;
  if (row) row.classList.add("alerted");
  setTimeout(() => {
    entry.item.classList.remove("fresh");
    entry.marker.setStyle({radius: 5, color: ALERT, weight: 2});
    if (area) area.layer.setStyle(AREA_STYLE(area.data.priority));
    if (row) row.classList.remove("alerted");
  }, FRESH_MS);
}

// --- live feed ----------------------------------------------------------------------------

function setLive(state, text) {
  liveState = state;
  const el = $("live-state");
  el.dataset.state = state;
  el.textContent = `Live feed: ${text}`;
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const url = `${proto}://${location.host}/api/tracks/live?token=${encodeURIComponent(token())}`;
  setLive("connecting", "connecting…");
  socket = new WebSocket(url);
  socket.onopen = () => { retryMs = 1000; setLive("open", "connected"); };
  socket.onmessage = ev => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    for (const item of Array.isArray(msg) ? msg : [msg]) handle(item);
  };
  socket.onclose = ev => {
    socket = null;
    if (ev.code === 4401) {  // revoked, expired or disabled: sign in again
      setLive("closed", "refused");
      say(`The live feed refused the session: ${ev.reason || "sign in again"}.`, true);
      sessionEnded();
      return;
    }
    const why = ev.reason ? ` (${ev.reason})` : "";
    setLive("closed", `disconnected${why}; retrying in ${Math.round(retryMs / 1000)} s`);
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 30_000);
  };
}

function handle(item) {
  if (!item || typeof item !== "object") return;
  if (item.type === "snapshot") {
    const keep = new Set((item.tracks || []).map(t => Number(t.number)));
    for (const key of [...tracks.keys()]) if (!keep.has(key)) removeTrack(key);
    for (const t of item.tracks || []) onTrack(t);
    snapshotSeen = true;
    flush();
    if (ready) fitToData(false);
  } else if (item.type === "track") onTrack(item);
  else if (item.type === "launch") onLaunch(item);
  else if (item.type === "alert") onAlert(item, true);
}

// --- fitting the view ----------------------------------------------------------------------

function fitToData(force) {
  if (!force && (userMoved || fitted)) return;
  const bounds = L.latLngBounds([]);
  for (const t of tracks.values()) bounds.extend([t.data.lat, t.data.lon]);
  for (const l of launches.values()) bounds.extend(l.group.getBounds());
  fitted = bounds.isValid();  // areas alone do not count: tracks may still come
  if (force || !bounds.isValid()) for (const a of areas.values()) bounds.extend(a.layer.getBounds());
  if (!bounds.isValid()) { if (force) say("Nothing to show yet."); return; }
  map.fitBounds(bounds, {maxZoom: 8, padding: [30, 30], animate: force});
}

// --- start ---------------------------------------------------------------------------------

async function loadScheme(me) {
  const parties = await api("GET", "/api/parties");
  const own = parties.find(p => p.code === me.node);
  if (!own) throw new Error(`no scheme for ${me.node}`);
  scheme = {party: own.code, unclassified: own.unclassified,
    byMark: new Map(own.levels.map(l => [l.mark, l])),
    byName: new Map(own.levels.map(l => [l.name, l]))};
}

async function loadCountries() {
  const r = await fetch("vendor/natural-earth/countries-50m.geo.json");
  if (!r.ok) throw new Error(`base map: ${r.status}`);
  layers.countries.addData(await r.json());
  layers.countries.bringToBack();
}

async function start() {
  const me = await shell("map.html");
  if (!me) return;
  const problems = [];
  const note = what => e => { problems.push(`${what}: ${e.message}`); };
  await Promise.all([loadCountries().catch(note("base map")),
                     loadScheme(me).catch(note("classification scheme"))]);
  connect();
  const [launchRows, areaRows, alertRows] = await Promise.all([
    api("GET", "/api/launches").catch(e => { note("launch events")(e); return []; }),
    api("GET", "/api/areas").catch(e => { note("areas")(e); return []; }),
    api("GET", `/api/alerts?limit=${MAX_ALERTS}`).catch(e => { note("alerts")(e); return []; }),
  ]);
  for (const a of areaRows) onArea(a);
  for (const l of [...launchRows].reverse()) onLaunch(l);  // newest ends up first
  $("alerts").setAttribute("aria-busy", "true");
  for (const a of alertRows) onAlert(a, false);
  $("alerts").removeAttribute("aria-busy");
  flush();
  fitToData(false);
  ready = true;
  if (problems.length) say(`Not shown: ${problems.join("; ")}`, true);
  say(`On opening: ${tracks.size} track(s), ${launches.size} launch event(s), ` +
      `${areas.size} area(s), ${alerts.length} alert(s); the tables follow the live feed.`);
  document.body.dataset.ready = "true";
}

// Hooks for tests and for other console pages.
window.liaisonMap = {
  map,
  layers,
  tracks: () => [...tracks.keys()].sort((a, b) => a - b),
  track: n => tracks.get(Number(n))?.data ?? null,
  tail: n => (tracks.get(Number(n))?.tail ?? []).map(p => [...p]),
  launches: () => [...launches.keys()],
  areas: () => [...areas.keys()],
  alerts: () => alerts.map(a => a.data.id),
  banner: () => bannerText,
  live: () => liveState,
  get ready() { return ready; },
  get snapshot() { return snapshotSeen; },
  select: n => select(Number(n), true),
  flush,
};

start().catch(e => say(e.message, true));
