// The console's shared shell: sign-in, the signed-in user's role and clearance, the
// classification banner of what a page shows, navigation, and API calls. Plain ES module,
// no dependencies; every page imports it.

const KEY = "liaison.token";
const EXPIRES = "liaison.expires";  // the session's expires_at, as the node gave it
const NOTICE = "liaison.notice";  // a message for the sign-in page to show
export const SESSION_ENDED = "Your session ended; sign in again.";
const WARN_MS = 5 * 60_000;  // warn this long before the session expires

export function token() { return sessionStorage.getItem(KEY) || ""; }

function forget() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(EXPIRES); }

// Revoke the session at the node, then forget it here (forgotten even if the node cannot
// be reached: the token then lapses at its expiry)
export async function signOut() {
  const t = token();
  if (t) {
    try {
      await fetch("/api/auth/logout", {method: "POST", headers: {"Authorization": `Bearer ${t}`}});
    } catch (e) { /* unreachable node: forgotten here all the same */ }
  }
  forget();
  location.href = "index.html";
}

// this page and its query, to come back to after signing in ("" on the sign-in page)
function here() {
  const name = location.pathname.split("/").pop();
  return name && name !== "index.html" ? name + location.search : "";
}

// The node refused the session (revoked, expired, user disabled): to the sign-in page,
// which says why and comes back here afterwards
export function sessionEnded() {
  forget();
  sessionStorage.setItem(NOTICE, SESSION_ENDED);
  const page = here();
  location.href = page ? `index.html?next=${encodeURIComponent(page)}` : "index.html";
}

// the sign-in page: the message left for it, once
export function takeNotice() {
  const text = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  return text;
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// fetch JSON from the node; throws ApiError with the node's own message
export async function api(method, path, body) {
  const headers = {"Authorization": `Bearer ${token()}`};
  const init = {method, headers};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (r.status === 401) sessionEnded();
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; }
  catch (e) { throw new ApiError(r.status, `${r.status} ${r.statusText}: not a JSON answer`); }
  if (!r.ok) {
    const msg = data && data.error ? data.error.message : `${r.status} ${r.statusText}`;
    throw new ApiError(r.status, msg);
  }
  return data;
}

export async function signIn(username, password) {
  const r = await fetch("/api/auth/login", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({username, password})});
  const data = await r.json();
  if (!r.ok) throw new ApiError(r.status, data.error ? data.error.message : "sign-in failed");
  sessionStorage.setItem(KEY, data.token);
  if (data.expires_at) sessionStorage.setItem(EXPIRES, data.expires_at);
  else sessionStorage.removeItem(EXPIRES);
  return data;
}

// A warning in the header WARN_MS before the session expires; at expiry, a check with the
// node (whose clock decides: a wrong clock here must not end a good session)
function watchExpiry() {
  const at = Date.parse(sessionStorage.getItem(EXPIRES) || "");
  if (!Number.isFinite(at)) return;
  const later = (ms, fn) => { if (ms < 2 ** 31 - 1) setTimeout(fn, Math.max(0, ms)); };
  later(at - WARN_MS - Date.now(), () => {
    const el = document.getElementById("session-warning");
    if (!el || !token()) return;
    const time = new Date(at).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    el.textContent = `Your session ends at ${time}. Save your work, then sign out and sign ` +
                     `in again to go on.`;
    el.hidden = false;
  });
  later(at - Date.now() + 1000, () => { if (token()) api("GET", "/api/me").catch(() => {}); });
}

const PAGES = [
  ["items.html", "Items", ["analyst", "release_officer", "reviewer", "watch_officer", "admin"]],
  ["review.html", "Review queue", ["release_officer", "reviewer"]],
  ["agreements.html", "Agreements", null],
  ["reciprocity.html", "Reciprocity", ["release_officer", "reviewer", "admin"]],
  ["map.html", "Tracks map", ["watch_officer", "analyst", "release_officer"]],
  ["hotline.html", "Hotline", ["watch_officer"]],
  ["talks-desk.html", "Talks", ["delegate"]],
  ["outbox.html", "Outbox", ["admin", "release_officer"]],
  ["audit.html", "Audit", ["admin"]],
  ["account.html", "Account", null],
];

// Build the header (node, user, role, clearance, navigation, sign-out) into <header id=shell>
// and return the signed-in user (``/api/me``); sends to index.html when not signed in.
export async function shell(current) {
  const next = encodeURIComponent(current + location.search);  // keep ?id=… across sign-in
  if (!token()) { location.href = `index.html?next=${next}`; return null; }
  let me;
  try { me = await api("GET", "/api/me"); }
  catch (e) { location.href = `index.html?next=${next}`; return null; }
  const header = document.getElementById("shell");
  const nav = PAGES.filter(([, , roles]) => !roles || roles.some(r => me.roles.includes(r)))
    .map(([href, label]) => `<a href="${href}"${href === current ? ' aria-current="page"' : ""}>${esc(label)}</a>`)
    .join(" ");
  header.innerHTML =
    `<div class="who">Node <strong>${esc(me.node)}</strong> · ${esc(me.display_name || me.username)}` +
    ` · role ${esc(me.roles.join(", "))} · cleared <strong>${esc(me.clearance)}</strong>` +
    (me.topics ? ` · topics ${esc(me.topics.join(", "))}` : "") +
    ` <button type="button" id="signout">Sign out</button></div><nav aria-label="Console">${nav}</nav>` +
    `<p id="session-warning" class="session-warning" role="alert" hidden></p>`;
  const button = document.getElementById("signout");
  button.addEventListener("click", () => { button.disabled = true; signOut(); });
  watchExpiry();
  return me;
}

// The page's classification banner, top and bottom (elements with class "banner")
export function banner(text) {
  for (const el of document.querySelectorAll(".banner")) {
    el.textContent = text || "UNCLASSIFIED";
    el.dataset.level = (text || "UNCLASSIFIED").split("//")[0];
  }
}

// Combine item banners ("LEVEL//REL TO KOR, JPN//CAVEAT") as the node combines portions:
// highest level, every caveat, REL TO the parties common to all that carry one.
export function highest(banners, own) {
  const all = [...new Set(banners.filter(Boolean))];
  if (all.length === 0) return "UNCLASSIFIED";
  if (all.length === 1) return all[0];
  let top = null, topRank = -1;
  const caveats = new Set();
  const rels = [];
  for (const b of all) {
    const [level, ...rest] = b.split("//");
    const rank = own.rank.has(level) ? own.rank.get(level) : Infinity;  // unknown: highest
    if (rank > topRank) { top = level; topRank = rank; }
    for (const part of rest) {
      if (part.startsWith("REL TO ")) {
        rels.push(new Set(part.slice(7).split(",").map(s => s.trim())
          .filter(c => c && c !== own.node)));
      } else {
        caveats.add(part);
      }
    }
  }
  const parts = [top];
  const common = rels.length ? [...rels[0]].filter(c => rels.every(s => s.has(c))) : [];
  if (caveats.has("NOFORN") || (rels.length && common.length === 0)) caveats.add("NOFORN");
  else if (rels.length) parts.push("REL TO " + [own.node, ...common.sort()].join(", "));
  parts.push(...[...caveats].sort());
  return parts.join("//");
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;"}[c]));
}

// Show a message in the page's status region (role=status / role=alert)
export function say(text, isError) {
  const el = document.getElementById(isError ? "error" : "status");
  if (el) el.textContent = text;
}
