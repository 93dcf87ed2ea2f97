// The hotline watch: a channel's line state and traffic, pushed live over a WebSocket;
// FLASH traffic from the partner raises an alert and a tone; watch officers acknowledge
// received traffic, answer check calls and send messages. Uses the console's session, or
// its own sign-in form when not signed in.
import {api, banner, say, sessionEnded, shell, signIn, token} from "./console.js";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

let me = null;
let channel = "";
let socket = null;
let retryMs = 1000;
let retryTimer = null;
const seen = new Set();  // traffic already shown: an alert only for new FLASH traffic

function clearMessages() { say(""); say("", true); }

function beep() {
  try {
    const ctx = new AudioContext(), osc = ctx.createOscillator();
    osc.connect(ctx.destination);
    osc.frequency.value = 880;
    osc.start();
    setTimeout(() => { osc.stop(); ctx.close(); }, 400);
  } catch (e) { /* no audio device: the visual alert stands */ }
}

function when(iso) {
  return iso ? String(iso).replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$/, "Z") : "";
}

// ---- the channel's view ----------------------------------------------------------------
// The socket sends a snapshot (the latest page, every open entry, the line's status), then
// deltas: the entries that changed (new, acknowledged, answered, overdue), the status and
// the summary. Older pages load on demand; rows are updated in place.

const entries = new Map();  // key -> entry, for what the table shows
const rows = new Map();     // key -> its row
let older = null;           // the position before the oldest row shown; null: none older

const keyOf = (m) => `${m.sender}:${m.seq}`;

function place(m) {  // transcript order: position = "<micros>.<seq>.<sender>"
  const [micros, seq, sender] = String(m.position || "0.0.").split(".");
  return [Number(micros), Number(seq), sender];
}

function before(a, b) {
  const x = place(a), y = place(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i];
  return false;
}

function alertFor(m) {
  const key = keyOf(m);
  if (m.precedence === "FLASH" && !seen.has(key) && m.sender !== me.node && !m.acknowledged_at) {
    const flash = $("flash");
    flash.textContent = `FLASH from ${m.sender}: ${m.text}`;
    flash.hidden = false;
    beep();
  }
  seen.add(key);
}

function fill(row, m) {
  row.replaceChildren();
  row.dataset.seq = m.seq;
  row.dataset.sender = m.sender;
  row.className = `${m.precedence || m.kind} ${m.overdue ? "overdue" : ""}`.trim();
  const cells = [when(m.sent_at), m.sender, m.seq, m.precedence || m.kind, m.text,
                 when(m.deadline) + (m.overdue ? " (overdue)" : ""),
                 m.acknowledged_by || m.outcome || ""];
  cells.forEach((v, i) => {
    const cell = row.insertCell();
    cell.textContent = v ?? "";
    if (i === 5) cell.className = "deadline";
  });
  const action = row.insertCell();
  if (m.sender !== me.node && !m.acknowledged_at && me.roles.includes("watch_officer")) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = m.kind === "check_call" ? `Answer check call ${m.seq}`
                                            : `Acknowledge ${m.sender} ${m.seq}`;
    b.addEventListener("click", () => acknowledge(m.sender, m.seq, b));
    action.append(b);
  }
}

// Show ``m``: its row updated in place, or a new row at its place in transcript order
// (not when it is older than the rows shown while older ones are not loaded).
function show(m) {
  const key = keyOf(m);
  alertFor(m);
  const row = rows.get(key);
  if (row) { entries.set(key, m); fill(row, m); return; }
  const body = $("traffic");
  let next = null;  // the first row shown after m
  for (let i = body.rows.length - 1; i >= 0; i--) {
    const other = entries.get(`${body.rows[i].dataset.sender}:${body.rows[i].dataset.seq}`);
    if (other && before(other, m)) break;
    next = body.rows[i];
  }
  if (next === body.rows[0] && next && older !== null) return;  // older than shown
  const fresh = document.createElement("tr");
  body.insertBefore(fresh, next);
  entries.set(key, m);
  rows.set(key, fresh);
  fill(fresh, m);
}

function showStatus(status, summary) {
  const state = $("state");
  state.textContent = status.state;
  state.dataset.state = status.state;
  $("missed").textContent = status.missed_days ? `(${status.missed_days} missed day(s))` : "";
  if (!summary) return;
  $("summary").textContent = summary.open
    ? `${summary.open} open, ${summary.overdue} overdue` +
      (summary.unacknowledged_flash.length
        ? `, ${summary.unacknowledged_flash.length} FLASH unacknowledged` : "")
    : "nothing open";
  if (!summary.unacknowledged_flash.length) $("flash").hidden = true;
}

function showOlder() {
  $("older").hidden = older === null;
}

// A snapshot (the socket's first message, or the REST view): the table afresh.
function render(view) {
  entries.clear();
  rows.clear();
  $("traffic").replaceChildren();
  older = view.older ?? null;
  for (const m of view.awaiting || []) alertFor(m);
  for (const m of view.traffic) show(m);
  showStatus(view.status, view.summary);
  showOlder();
  document.body.dataset.channel = view.id || channel;
}

function update(delta) {
  for (const m of delta.changed) show(m);
  showStatus(delta.status, delta.summary);
}

