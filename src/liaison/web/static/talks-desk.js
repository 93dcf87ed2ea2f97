// The talks desk: a delegate's talks with other governments — the list, a proposal form,
// the answers (accept, amend, decline, cancel; "end" where the node offers it), each
// proposal's history, and the minutes both sides edit and sign. The call itself is
// talks.html?talks=ID. Data goes into the page through esc() or textContent only.
import {api, banner, esc, highest, say, shell, token} from "./console.js";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const PAGE = "talks-desk.html";
const POLL_MS = 4000;  // the other side's answers and edits arrive through the node
const KINDS = [["agreed", "already agreed"], ["concerns", "concerns to discuss"],
               ["urgent", "urgent issue"]];
const KIND_HEADINGS = {agreed: "Matters already agreed", concerns: "Concerns to discuss",
                       urgent: "Urgent issues"};
const REASONED = new Set(["decline", "cancel"]);   // the node refuses these without a reason
const MINUTED = new Set(["accepted", "ended"]);     // states whose minutes can be edited

let me = null;
let scheme = null;        // this node's scheme, to combine markings: {node, rank}
let partyNames = new Map();
let partners = [];        // parties an MOU in force opens talks with
// what this node's API accepts beyond the four answers (read from its OpenAPI document)
const caps = {actions: new Set(["accept", "amend", "decline", "cancel"]), minutesRevision: false};

let list = [];            // GET /api/talks
let listKey = "";
let current = null;       // the selected talks, as the node last answered
let shownKey = "";        // what the detail shows, to notice the other side's changes
let pending = null;       // a newer answer held back while the user has unsaved edits
let form = null;          // the open proposal form: {mode: "propose" | "amend", talks}
let formDirty = false;
let minutesDirty = false;

function clearMessages() { say(""); say("", true); }

function fail(e) {
  if (e && e.status === 401) {
    location.href = `index.html?next=${enc(PAGE + location.search)}`;
    return;
  }
  say(e && e.message ? e.message : String(e), true);
}

function otherParty(t) { return t.parties.find(p => p !== me.node) || t.parties[1]; }

function partyName(code) {
  const name = partyNames.get(code);
  return name ? `${code} (${name})` : code;
}

// ---- time: wall-clock time in an IANA zone, offsets, UTC ------------------------------

