// The review queue: pending release requests with the engine's reasons and the content
// check, approve (optionally narrowing the tearline) or reject; recorded consents.
import {api, banner, esc, highest, say, shell, token} from "./console.js";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

let me = null;
let scheme = null;  // this node's own scheme: {node, rank: Map, parties}
let shownBanners = [];


function clearMessages() { say(""); say("", true); }

function hasRole(...roles) { return roles.some(r => me.roles.includes(r)); }

function when(iso) {
  return iso ? `<time datetime="${esc(iso)}">${esc(iso.replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$/, "Z"))}</time>` : "";
}

function today() {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 10);
}

// ---- the queue -----------------------------------------------------------------------

async function loadQueue() {
  let requests;
  try { requests = await api("GET", "/api/releases?state=pending&limit=200"); }
  catch (e) { say(e.message, true); return; }
  const items = new Map();
  const itemOf = (id) => {
    if (!items.has(id)) {
      items.set(id, api("GET", `/api/items/${enc(id)}`).catch(e => ({error: e.message})));
    }
    return items.get(id);
  };
  const rows = await Promise.all(requests.map(async (r) => {
    const [item, check] = await Promise.all([
      itemOf(r.item_id),
      api("GET", `/api/releases/${enc(r.id)}/content-check`).catch(e => ({error: e.message}))]);
    return {r, item, check};
  }));
  $("queue").innerHTML = rows.length
    ? rows.map((row, i) => requestHtml(row, i)).join("")
    : `<p id="queue-empty">No release request is waiting for review.</p>`;
  $("queue-count").textContent = `(${rows.length})`;
  shownBanners = rows.map(({item}) => item.banner).filter(Boolean);
  banner(highest(shownBanners, scheme));
}

function requestHtml({r, item, check}, i) {
  const portions = new Map(item.error ? [] : item.portions.map(p => [p.id, p]));
  const markOf = (pid) => portions.has(pid) ? portions.get(pid).mark : "";
  const d = r.decision;
  const route = d.route && d.route.length ? ` via ${d.route.join(", ")}` : "";
  // Issue 18: an approval counts only on what the decision rests on now
  const counts = (v) => v.basis && v.basis === r.basis_digest;
  const reviews = r.reviews.length
    ? `<ul class="reviews">${r.reviews.map(v =>
        `<li data-reviewer="${esc(v.reviewer)}" data-counts="${counts(v)}">${esc(v.reviewer)}: ` +
        `${v.approve ? "approved" : "rejected"} ${when(v.at)}` +
        (v.approve ? ` (tearline ${esc(v.tearline.join(", "))})` : "") +
        (v.comment ? ` — “${esc(v.comment)}”` : "") +
        (v.approve && !counts(v) ? ` <strong class="voided">no longer counts</strong>` : "") +
        `</li>`).join("")}</ul>`
    : "none yet";
  const voided = (r.voidings || []).length
    ? `<div class="voidings" role="status"><h4>Approvals voided by a change</h4><ul>${
        r.voidings.map(v => `<li data-changed="${esc(v.changed.join(" "))}">${esc(v.text)}</li>`)
          .join("")}</ul></div>`
    : "";
  const reviewForm = hasRole("reviewer") ? `
    <form class="review-form" data-request-id="${esc(r.id)}">
      <fieldset class="tearline-choice"><legend>Tearline (uncheck portions to narrow it)</legend>
        ${r.tearline.map(pid => {
          const p = portions.get(pid);
          const text = p ? p.content.slice(0, 80) + (p.content.length > 80 ? "…" : "") : "";
          return `<label><input type="checkbox" name="tearline" value="${esc(pid)}" checked> ` +
            `${esc(pid)} <span class="mark">${esc(markOf(pid))}</span> ${esc(text)}</label>`;
        }).join("<br>")}
      </fieldset>
      <p><label>Comment (optional)
        <textarea name="comment" rows="2" cols="60" maxlength="4000"></textarea></label></p>
      <p><button type="button" data-action="approve">Approve</button>
         <button type="button" data-action="reject">Reject</button></p>
    </form>` : "";
  return `
  <article class="request" data-request-id="${esc(r.id)}" data-state="${esc(r.state)}"
           data-item-id="${esc(r.item_id)}" aria-labelledby="rq${i}-h">
    <h3 id="rq${i}-h" tabindex="-1">${esc(item.error ? `Item ${r.item_id}` : item.title)} → ${esc(r.recipient)}</h3>
    ${item.error
      ? `<p class="denied">The item: ${esc(item.error)}</p>`
      : `<p class="mark item-banner" data-banner="${esc(item.banner)}">${esc(item.banner)}</p>`}
    <dl class="meta">
      <dt>Request</dt><dd class="request-id">${esc(r.id)}</dd>
      <dt>Item</dt><dd><a href="items.html?id=${enc(r.item_id)}">${esc(r.item_id)}</a></dd>
      <dt>Recipient</dt><dd class="recipient">${esc(r.recipient)}</dd>
      <dt>Purpose</dt><dd class="purpose">${esc(r.purpose)}</dd>
      <dt>Requested</dt><dd>by ${esc(r.requested_by)} ${when(r.requested_at)}</dd>
      <dt>Decided on</dt><dd class="decided-on">${esc(r.on)} (this node's clock; decided again
        at each review)</dd>
      <dt>Agreement</dt><dd>${esc(d.agreement_id || "none")}${esc(route)}, as ${esc(d.recipient_level || "—")}</dd>
      <dt>Tearline</dt><dd class="tearline">${r.tearline.map(pid =>
        `<span class="mark" data-portion-id="${esc(pid)}">${esc(pid)} ${esc(markOf(pid))}</span>`).join(", ")}</dd>
      <dt>Reviews</dt><dd><span class="approvals">${esc(r.approvals)}</span> of
        <span class="required-reviews">${esc(r.required_reviews)}</span> approvals required
        ${reviews}</dd>
    </dl>
    ${voided}
    <h4>The engine's reasons</h4>
    <p class="outcome ${esc(d.outcome)}">${esc(d.summary)}</p>
    <ul class="reasons">${d.reasons.map(x =>
      `<li class="${esc(x.verdict)}">${x.portion_id ? `<span class="mark">${esc(x.portion_id)}</span> ` : ""}` +
      `${esc(x.verdict)}: ${esc(x.text)}</li>`).join("")}</ul>
    ${contentCheckHtml(check)}
    ${reviewForm}
  </article>`;
}

