// The console's shared shell: sign-in, the signed-in user's role and clearance, the
// classification banner of what a page shows, navigation, and API calls. Plain ES module,
// no dependencies; every page imports it.

const KEY = "liaison.token";

export function token() { return sessionStorage.getItem(KEY) || ""; }

export function signOut() { sessionStorage.removeItem(KEY); location.href = "index.html"; }

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
  if (r.status === 401) { sessionStorage.removeItem(KEY); }
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
  return data;
}

const PAGES = [
  ["items.html", "Items", ["analyst", "release_officer", "reviewer", "watch_officer", "admin"]],
  ["review.html", "Review queue", ["release_officer", "reviewer"]],
  ["agreements.html", "Agreements", null],
  ["reciprocity.html", "Reciprocity", ["release_officer", "reviewer", "admin"]],
  ["map.html", "Tracks map", ["watch_officer", "analyst", "release_officer"]],
  ["hotline.html", "Hotline", ["watch_officer"]],
  ["talks.html", "Talks", ["delegate"]],
  ["audit.html", "Audit", ["admin"]],
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
    ` <button type="button" id="signout">Sign out</button></div><nav aria-label="Console">${nav}</nav>`;
  document.getElementById("signout").addEventListener("click", signOut);
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
