// Partners' outbox: per partner and lane, pending messages, the oldest one's age, failed
// attempts, the last error and when, the last delivery; the node's stuck-lane alerts; and
// the refused messages with their reasons; and what partners sent that this node refused.
// Administrators and release officers.
import {api, ApiError, esc, say, shell} from "./console.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 10000;

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

const when = (iso) => iso ? esc(iso.replace("T", " ").slice(0, 19)) : "–";

function laneRows(outbox) {
  const rows = [];
  for (const [partner, p] of Object.entries(outbox)) {
    for (const [lane, v] of Object.entries(p.lanes || {})) {
      rows.push(`<tr class="${v.stuck ? "stuck" : ""}"><td>${esc(partner)}</td><td>${esc(lane)}</td>` +
        `<td class="n">${esc(v.pending)}</td><td class="n">${age(v.oldest_pending_age_s)}</td>` +
        `<td class="n">${esc(v.failures)}</td><td class="error">${esc(v.last_error || "–")}</td>` +
        `<td class="at">${when(v.last_error_at)}</td><td class="at">${when(v.last_delivery_at)}</td>` +
        `<td class="state">${v.stuck ? "STUCK" : "ok"}</td></tr>`);
    }
  }
  return rows.join("");
}

function render(outbox) {
  const alerts = Object.values(outbox).flatMap((p) => p.alerts || []);
  $("alerts").innerHTML = alerts.length
    ? `${alerts.length === 1 ? "A lane is" : `${alerts.length} lanes are`} stuck` +
      `<ul>${alerts.map((a) => `<li>${esc(a)}</li>`).join("")}</ul>`
    : "";
  $("calm").textContent = alerts.length || !Object.keys(outbox).length ? "" : "No lane is stuck.";
  const totals = Object.entries(outbox).map(([partner, p]) =>
    `<tr><td>${esc(partner)}</td><td class="n">${esc(p.pending)}</td>` +
    `<td class="n">${esc(p.delivered)}</td><td class="n">${esc(p.refused)}</td></tr>`).join("");
  $("lanes-wrap").innerHTML = Object.keys(outbox).length === 0 ? "<p>No partner nodes.</p>" :
    `<table><caption>Messages per partner</caption><thead><tr><th>Partner</th><th>Pending</th>` +
    `<th>Delivered</th><th>Refused</th></tr></thead><tbody>${totals}</tbody></table>` +
    `<table id="lanes"><caption>Lanes</caption><thead><tr><th>Partner</th><th>Lane</th><th>Pending</th>` +
    `<th>Oldest pending</th><th>Failed attempts</th><th>Last error</th><th>Last error at</th>` +
    `<th>Last delivery</th><th>State</th></tr></thead><tbody>${laneRows(outbox)}</tbody></table>`;
}

function renderRefused(rows) {
  $("refused-wrap").innerHTML = rows.length === 0 ? "<p>None.</p>" :
    `<table id="refused"><thead><tr><th>Partner</th><th>Lane</th><th>Seq</th><th>Kind</th>` +
    `<th>Settled</th><th>Reason</th></tr></thead><tbody>` +
    rows.map((r) => `<tr><td>${esc(r.peer)}</td><td>${esc(r.lane)}</td><td class="n">${esc(r.seq)}</td>` +
      `<td>${esc(r.kind)}</td><td class="at">${when(r.settled_at)}</td>` +
      `<td class="reason">${esc(r.reason)}</td></tr>`).join("") + "</tbody></table>";
}

function renderInboxRefused(rows) {
  $("inbox-refused-wrap").innerHTML = rows.length === 0 ? "<p>None.</p>" :
    `<table id="inbox-refused"><thead><tr><th>Partner</th><th>Seq</th><th>Kind</th><th>Id</th>` +
    `<th>Received</th><th>Reason</th></tr></thead><tbody>` +
    rows.map((r) => `<tr><td>${esc(r.sender)}</td><td class="n">${esc(r.seq)}</td>` +
      `<td>${esc(r.kind)}</td><td>${esc(r.id)}</td><td class="at">${when(r.received_at)}</td>` +
      `<td class="reason">${esc(r.reason)}</td></tr>`).join("") + "</tbody></table>";
}

async function refresh() {
  try {
    const [outbox, refused, inboxRefused] = await Promise.all([
      api("GET", "/api/outbox"), api("GET", "/api/outbox/refused?limit=100"),
      api("GET", "/api/inbox/refused?limit=100")]);
    render(outbox);
    renderRefused(refused);
    renderInboxRefused(inboxRefused);
    say(`Updated ${new Date().toLocaleTimeString()}`);
    say("", true);
  } catch (e) {
    say(e instanceof ApiError ? e.message : String(e), true);
  }
}

async function main() {
  const me = await shell("outbox.html");
  if (!me) return;
  if (!me.roles.some((r) => r === "admin" || r === "release_officer")) {
    say("The outbox is shown to administrators and release officers.", true);
    return;
  }
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

main();