function contentCheckHtml(check) {
  if (check.error) {
    return `<div class="content-check" data-hold="unknown"><h4>Content check</h4>` +
      `<p class="hold-reasons">${esc(check.error)}</p></div>`;
  }
  const verdict = check.hold
    ? `<p class="hold-reasons">Held: ${esc(check.reasons.join(" "))}</p>`
    : `<p class="verdict">No hold.</p>`;
  const findings = check.findings.length
    ? `<ul class="findings">${check.findings.map(f =>
        `<li class="finding ${f.severity === "hold" ? "hold" : "warn"}" data-portion-id="${esc(f.portion)}">` +
        `<span class="mark">${esc(f.portion)}</span> ${esc(f.severity)} · ${esc(f.kind)} ` +
        `“${esc(f.term)}”: ${esc(f.reason)}<br><span class="snippet">${esc(f.snippet)}</span></li>`)
        .join("")}</ul>`
    : `<p>No findings.</p>`;
  return `<div class="content-check" data-hold="${check.hold ? "true" : "false"}">` +
    `<h4>Content check</h4>${verdict}${findings}</div>`;
}

async function review(form, approve) {
  clearMessages();
  const id = form.dataset.requestId;
  const all = [...form.querySelectorAll("input[name=tearline]")];
  const chosen = all.filter(b => b.checked).map(b => b.value);
  const body = {approve, comment: form.elements.comment.value.trim()};
  if (approve && chosen.length !== all.length) body.tearline = chosen;  // narrowed
  const buttons = form.querySelectorAll("button");
  buttons.forEach(b => { b.disabled = true; });
  try {
    const r = await api("POST", `/api/releases/${enc(id)}/reviews`, body);
    const how = approve ? "Approved" : "Rejected";
    say(r.state === "pending"
      ? `${how}. Request ${r.id} has ${r.approvals} of ${r.required_reviews} approvals; still pending.`
      : `${how}. Request ${r.id} is ${r.state}${r.state_reason ? `: ${r.state_reason}` : "."}`);
    await Promise.all([loadQueue(), loadRecent()]);
    keepPlace(id);
  } catch (e) {
    say(e.message, true);
    buttons.forEach(b => { b.disabled = false; });
  }
}