async function loadOlder() {
  if (older === null) return;
  clearMessages();
  const button = $("older");
  button.disabled = true;
  try {
    const page = await api("GET", `/api/hotline/${enc(channel)}?limit=100&before=${enc(older)}`);
    const body = $("traffic");
    const first = body.rows[0] || null;
    for (const m of page.traffic) {
      const key = keyOf(m);
      if (rows.has(key)) continue;
      seen.add(key);  // history: no alert
      const row = document.createElement("tr");
      body.insertBefore(row, first);
      entries.set(key, m);
      rows.set(key, row);
      fill(row, m);
    }
    older = page.older ?? null;
    showOlder();
    say(`Loaded ${page.traffic.length} older entries.`);
  } catch (e) {
    say(`Older traffic not loaded: ${e.message}`, true);
  } finally {
    button.disabled = false;
  }
}

async function refresh() {  // without a live socket, read the latest page again
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    render(await api("GET", `/api/hotline/${enc(channel)}`));
  }
}

async function acknowledge(sender, seq, button) {
  clearMessages();
  button.disabled = true;
  try {
    await api("POST", `/api/hotline/${enc(channel)}/acknowledgements`, {sender, seq});
    say(`Acknowledged ${sender} ${seq}.`);
    await refresh();  // the socket brings the entry updated in place
  } catch (e) {
    say(`Not acknowledged: ${e.message}`, true);
    button.disabled = false;
  }
}

async function send(ev) {
  ev.preventDefault();
  clearMessages();
  const button = $("send-button");
  button.disabled = true;
  try {
    const sent = await api("POST", `/api/hotline/${enc(channel)}/messages`,
                           {precedence: $("precedence").value, text: $("text").value});
    say(`Sent ${sent.precedence || $("precedence").value} message ${sent.seq ?? ""}.`.trim());
    $("text").value = "";
    await refresh();
  } catch (e) {
    say(`Not sent: ${e.message}`, true);
  } finally {
    button.disabled = false;
  }
}

// ---- live ------------------------------------------------------------------------------

function setLive(state, text) {
  const el = $("live-state");
  el.dataset.state = state;
  el.textContent = `(live: ${text})`;
}

function connect() {
  clearTimeout(retryTimer);
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/hotline/${enc(channel)}/live` +
                           `?token=${enc(token())}`);
  socket = ws;
  setLive("connecting", "connecting…");
  ws.addEventListener("open", () => { retryMs = 1000; setLive("open", "connected"); });
  ws.addEventListener("message", (ev) => {
    try {
      const data = JSON.parse(ev.data);
      if (data.type === "delta") update(data); else render(data);
    }
    catch (e) { say(`A live update could not be read: ${e.message}`, true); }
  });
  ws.addEventListener("close", (ev) => {
    if (socket !== ws) return;  // replaced by another channel's socket
    socket = null;
    if (ev.code === 4401) { setLive("closed", "signed out"); sessionEnded(); return; }
    if (ev.code === 4403 || ev.code === 4404) {
      setLive("closed", "refused");
      say(ev.reason || "This channel is not for you.", true);
      return;
    }
    setLive("closed", `disconnected; retrying in ${Math.round(retryMs / 1000)} s`);
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 30_000);
  });
}

async function watch(id) {
  clearMessages();
  channel = id;
  seen.clear();
  $("flash").hidden = true;
  const url = new URL(location.href);
  url.searchParams.set("channel", id);
  history.replaceState(null, "", url);
  if (socket) { const old = socket; socket = null; old.close(); }
  try { render(await api("GET", `/api/hotline/${enc(id)}`)); }
  catch (e) { say(e.message, true); return; }
  $("send").hidden = !me.roles.includes("watch_officer");
  connect();
}

// ---- start -------------------------------------------------------------------------------

async function start() {
  me = await shell("hotline.html");
  if (!me) return;
  $("signin").hidden = true;
  $("watch").hidden = false;
  let channels = [];
  try { channels = await api("GET", "/api/hotline"); }
  catch (e) { say(e.message, true); return; }
  const select = $("channel");
  select.replaceChildren(...channels.map(c =>
    new Option(`${c.id} (${c.partner}, ${c.status.state})`, c.id)));
  if (!channels.length) {
    select.add(new Option("no hotline channel on this node", ""));
    say("No hotline channel is open on this node.");
    return;
  }
  $("pick").addEventListener("submit", (ev) => { ev.preventDefault(); watch(select.value); });
  $("send").addEventListener("submit", send);
  $("older").addEventListener("click", loadOlder);
  const wanted = new URLSearchParams(location.search).get("channel");
  // the channel asked for (?channel=), else the only one; an unknown one: none
  const first = wanted ? (channels.some(c => c.id === wanted) ? wanted : "")
    : channels.length === 1 ? channels[0].id : "";
  if (wanted && !first) say(`No channel ${wanted} here: pick one.`, true);
  if (first) {
    select.value = first;
    await watch(first);
  }
}

function ownSignIn() {
  const form = $("signin");
  form.hidden = false;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearMessages();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await signIn($("username").value.trim(), $("password").value);
      $("password").value = "";
      await start();
    } catch (e) {
      say(e.message, true);
      $("password").focus();
    } finally {
      button.disabled = false;
    }
  });
  $("username").focus();
}

banner("UNCLASSIFIED");
(token() ? start() : Promise.resolve(ownSignIn()))
  .catch((e) => say(e.message, true))
  .finally(() => { document.body.dataset.ready = "true"; });
