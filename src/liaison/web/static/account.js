// Account: the signed-in user's tokens (list, revoke, make an API token), an
// administrator's view of another user's tokens, and the user's own password change.
import {api, esc, say, sessionEnded, shell, token} from "./console.js";

const $ = (id) => document.getElementById(id);
let me = null;
let whose = "";  // "" : mine
let currentId = "";  // the id of this session's token (first 16 hex of its SHA-256)

async function ownId() {
  if (!globalThis.crypto || !crypto.subtle) return "";  // not a secure context
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token()));
  return [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, "0")).join("")
    .slice(0, 16);
}

const when = (iso) => (iso ? `${iso.slice(0, 16).replace("T", " ")} UTC` : "never");  // UTC from the node
const base = () => (whose ? `/api/users/${encodeURIComponent(whose)}/tokens` : "/api/tokens");

async function load() {
  const rows = await api("GET", base());
  const body = rows.map(t => {
    const mine = !whose && t.id === currentId;
    return `<tr${mine ? ' class="current"' : ""}><td class="id">${esc(t.id)}</td>` +
      `<td>${esc(t.kind)}${mine ? " (this session)" : ""}</td><td>${esc(t.name)}</td>` +
      `<td>${esc(when(t.created_at))}</td><td>${esc(when(t.expires_at))}</td>` +
      `<td><button type="button" data-revoke="${esc(t.id)}">Revoke</button></td></tr>`;
  }).join("");
  $("tokens").innerHTML = rows.length
    ? `<table><caption>${esc(whose || me.username)}: ${rows.length} token(s)</caption>` +
      `<thead><tr><th>id</th><th>kind</th><th>name</th><th>made</th><th>expires</th><th></th>` +
      `</tr></thead><tbody>${body}</tbody></table>`
    : `<p>${esc(whose || me.username)} has no token in force.</p>`;
}

async function revoke(id) {
  await api("DELETE", `${base()}/${encodeURIComponent(id)}`);
  if (!whose && id === currentId) { sessionEnded(); return; }
  say(`Token ${id} revoked.`);
  await load();
}

function guard(fn) {
  return async (event) => {
    if (event) event.preventDefault();
    say(""); say("", true);
    try { await fn(event); } catch (e) { say(e.message, true); }
  };
}

async function main() {
  me = await shell("account.html");
  if (!me) return;
  currentId = await ownId();
  if (me.roles.includes("admin")) $("whose").hidden = false;
  $("whose").addEventListener("submit", guard(async () => {
    const name = $("whose-user").value.trim();
    whose = name === me.username ? "" : name;
    await load();
  }));
  $("tokens").addEventListener("click", guard(async (event) => {
    const id = event.target.dataset && event.target.dataset.revoke;
    if (id) await revoke(id);
  }));
  $("make").addEventListener("submit", guard(async () => {
    const days = $("make-days").value ? Number($("make-days").value) : undefined;
    const made = await api("POST", "/api/tokens", {name: $("make-name").value.trim(), days});
    $("new-token").textContent = made.token;
    $("made").hidden = false;
    say(`Token ${made.id} made; it expires ${when(made.expires_at)}.`);
    if (!whose) await load();
  }));
  $("password").addEventListener("submit", guard(async () => {
    if ($("pw-new").value !== $("pw-again").value) {
      say("The new password and its repetition differ.", true);
      return;
    }
    await api("PUT", "/api/me/password", {current: $("pw-current").value,
                                          password: $("pw-new").value});
    sessionEnded();
  }));
  await load().catch(e => say(e.message, true));
  document.body.dataset.ready = "true";
}

main();