// The queue was drawn again and the button pressed is gone: keyboard users go on from the
// request's heading, or from the queue's when the request has left it (unless they have
// moved on meanwhile)
function keepPlace(id) {
  const active = document.activeElement;
  if (active && active !== document.body && active.isConnected) return;
  const article = [...$("queue").querySelectorAll("article.request")]
    .find(a => a.dataset.requestId === id);
  (article ? article.querySelector("h3") : $("queue-h")).focus();
}

// ---- concluded requests --------------------------------------------------------------

async function loadRecent() {
  let requests;
  try { requests = await api("GET", "/api/releases?limit=100"); }
  catch (e) { say(e.message, true); return; }
  const done = requests.filter(r => r.state !== "pending").slice(0, 30);
  $("recent").tBodies[0].innerHTML = done.map(r =>
    `<tr data-request-id="${esc(r.id)}" data-state="${esc(r.state)}">` +
    `<td>${esc(r.id)}</td><td><a href="items.html?id=${enc(r.item_id)}">${esc(r.item_id)}</a></td>` +
    `<td>${esc(r.recipient)}</td><td class="state ${r.state === "released" ? "allowed" : "denied"}">` +
    `${esc(r.state)}</td><td>${esc(r.tearline.join(", "))}</td>` +
    `<td>${esc(r.reviews.map(v => `${v.reviewer} ${v.approve ? "approved" : "rejected"}`).join("; "))}</td>` +
    `<td>${esc(r.state_reason || "")}</td></tr>`).join("") ||
    `<tr><td colspan="7">None.</td></tr>`;
}

// ---- consents ------------------------------------------------------------------------

async function loadConsents() {
  let consents;
  try { consents = await api("GET", "/api/consents"); }
  catch (e) { say(e.message, true); return; }
  $("consents").tBodies[0].innerHTML = consents.map(c =>
    `<tr data-consent-id="${esc(c.id)}" data-item-id="${esc(c.item_id)}">` +
    `<td>${esc(c.originator)}</td><td>${esc(c.recipient)}</td>` +
    `<td><a href="items.html?id=${enc(c.item_id)}">${esc(c.item_id)}</a></td>` +
    `<td>${esc(c.purpose)}</td><td>${esc(c.granted_by)}</td><td>${esc(c.granted_on)}</td>` +
    `<td>${esc(c.recorded_by)} ${when(c.recorded_at)}</td></tr>`).join("") ||
    `<tr><td colspan="7">No consent recorded.</td></tr>`;
}

function setupConsentForm() {
  if (!hasRole("release_officer")) return;
  const form = $("consent-form");
  form.hidden = false;
  const others = scheme.parties.filter(p => p.code !== scheme.node);
  const option = (p) => `<option value="${esc(p.code)}">${esc(p.code)} — ${esc(p.name)}</option>`;
  $("c-originator").innerHTML = others.map(option).join("");
  $("c-recipient").innerHTML = others.map(option).join("");
  $("c-granted-on").value = today();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearMessages();
    const body = {originator: $("c-originator").value, recipient: $("c-recipient").value,
                  item_id: $("c-item").value.trim(), purpose: $("c-purpose").value.trim(),
                  granted_by: $("c-granted-by").value.trim(),
                  granted_on: $("c-granted-on").value};
    try {
      const c = await api("POST", "/api/consents", body);
      say(`Consent of ${c.originator} for ${c.item_id} to ${c.recipient} recorded.`);
      form.reset();
      $("c-granted-on").value = today();
      await loadConsents();
    } catch (err) {
      say(err.message, true);
    }
  });
}

// ---- start ---------------------------------------------------------------------------

async function main() {
  if (!token()) { location.href = "index.html?next=review.html"; return; }
  me = await shell("review.html");
  if (!me) return;
  try {
    const parties = await api("GET", "/api/parties");
    const own = parties.find(p => p.code === me.node);
    const rank = new Map(own.levels.map(lv => [lv.name, lv.rank]));
    rank.set(own.unclassified, 0);
    scheme = {node: me.node, rank, parties};
  } catch (e) { say(e.message, true); return; }
  banner("UNCLASSIFIED");
  if (!hasRole("reviewer")) $("reviewer-note").hidden = false;
  $("queue").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    review(button.closest("form"), button.dataset.action === "approve");
  });
  $("refresh").addEventListener("click", () => {
    clearMessages();
    Promise.all([loadQueue(), loadRecent(), loadConsents()]);
  });
  setupConsentForm();
  await Promise.all([loadQueue(), loadRecent(), loadConsents()]);
}

// data-ready: the page has loaded what it shows (for people: #status; for tests: this)
main().finally(() => { document.body.dataset.ready = "true"; });
