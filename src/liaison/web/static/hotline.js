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

function render(view) {
  const state = $("state");
  state.textContent = view.status.state;
  state.dataset.state = view.status.state;
  $("missed").textContent =
    view.status.missed_days ? `(${view.status.missed_days} missed day(s))` : "";
  const body = $("traffic");
  body.replaceChildren();
  for (const m of view.traffic) {
    const key = `${m.sender}:${m.seq}`;
    if (m.precedence === "FLASH" && !seen.has(key) && m.sender !== me.node &&
        !m.acknowledged_at) {
      const flash = $("flash");
      flash.textContent = `FLASH from ${m.sender}: ${m.text}`;
      flash.hidden = false;
      beep();
    }
    seen.add(key);
    const row = body.insertRow();
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
  document.body.dataset.channel = view.id || channel;
}

async function acknowledge(sender, seq, button) {
  clearMessages();
  button.disabled = true;
  try {
    await api("POST", `/api/hotline/${enc(channel)}/acknowledgements`, {sender, seq});
    say(`Acknowledged ${sender} ${seq}.`);
    if (sender !== me.node) $("flash").hidden = true;
    render(await api("GET", `/api/hotline/${enc(channel)}`));
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
    render(await api("GET", `/api/hotline/${enc(channel)}`));
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
    try { render(JSON.parse(ev.data)); }
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