const formats = new Map();
function zoneFormat(tz) {
  if (!formats.has(tz)) {
    formats.set(tz, new Intl.DateTimeFormat("en-US", {timeZone: tz, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit"}));
  }
  return formats.get(tz);
}

// the zone's name as the node expects it, or "" when the browser knows no such zone
function checkedZone(raw) {
  const tz = raw.trim();
  if (!tz || !/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return "";
  try {
    const resolved = zoneFormat(tz).resolvedOptions().timeZone;
    return resolved.toLowerCase() === tz.toLowerCase() ? resolved : tz;  // fix the case only
  } catch (e) {
    return "";
  }
}

function wallParts(tz, ms) {
  const p = {};
  for (const x of zoneFormat(tz).formatToParts(new Date(ms))) p[x.type] = x.value;
  p.hour = String(Number(p.hour) % 24).padStart(2, "0");
  return p;
}

// "YYYY-MM-DDTHH:MM" on the clocks of ``tz`` at instant ``ms``
function wallTime(tz, ms) {
  const p = wallParts(tz, ms);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

// minutes east of UTC in ``tz`` at instant ``ms``
function offsetMin(tz, ms) {
  const p = wallParts(tz, ms);
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

function offsetText(min) {
  const a = Math.abs(min);
  return `${min < 0 ? "-" : "+"}${String(Math.floor(a / 60)).padStart(2, "0")}:` +
    `${String(a % 60).padStart(2, "0")}`;
}

// the instant a wall-clock time in ``tz`` names: {ms, offset} or {missing} (a clock change
// skips it) or null (not a date-time)
function instantOf(wall, tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(wall);
  if (!m) return null;
  const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let ms = guess - offsetMin(tz, guess) * 60000;
  ms = guess - offsetMin(tz, ms) * 60000;
  if (wallTime(tz, ms) !== wall.slice(0, 16)) return {missing: true};
  return {ms, offset: offsetMin(tz, ms)};
}

function parseInstant(iso) {
  return Date.parse(String(iso || "").replace(/(\.\d{3})\d+/, "$1"));
}

function utcText(ms) { return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`; }

// [in the talks' zone, in UTC] as HTML (<time> elements)
function startHtml(p) {
  const ms = parseInstant(p.starts_at);
  if (isNaN(ms)) return [esc(p.starts_at), ""];
  const iso = new Date(ms).toISOString();
  let there;
  try {
    there = `${wallTime(p.tz, ms).replace("T", " ")} ${p.tz} (UTC${offsetText(offsetMin(p.tz, ms))})`;
  } catch (e) {
    there = `${p.starts_at} (${p.tz})`;
  }
  return [`<time datetime="${esc(iso)}">${esc(there)}</time>`,
          `<time datetime="${esc(iso)}">${esc(utcText(ms))}</time>`];
}

function when(iso) {
  const ms = parseInstant(iso);
  return isNaN(ms) ? esc(iso) : `<time datetime="${esc(iso)}">${esc(utcText(ms))}</time>`;
}

// ---- the classification banner: talks are UNCLASSIFIED unless the node says otherwise ----

function updateBanner() {
  const marks = [...list.map(t => t.classification), current && current.classification]
    .filter(Boolean);
  banner(marks.length ? highest(marks, scheme) : "UNCLASSIFIED");
}

// ---- the list ------------------------------------------------------------------------

function stateText(t) {
  if (t.state === "proposed") {
    return t.current.by === me.node ? `proposed — awaiting ${otherParty(t)}`
      : `proposed — ${me.node} to answer`;
  }
  return t.answered_by ? `${t.state} (${t.answered_by})` : t.state;
}

function callLink(t) {
  if (t.state !== "accepted") return "—";
  return `<a class="call-link" href="talks.html?talks=${enc(t.id)}">Join the call` +
    `<span class="sr-only"> of ${esc(t.current.title)}</span></a>`;
}

function renderList() {
  const body = $("talks").tBodies[0];
  $("list-count").textContent = `(${list.length})`;
  if (!list.length) {
    body.innerHTML = `<tr><td colspan="7" id="talks-empty">No talks yet.</td></tr>`;
    return;
  }
  body.innerHTML = list.map((t) => {
    const c = t.current;
    const [there, utc] = startHtml(c);
    const selected = current && current.id === t.id;
    return `<tr data-talks-id="${esc(t.id)}" data-state="${esc(t.state)}"` +
      `${selected ? ' aria-current="true"' : ""}>` +
      `<td><a class="open-talks" href="${PAGE}?talks=${enc(t.id)}" data-talks-id="${esc(t.id)}">` +
      `${esc(c.title)}</a></td><td class="counterpart">${esc(otherParty(t))}</td>` +
      `<td class="state">${esc(stateText(t))}</td><td class="start-local">${there}</td>` +
      `<td class="start-utc">${utc}</td><td class="version">${esc(c.version)} ` +
      `<span class="by">by ${esc(c.by)}</span></td><td>${callLink(t)}</td></tr>`;
  }).join("");
}

async function loadList() {
  const data = await api("GET", "/api/talks");
  const key = JSON.stringify(data);
  list = data;
  if (key !== listKey) {
    listKey = key;
    keepFocus(renderList);
  }
  updateBanner();
}

// re-render without losing the keyboard's place when the focused control survives
function keepFocus(render) {
  const active = document.activeElement;
  const id = active && active.id;
  const href = active && active.tagName === "A" ? active.getAttribute("href") : null;
  render();
  if (id && $(id) && $(id) !== active) $(id).focus();
  else if (href && !document.body.contains(active)) {
    const again = [...document.querySelectorAll("a")].find(a => a.getAttribute("href") === href);
    if (again) again.focus();
  }
}

// ---- one talks: summary, answer, history ------------------------------------------------

function keyOf(t) {
  return JSON.stringify([t.state, t.answered_by, t.reason, t.current, t.minutes,
                         t.minutes_sealed, t.classification]);
}

function delegationsHtml(p) {
  return `<ul>${Object.entries(p.delegations || {}).map(([party, names]) =>
    `<li data-party="${esc(party)}"><strong>${esc(party)}</strong>: ` +
    `${esc((names || []).join(", ") || "—")}</li>`).join("")}</ul>`;
}

function agendaHtml(p) {
  const items = p.agenda || [];
  if (!items.length) return "none";
  const kinds = [...KINDS.map(([k]) => k),
                 ...new Set(items.map(i => i.kind).filter(k => !(k in KIND_HEADINGS)))];
  return kinds.map((kind) => {
    const group = items.filter(i => i.kind === kind);
    if (!group.length) return "";
    return `<p class="agenda-kind">${esc(KIND_HEADINGS[kind] || kind)}</p><ul>` +
      group.map(i => `<li data-item-id="${esc(i.id)}"><span class="item-id">${esc(i.id)}</span> ` +
                     `${esc(i.title)}</li>`).join("") + "</ul>";
  }).join("");
}

function proposalHtml(p) {
  const [there, utc] = startHtml(p);
  return `<dl class="facts">` +
    `<dt>Title</dt><dd class="p-title">${esc(p.title)}</dd>` +
    `<dt>Starts</dt><dd class="p-start">${there}</dd>` +
    `<dt>In UTC</dt><dd class="p-start-utc">${utc}</dd>` +
    `<dt>Duration</dt><dd>${esc(p.duration_min)} minutes</dd>` +
    `<dt>Delegations</dt><dd>${delegationsHtml(p)}</dd>` +
    `<dt>Agenda</dt><dd class="p-agenda">${agendaHtml(p)}</dd>` +
    (p.note ? `<dt>Note</dt><dd class="p-note">${esc(p.note)}</dd>` : "") +
    `</dl>`;
}

// a name as the node compares delegations: NFC, case-folded, spaces collapsed
function person(name) {
  return String(name).normalize("NFC").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
}

function named(t) {
  const names = ((t.current.delegations || {})[me.node] || []).map(person);
  return [me.username, me.display_name].filter(n => n && n.trim())
    .some(n => names.includes(person(n)));
}

function summaryHtml(t) {
  const c = t.current;
  let state = esc(t.state);
  if (t.answered_by) state += ` by ${esc(t.answered_by)}`;
  if (t.reason) state += ` — “${esc(t.reason)}”`;
  let call = t.state === "ended" ? "over: the talks are ended"
    : t.state === "proposed" ? "once the talks are accepted" : "none";
  if (t.state === "accepted") {
    call = callLink(t) + (named(t) ? "" : ` <span class="warn" id="not-named">You are not ` +
      `named in ${esc(me.node)}'s delegation: the call page may not let you join.</span>`);
  }
  return `<dl class="facts">` +
    `<dt>Talks</dt><dd id="d-id">${esc(t.id)}</dd>` +
    `<dt>Between</dt><dd>${esc(t.parties.map(partyName).join(" and "))}</dd>` +
    `<dt>Under</dt><dd>${esc(t.agreement_id)}</dd>` +
    `<dt>State</dt><dd id="d-state" data-state="${esc(t.state)}">${state}</dd>` +
    `<dt>Call</dt><dd id="d-call">${call}</dd>` +
    `<dt>Marking</dt><dd class="mark">${esc(t.classification || "UNCLASSIFIED")}</dd>` +
    `</dl><h4 id="current-h">Current proposal: version ${esc(c.version)} by ${esc(c.by)}</h4>` +
    `<div id="current-proposal" data-version="${esc(c.version)}">${proposalHtml(c)}</div>`;
}

function answerHtml(t) {
  const c = t.current;
  const other = otherParty(t);
  const buttons = [];
  let note;
  if (t.state === "proposed") {
    if (c.by !== me.node) {
      note = `${c.by} made version ${c.version}: it is for ${me.node} to accept it, amend ` +
        `it (a new version goes back to ${c.by}) or decline it.`;
      buttons.push(["accept", `Accept version ${c.version}`], ["amend", "Amend"],
                   ["decline", "Decline"]);
    } else {
      note = `Waiting for ${other} to answer version ${c.version}.`;
    }
    buttons.push(["cancel", "Cancel the talks"]);
  } else if (t.state === "accepted") {
    note = `Version ${c.version} accepted${t.answered_by ? ` by ${t.answered_by}` : ""}.` +
      (caps.actions.has("end") ? " Either side ends the talks when the call is over " +
                                 "(nobody joins after that; the minutes can still be finished)." : "");
    buttons.push(["end", "End the talks"], ["cancel", "Cancel the talks"]);
  } else if (t.state === "ended") {
    note = `The talks are ended${t.answered_by ? ` by ${t.answered_by}` : ""}` +
      `${t.reason ? `: “${t.reason}”` : ""}. The call is over; the minutes can still be ` +
      "finished and signed.";
  } else {
    note = `The talks are ${t.state}${t.answered_by ? ` by ${t.answered_by}` : ""}` +
      `${t.reason ? `: “${t.reason}”` : "."}`;
  }
  const offered = buttons.filter(([action]) => caps.actions.has(action));
  const reason = offered.some(([a]) => REASONED.has(a) || a === "end")
    ? `<p><label class="block" for="answer-reason"><span>Reason (the other side reads it; ` +
      `required to decline or cancel${offered.some(([a]) => a === "end") ? ", optional to end"
        : ""})</span></label>` +
      `<textarea id="answer-reason" rows="2" maxlength="2000"></textarea></p>` : "";
  return `<p id="answer-note">${esc(note)}</p>${reason}` +
    (offered.length ? `<p class="actions">${offered.map(([action, label]) =>
      `<button type="button" id="ans-${esc(action)}" data-action="${esc(action)}">` +
      `${esc(label)}</button>`).join("")}</p>` : "");
}

function changedFields(p, before) {
  const out = [];
  const same = (k) => JSON.stringify(p[k]) === JSON.stringify(before[k]);
  if (!same("title")) out.push("title");
  if (!same("starts_at") || !same("tz")) out.push("start");
  if (!same("duration_min")) out.push("duration");
  if (!same("delegations")) out.push("delegations");
  if (!same("agenda")) out.push("agenda");
  if (!same("note")) out.push("note");
  return out;
}

function historyHtml(t) {
  const ps = t.proposals || [t.current];
  return `<ul class="history">${[...ps].reverse().map((p) => {
    const i = ps.indexOf(p);
    const changed = i > 0 ? changedFields(p, ps[i - 1]) : [];
    const what = i === 0 ? "proposed" : `amended${changed.length ? ` (${changed.join(", ")})` : ""}`;
    const isCurrent = i === ps.length - 1;
    return `<li data-version="${esc(p.version)}"><details>` +
      `<summary>Version ${esc(p.version)}: ${esc(p.by)} ${esc(what)} — ${esc(p.title)}` +
      `${isCurrent ? " (current)" : ""}</summary>${proposalHtml(p)}</details></li>`;
  }).join("")}</ul>`;
}

function renderDetail() {
  const t = current;
  $("detail").hidden = false;
  $("detail").dataset.talksId = t.id;
  $("detail").dataset.state = t.state;
  $("detail").dataset.version = String(t.current.version);
  $("detail-h").textContent = `${t.current.title} — ${partyName(otherParty(t))}`;
  $("detail-body").innerHTML = summaryHtml(t);
  $("answer-area").innerHTML = answerHtml(t);
  $("history-list").innerHTML = historyHtml(t);
  renderMinutes();
  $("stale").hidden = true;
  pending = null;
}

function show(t) {
  current = t;
  shownKey = keyOf(t);
  const inside = $("detail").contains(document.activeElement);
  keepFocus(renderDetail);
  if (inside && !$("detail").contains(document.activeElement)) $("detail-h").focus();
  updateBanner();
}

async function select(id, push) {
  clearMessages();
  let t;
  try { t = await api("GET", `/api/talks/${enc(id)}`); }
  catch (e) { fail(e); return; }
  if (push) history.pushState({talks: id}, "", `${PAGE}?talks=${enc(id)}`);
  if (form && form.mode === "amend" && form.talks.id !== id) closeForm();
  $("verify-result").replaceChildren();
  show(t);
  renderList();
  $("detail-h").focus();
}

async function refreshSelected() {
  if (!current) return;
  const t = await api("GET", `/api/talks/${enc(current.id)}`);
  if (keyOf(t) === shownKey) { current = t; return; }
  const amending = form && form.mode === "amend" && form.talks.id === t.id && formDirty;
  if (amending || minutesDirty) {   // keep the user's unsaved edits; say what changed
    pending = t;
    $("stale-text").textContent = `These talks changed at the node (now ${t.state}, version ` +
      `${t.current.version}${t.minutes ? `, minutes revision ${t.minutes.revision}` : ""}).`;
    $("stale").hidden = false;
    return;
  }
  if (form && form.mode === "amend" && form.talks.id === t.id &&
      (t.state !== "proposed" || t.current.version !== form.talks.current.version)) {
    closeForm();   // what it would amend is no longer on the table
    say(`The talks changed meanwhile (now ${t.state}, version ${t.current.version}): the ` +
        "amendment form is closed.");
  }
  show(t);
}

// ---- answers -----------------------------------------------------------------------------

async function answer(action) {
  clearMessages();
  if (action === "amend") { openForm("amend", current); return; }
  const field = $("answer-reason");
  const reason = field ? field.value.trim() : "";
  if (REASONED.has(action) && !reason) {
    say(`To ${action} the talks, give a reason the other side can read.`, true);
    field.setAttribute("aria-invalid", "true");
    field.focus();
    return;
  }
  const body = {action, version: current.current.version};
  if (reason && action !== "accept") body.reason = reason;
  const buttons = $("answer-area").querySelectorAll("button");
  buttons.forEach(b => { b.disabled = true; });
  try {
    const t = await api("POST", `/api/talks/${enc(current.id)}/answer`, body);
    if (form && form.mode === "amend") closeForm();
    show(t);
    say({accept: `Version ${body.version} accepted: ${otherParty(t)} is told.`,
         decline: "Declined: the other side is told.",
         cancel: "The talks are cancelled: the other side is told.",
         end: "The talks are ended."}[action] || `${action}: done.`);
    await loadList();
  } catch (e) {
    fail(e);
    buttons.forEach(b => { b.disabled = false; });
  }
}

// ---- the proposal form: propose, or amend the current version ---------------------------

function lines(id) { return $(id).value.split("\n").map(s => s.trim()).filter(Boolean); }

function agendaRow(item) {
  const li = document.createElement("li");
  li.dataset.itemId = item.id;
  li.innerHTML =
    `<label>Kind <select class="kind">${KINDS.map(([k, label]) =>
      `<option value="${esc(k)}">${esc(label)}</option>`).join("")}</select></label> ` +
    `<label>Item <input class="title" required maxlength="300"></label> ` +
    `<button type="button" class="remove-item">Remove</button>`;
  const kind = li.querySelector("select");
  if (!KINDS.some(([k]) => k === item.kind) && item.kind) {  // a kind this page does not know
    kind.add(new Option(item.kind, item.kind));
  }
  kind.value = item.kind || "agreed";
  li.querySelector("input").value = item.title || "";
  return li;
}

// number the rows' labels so each control has its own name
function renumberAgenda() {
  [...$("p-agenda").children].forEach((li, i) => {
    const n = i + 1;
    const [kindLabel, itemLabel] = li.querySelectorAll("label");
    kindLabel.firstChild.textContent = `Kind of item ${n} `;
    itemLabel.firstChild.textContent = `Item ${n} `;
    const remove = li.querySelector("button.remove-item");
    remove.setAttribute("aria-label", `Remove agenda item ${n}`);
    remove.disabled = $("p-agenda").children.length === 1;  // the agenda needs one item
  });
}

function nextItemId() {
  const used = new Set([...$("p-agenda").children].map(li => li.dataset.itemId));
  for (const p of (form && form.talks ? form.talks.proposals || [] : [])) {
    for (const a of p.agenda) used.add(a.id);   // never reuse an id an earlier version had
  }
  let n = 1;
  for (const id of used) {
    const m = /^a(\d+)$/.exec(id || "");
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  while (used.has(`a${n}`)) n += 1;
  return `a${n}`;
}

function addAgendaItem(item, focus) {
  const li = agendaRow(item || {id: nextItemId(), kind: "agreed", title: ""});
  $("p-agenda").appendChild(li);
  renumberAgenda();
  if (focus) li.querySelector("input").focus();
}

function updateDelegationLabels() {
  const other = form && form.mode === "amend" ? otherParty(form.talks) : $("p-counterpart").value;
  $("p-del-own-label").textContent = `Delegation of ${me.node} (one name per line)`;
  $("p-del-other-label").textContent = `Delegation of ${other || "the counterpart"} (one name per line)`;
}

function updateUtcPreview() {
  const tz = checkedZone($("p-tz").value);
  const wall = $("p-start").value;
  let text = "";
  if ($("p-tz").value.trim() && !tz) text = "Not a time zone this browser knows.";
  else if (tz && wall) {
    const at = instantOf(wall, tz);
    if (at && at.missing) text = `${wall.replace("T", " ")} does not exist in ${tz} (the clocks change).`;
    else if (at) text = `That is ${utcText(at.ms)} (UTC${offsetText(at.offset)} in ${tz}).`;
  }
  $("p-start-utc").textContent = text;
}

function openForm(mode, t) {
  clearMessages();
  form = {mode, talks: t || null};
  formDirty = false;
  const f = $("proposal-form");
  f.reset();
  $("p-agenda").replaceChildren();
  $("proposal-section").hidden = false;
  $("new-proposal").setAttribute("aria-expanded", "true");
  const select = $("p-counterpart");
  if (mode === "amend") {
    const c = t.current;
    const other = otherParty(t);
    $("proposal-h").textContent = `Amend “${c.title}”`;
    $("proposal-intro").textContent = `Your counter-proposal becomes version ${c.version + 1} ` +
      `and goes back to ${other}, who then accepts, amends or declines it.`;
    select.replaceChildren(new Option(partyName(other), other));
    select.disabled = true;
    $("p-counterpart-note").textContent = "";
    $("p-title").value = c.title;
    const ms = parseInstant(c.starts_at);
    $("p-tz").value = c.tz;
    try { $("p-start").value = isNaN(ms) ? "" : wallTime(c.tz, ms); }
    catch (e) { $("p-start").value = ""; }
    $("p-duration").value = String(c.duration_min);
    $("p-del-own").value = ((c.delegations || {})[me.node] || []).join("\n");
    $("p-del-other").value = ((c.delegations || {})[other] || []).join("\n");
    for (const item of c.agenda || []) addAgendaItem(item, false);
    $("p-note").value = c.note || "";
    $("p-submit").textContent = `Send version ${c.version + 1} to ${other}`;
  } else {
    $("proposal-h").textContent = "Propose talks";
    $("proposal-intro").textContent = "Version 1 goes to the counterpart's node, whose " +
      "delegates accept it, amend it or decline it.";
    select.disabled = false;
    select.replaceChildren(...partners.map(p => new Option(partyName(p), p)));
    $("p-counterpart-note").textContent = partners.length ? ""
      : "No MOU in force today opens talks with another party: there is nobody to propose to.";
    $("p-tz").value = checkedZone(Intl.DateTimeFormat().resolvedOptions().timeZone || "") || "UTC";
    $("p-del-own").value = me.display_name || me.username;
    addAgendaItem(null, false);
    $("p-submit").textContent = "Send the proposal";
  }
  $("p-submit").disabled = mode === "propose" && !partners.length;
  updateDelegationLabels();
  updateUtcPreview();
  $("proposal-h").focus();
}

function closeForm() {
  form = null;
  formDirty = false;
  $("proposal-section").hidden = true;
  $("new-proposal").setAttribute("aria-expanded", "false");
}

function invalid(id, message) {
  say(message, true);
  $(id).setAttribute("aria-invalid", "true");
  $(id).focus();
  return null;
}

// the proposal as the API takes it (ProposalIn), or null with the problem shown
function collectProposal() {
  for (const el of $("proposal-form").querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
  }
  const other = form.mode === "amend" ? otherParty(form.talks) : $("p-counterpart").value;
  if (!other) return invalid("p-counterpart", "Choose the counterpart.");
  const title = $("p-title").value.trim();
  if (!title) return invalid("p-title", "The talks need a title.");
  const tz = checkedZone($("p-tz").value);
  if (!tz) return invalid("p-tz", `“${$("p-tz").value.trim()}” is not an IANA time zone ` +
                                  "(e.g. Asia/Seoul, Asia/Pyongyang, UTC).");
  const at = instantOf($("p-start").value, tz);
  if (!at) return invalid("p-start", "Give the date and time the talks start.");
  if (at.missing) return invalid("p-start", `${$("p-start").value.replace("T", " ")} does not ` +
                                            `exist in ${tz}: the clocks change then.`);
  const duration = Number($("p-duration").value);
  if (!Number.isInteger(duration) || duration < 5 || duration > 600) {
    return invalid("p-duration", "The duration is 5 to 600 minutes.");
  }
  const own = lines("p-del-own");
  if (!own.length) return invalid("p-del-own", `Name ${me.node}'s delegation (one name per line).`);
  const theirs = lines("p-del-other");
  if (!theirs.length) return invalid("p-del-other", `Name ${other}'s delegation (one name per line).`);
  const agenda = [];
  for (const [i, li] of [...$("p-agenda").children].entries()) {
    const input = li.querySelector("input");
    const text = input.value.trim();
    if (!text) {
      say(`Agenda item ${i + 1} has no text: write it or remove the item.`, true);
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return null;
    }
    agenda.push({id: li.dataset.itemId, kind: li.querySelector("select").value, title: text});
  }
  if (!agenda.length) {
    say("The agenda needs at least one item.", true);
    $("p-agenda-add").focus();
    return null;
  }
  const wall = $("p-start").value.slice(0, 16);
  return {
    counterpart: other,
    proposal: {title, starts_at: `${wall}:00${offsetText(at.offset)}`, tz,
               duration_min: duration, delegations: {[me.node]: own, [other]: theirs},
               agenda, note: $("p-note").value.trim()},
  };
}

async function submitProposal(e) {
  e.preventDefault();
  clearMessages();
  const data = collectProposal();
  if (!data) return;
  const button = $("p-submit");
  button.disabled = true;
  try {
    let t;
    if (form.mode === "amend") {
      const version = form.talks.current.version;
      t = await api("POST", `/api/talks/${enc(form.talks.id)}/answer`,
                    {action: "amend", version, proposal: data.proposal});
      say(`Version ${t.current.version} sent to ${data.counterpart}.`);
    } else {
      t = await api("POST", "/api/talks", {counterpart: data.counterpart, ...data.proposal});
      say(`Proposed to ${data.counterpart}: version 1 of “${t.current.title}” is on its way.`);
    }
    closeForm();
    history.pushState({talks: t.id}, "", `${PAGE}?talks=${enc(t.id)}`);
    $("verify-result").replaceChildren();
    show(t);
    await loadList();
    $("detail-h").focus();
  } catch (err) {
    fail(err);
  } finally {
    button.disabled = false;
  }
}

// ---- the minutes ----------------------------------------------------------------------

// the minutes as they stand, or the draft the node would make from the accepted proposal
function minutesBase(t) {
  if (t.minutes) return t.minutes;
  const c = t.current;
  return {revision: 0, attendance: Object.fromEntries(t.parties.map(p =>
            [p, [...((c.delegations || {})[p] || [])]])),
          outcomes: Object.fromEntries((c.agenda || []).map(a => [a.id, ""])),
          agreed: [], signatures: {}};
}

function agendaTitle(t, id) {
  const item = (t.current.agenda || []).find(a => a.id === id);
  if (!item) return "";
  const kind = (KINDS.find(([k]) => k === item.kind) || [item.kind, item.kind])[1];
  return `${item.title} (${kind})`;
}

function signaturesHtml(t, m) {
  return `<ul id="signatures">${t.parties.map((p) => {
    const s = (m.signatures || {})[p];
    return `<li data-party="${esc(p)}" data-signed="${s ? "true" : "false"}"><strong>` +
      `${esc(p)}</strong>: ${s ? `signed ${when(s.signed_at)} with key ` +
      `<span class="mark">${esc(s.key_id)}</span>` : "not signed yet"}</li>`;
  }).join("")}</ul>`;
}

function agreedRow(text) {
  const li = document.createElement("li");
  li.innerHTML = `<label class="block"><span>Agreed point</span>` +
    `<textarea class="agreed" rows="2" maxlength="2000"></textarea></label>` +
    `<button type="button" class="remove-point">Remove</button>`;
  li.querySelector("textarea").value = text;
  return li;
}

function renumberAgreed() {
  [...$("m-agreed").children].forEach((li, i) => {
    li.querySelector("label span").textContent = `Agreed point ${i + 1}`;
    li.querySelector("button").setAttribute("aria-label", `Remove agreed point ${i + 1}`);
  });
}

function minutesFormHtml(t, m) {
  const signedBy = Object.keys(m.signatures || {});
  const warn = signedBy.length
    ? `<p class="warn" id="m-resign">${esc(signedBy.join(" and "))} signed revision ` +
      `${esc(m.revision)}: an edit removes that signature, and ${esc(signedBy.join(" and "))} ` +
      `must sign the new revision.</p>` : "";
  const att = Object.entries(m.attendance).map(([party, names]) =>
    `<label class="block" for="m-att-${esc(party)}"><span>${esc(party)}</span></label>` +
    `<textarea id="m-att-${esc(party)}" class="attendance" data-party="${esc(party)}" ` +
    `rows="3">${esc(names.join("\n"))}</textarea>`).join("");
  const outcomes = Object.entries(m.outcomes).map(([id, text]) =>
    `<label class="block" for="m-out-${esc(id)}"><span><span class="item-id">${esc(id)}</span> ` +
    `${esc(agendaTitle(t, id))}</span></label><textarea id="m-out-${esc(id)}" class="outcome" ` +
    `data-item-id="${esc(id)}" rows="2" maxlength="4000">${esc(text)}</textarea>`).join("");
  return `${warn}<form id="minutes-form">` +
    `<fieldset><legend>Attendance (one name per line)</legend>${att}</fieldset>` +
    `<fieldset><legend>Outcome per agenda item</legend>${outcomes}</fieldset>` +
    `<fieldset><legend>Agreed points</legend><ol id="m-agreed" class="rows"></ol>` +
    `<button type="button" id="m-add-point">Add agreed point</button></fieldset>` +
    `<p class="actions"><button type="submit" id="m-save">Save the minutes</button>` +
    `<button type="button" id="m-sign">Sign for ${esc(me.node)}</button></p>` +
    `<p class="note">Signing signs the minutes as they stand after your unsaved edits, ` +
    `with ${esc(me.node)}'s node key. Once both sides have signed they cannot change.</p>` +
    `</form>`;
}

function minutesReadHtml(t, m) {
  return `<dl class="facts" id="minutes-read">` +
    `<dt>Attendance</dt><dd><ul>${Object.entries(m.attendance).map(([p, names]) =>
      `<li data-party="${esc(p)}"><strong>${esc(p)}</strong>: ${esc(names.join(", "))}</li>`)
      .join("")}</ul></dd>` +
    `<dt>Outcomes</dt><dd><ul>${Object.entries(m.outcomes).map(([id, text]) =>
      `<li data-item-id="${esc(id)}"><span class="item-id">${esc(id)}</span> ` +
      `${esc(agendaTitle(t, id))}: <span class="outcome-text">${esc(text || "—")}</span></li>`)
      .join("")}</ul></dd>` +
    `<dt>Agreed points</dt><dd>${m.agreed.length ? `<ol class="agreed-points">${m.agreed.map(a =>
      `<li>${esc(a)}</li>`).join("")}</ol>` : "none"}</dd></dl>`;
}

function renderMinutes() {
  const t = current;
  const m = t.minutes;
  const editable = MINUTED.has(t.state) && !t.minutes_sealed;
  const section = $("minutes");
  section.hidden = !m && !editable;
  section.dataset.sealed = String(!!t.minutes_sealed);
  section.dataset.revision = String(m ? m.revision : 0);
  minutesDirty = false;
  $("m-verify").hidden = !m;
  if (section.hidden) { $("minutes-body").replaceChildren(); return; }
  const base = minutesBase(t);
  let head;
  if (t.minutes_sealed) {
    head = `<p class="sealed" id="minutes-state" data-sealed="true">Sealed: revision ` +
      `${esc(m.revision)} is signed by both sides and cannot change.</p>`;
  } else if (m) {
    head = `<p id="minutes-state" data-sealed="false">Draft, revision ${esc(m.revision)}, last ` +
      `edited by ${esc(m.edited_by)}.</p>`;
  } else {
    head = `<p id="minutes-state" data-sealed="false">No draft yet. Below is the draft the ` +
      `node makes from the accepted proposal (its delegations as the attendance, an empty ` +
      `outcome per agenda item): saving or signing creates it.</p>`;
  }
  $("minutes-body").innerHTML = head + signaturesHtml(t, base) +
    (editable ? minutesFormHtml(t, base) : minutesReadHtml(t, base));
  if (editable) {
    for (const a of base.agreed) $("m-agreed").appendChild(agreedRow(a));
    renumberAgreed();
  }
}

// what the form changes against the minutes shown: {attendance?, outcomes?, agreed?}
function minutesChanges() {
  const base = minutesBase(current);
  const changes = {};
  const attendance = {};
  for (const el of $("minutes-form").querySelectorAll("textarea.attendance")) {
    const names = el.value.split("\n").map(s => s.trim()).filter(Boolean);
    if (JSON.stringify(names) !== JSON.stringify(base.attendance[el.dataset.party] || [])) {
      attendance[el.dataset.party] = names;
    }
  }
  if (Object.keys(attendance).length) changes.attendance = attendance;
  const outcomes = {};
  for (const el of $("minutes-form").querySelectorAll("textarea.outcome")) {
    const text = el.value.trim();
    if (text !== (base.outcomes[el.dataset.itemId] || "")) outcomes[el.dataset.itemId] = text;
  }
  if (Object.keys(outcomes).length) changes.outcomes = outcomes;
  const agreed = [...$("m-agreed").querySelectorAll("textarea.agreed")]
    .map(el => el.value.trim()).filter(Boolean);
  if (JSON.stringify(agreed) !== JSON.stringify(base.agreed)) changes.agreed = agreed;
  return changes;
}

async function saveMinutes(sign) {
  clearMessages();
  const m = current.minutes;
  const changes = minutesChanges();
  if (!sign && m && !Object.keys(changes).length) {
    say("Nothing to save: the minutes are as shown.");
    return;
  }
  const body = {...changes};
  if (sign) body.sign = true;
  // the revision this edit is based on (0: none yet): the node refuses it if the other
  // side's edit arrived meanwhile, instead of signing or overwriting text not seen here
  if (caps.minutesRevision) body.revision = m ? m.revision : 0;
  const buttons = $("minutes-form").querySelectorAll("button");
  buttons.forEach(b => { b.disabled = true; });
  try {
    const t = await api("POST", `/api/talks/${enc(current.id)}/minutes`, body);
    $("verify-result").replaceChildren();
    minutesDirty = false;
    show(t);
    const rev = t.minutes ? t.minutes.revision : "?";
    say(t.minutes_sealed ? `Signed for ${me.node}: both sides have signed revision ${rev}; ` +
                           "the minutes are sealed."
      : sign ? `Signed for ${me.node}: revision ${rev}; ${otherParty(t)} is told.`
      : `Minutes saved: revision ${rev}; ${otherParty(t)} is told.`);
    await loadList();
  } catch (e) {
    fail(e);
    if ($("minutes-form")) buttons.forEach(b => { b.disabled = false; });
    if (e.status === 409) {  // changed meanwhile: offer the latest, keep the edits until then
      minutesDirty = true;
      try { await refreshSelected(); } catch (err) { /* the error above stands */ }
    }
  }
}

async function verifySignatures() {
  clearMessages();
  const out = $("verify-result");
  out.replaceChildren();
  let result;
  try { result = await api("GET", `/api/talks/${enc(current.id)}/minutes/verify`); }
  catch (e) { fail(e); return; }
  const rev = current.minutes ? current.minutes.revision : "?";
  out.innerHTML = Object.entries(result).map(([party, text]) =>
    `<li data-party="${esc(party)}" data-result="${text === "verified" ? "verified" : "failed"}">` +
    `<strong>${esc(party)}</strong>: ${esc(text)}</li>`).join("");
  const ok = Object.values(result).every(v => v === "verified");
  say(ok ? `Both signatures on revision ${rev} verify against each side's published keys.`
         : `Not every signature on revision ${rev} verifies: see each side's result.`);
}

// ---- setup ------------------------------------------------------------------------------

// the answers and minutes fields this node's API takes, from its OpenAPI document: an "end"
// answer and a base "revision" on minutes edits are used only where the node has them
async function loadCapabilities() {
  let doc;
  try {
    const r = await fetch("/api/openapi.json");
    if (!r.ok) return;
    doc = await r.json();
  } catch (e) {
    return;
  }
  const schemas = (doc.components && doc.components.schemas) || {};
  const deref = (s) => {
    const ref = s && s.$ref;
    return ref ? schemas[ref.split("/").pop()] || {} : s || {};
  };
  const answerIn = schemas.AnswerIn;
  const action = answerIn && answerIn.properties ? deref(answerIn.properties.action) : null;
  if (action) {
    for (const alt of [action, ...(action.anyOf || []).map(deref), ...(action.allOf || []).map(deref)]) {
      if (Array.isArray(alt.enum)) { caps.actions = new Set(alt.enum.map(String)); break; }
      const m = typeof alt.pattern === "string" && /^\^\(([a-z_|]+)\)\$$/.exec(alt.pattern);
      if (m) { caps.actions = new Set(m[1].split("|")); break; }
    }
  }
  const minutesIn = schemas.MinutesIn;
  caps.minutesRevision = !!(minutesIn && minutesIn.properties && minutesIn.properties.revision);
}

async function loadParties() {
  const [parties, agreements] = await Promise.all([
    api("GET", "/api/parties"), api("GET", "/api/agreements").catch(() => [])]);
  partyNames = new Map(parties.map(p => [p.code, p.name]));
  const own = parties.find(p => p.code === me.node);
  const rank = new Map(own ? own.levels.map(lv => [lv.name, lv.rank]) : []);
  if (own) rank.set(own.unclassified, 0);
  rank.set("UNCLASSIFIED", 0);
  scheme = {node: me.node, rank};
  partners = [...new Set(agreements
    .filter(a => a.kind === "MOU" && (a.opens || []).includes("talks") &&
                 a.status && a.status.in_force && (a.parties || []).includes(me.node))
    .flatMap(a => a.parties).filter(p => p !== me.node))].sort();
}

function wire() {
  $("refresh").addEventListener("click", async () => {
    clearMessages();
    try {
      await loadList();
      if (current) {
        const t = await api("GET", `/api/talks/${enc(current.id)}`);
        if (!minutesDirty) show(t); else await refreshSelected();
      }
      say("Refreshed.");
    } catch (e) { fail(e); }
  });
  $("new-proposal").addEventListener("click", () => {
    if (form && form.mode === "propose") { closeForm(); return; }
    openForm("propose", null);
  });
  $("talks").addEventListener("click", (e) => {
    const a = e.target.closest("a.open-talks");
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    select(a.dataset.talksId, true);
  });
  // the call page signs in on its own: hand it this session's token in the fragment (never
  // sent to a server; the call page removes it from the address at once)
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a.call-link");
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    location.href = `${a.href.split("#")[0]}#token=${enc(token())}`;
  });
  window.addEventListener("popstate", () => {
    const id = new URLSearchParams(location.search).get("talks");
    if (id) select(id, false);
    else { current = null; $("detail").hidden = true; renderList(); updateBanner(); }
  });

  const f = $("proposal-form");
  f.addEventListener("submit", submitProposal);
  f.addEventListener("input", (e) => {
    formDirty = true;
    if (e.target.getAttribute("aria-invalid")) e.target.removeAttribute("aria-invalid");
    if (e.target.id === "p-start" || e.target.id === "p-tz") updateUtcPreview();
  });
  $("p-counterpart").addEventListener("change", updateDelegationLabels);
  $("p-discard").addEventListener("click", () => {
    const back = form && form.mode === "amend" ? "ans-amend" : "new-proposal";
    closeForm();
    say("The form is discarded; nothing was sent.");
    if ($(back)) $(back).focus();
  });
  $("p-agenda-add").addEventListener("click", () => addAgendaItem(null, true));
  $("p-agenda").addEventListener("click", (e) => {
    const button = e.target.closest("button.remove-item");
    if (!button) return;
    const li = button.closest("li");
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    formDirty = true;
    renumberAgenda();
    if (next) next.querySelector("button.remove-item:not([disabled])")?.focus();
    if (document.activeElement === document.body || !f.contains(document.activeElement)) {
      $("p-agenda-add").focus();
    }
  });

  $("answer-area").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) answer(button.dataset.action);
  });
  $("answer-area").addEventListener("input", (e) => {
    if (e.target.getAttribute("aria-invalid")) e.target.removeAttribute("aria-invalid");
  });

  const mb = $("minutes-body");
  mb.addEventListener("input", () => { minutesDirty = true; });
  mb.addEventListener("submit", (e) => {
    if (e.target.id !== "minutes-form") return;
    e.preventDefault();
    saveMinutes(false);
  });
  mb.addEventListener("click", (e) => {
    const target = e.target.closest("button");
    if (!target) return;
    if (target.id === "m-sign") saveMinutes(true);
    else if (target.id === "m-add-point") {
      const li = agreedRow("");
      $("m-agreed").appendChild(li);
      renumberAgreed();
      minutesDirty = true;
      li.querySelector("textarea").focus();
    } else if (target.classList.contains("remove-point")) {
      const li = target.closest("li");
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      minutesDirty = true;
      renumberAgreed();
      (next ? next.querySelector("button") : $("m-add-point")).focus();
    }
  });
  $("m-verify").addEventListener("click", verifySignatures);
  $("stale-show").addEventListener("click", () => {
    const t = pending;
    if (!t) return;
    if (form && form.mode === "amend") closeForm();
    minutesDirty = false;
    show(t);
    $("detail-h").focus();
  });
}

async function poll() {
  try {
    if (!document.hidden) {
      await loadList();
      await refreshSelected();
    }
  } catch (e) {
    fail(e);
  }
  setTimeout(poll, POLL_MS);
}

async function main() {
  if (!token()) { location.href = `index.html?next=${enc(PAGE + location.search)}`; return; }
  banner("UNCLASSIFIED");
  me = await shell(PAGE);
  if (!me) return;
  wire();
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  $("tz-list").replaceChildren(...[...new Set(["UTC", ...zones])].map(z => new Option(z)));
  if (!me.roles.includes("delegate")) {
    $("role-note").hidden = false;
    $("new-proposal").disabled = true;
    $("talks").tBodies[0].innerHTML = `<tr><td colspan="7">Only delegates see talks.</td></tr>`;
    return;
  }
  try {
    await Promise.all([loadCapabilities(), loadParties()]);
    await loadList();
  } catch (e) {
    fail(e);
    return;
  }
  const id = new URLSearchParams(location.search).get("talks");
  if (id) await select(id, false);
  setTimeout(poll, POLL_MS);
}

// data-ready: the page has loaded what it shows (for people: #status; for tests: this)
main().finally(() => { document.body.dataset.ready = "true"; });
