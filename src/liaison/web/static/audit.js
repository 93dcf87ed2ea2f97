// The audit log: a paged, filterable table of the hash-chained records, and a button that
// has the node re-hash the whole chain and report the first break.
//
// The node reads the log in sequence order after a given seq (``after``, ``limit``); it
// has no server-side filter, so with a filter set the page scans forward in batches until
// it has a page of matching records.
import {api, ApiError, banner, esc, say, shell} from "./console.js";

const $ = (id) => document.getElementById(id);
const BATCH = 1000;          // the node's largest page
const MAX_BATCHES = 50;      // scan at most this many batches per step (50 000 records)

const view = {start: -1, stack: [], records: [], next: -1, atEnd: false, scanned: null};
let badSeq = null;
let busy = false;

function filters() {
  return {action: $("f-action").value.trim().toLowerCase(), actor: $("f-actor").value.trim().toLowerCase(),
          subject: $("f-subject").value.trim().toLowerCase()};
}

const filtered = (f) => Boolean(f.action || f.actor || f.subject);

function matches(r, f) {
  return (!f.action || r.action.toLowerCase().includes(f.action)) &&
    (!f.actor || r.actor.toLowerCase().includes(f.actor)) &&
    (!f.subject || r.subject.toLowerCase().includes(f.subject));
}

function pageSize() { return Number($("page-size").value) || 50; }

const read = (after, limit) => api("GET", `/api/audit?after=${after}&limit=${limit}`);

// One page of matching records after ``after``.
async function scanPage(after, size, f) {
  const found = [];
  let cursor = after, atEnd = false, first = null;
  for (let n = 0; n < MAX_BATCHES; n++) {
    const limit = filtered(f) ? BATCH : size;
    const batch = await read(cursor, limit);
    let stopped = false;
    for (const r of batch) {
      if (first === null) first = r.seq;
      cursor = r.seq;
      if (matches(r, f)) {
        found.push(r);
        if (found.length === size) { stopped = true; break; }
      }
    }
    if (stopped) break;
    if (batch.length < limit) { atEnd = true; break; }
    if (!filtered(f)) break;
    say(`Scanning… up to seq ${cursor}`);
  }
  return {records: found, next: cursor, atEnd, scanned: first === null ? null : [first, cursor]};
}

// Scan from ``after`` to the end of the log; returns the last page and the starts of the
// pages before it (for Previous).
async function scanToEnd(after, size, f) {
  let cursor = after, pageStart = after, current = [], lastFull = null, first = null;
  const starts = [];
  for (;;) {
    const batch = await read(cursor, BATCH);
    for (const r of batch) {
      if (first === null) first = r.seq;
      cursor = r.seq;
      if (!matches(r, f)) continue;
      current.push(r);
      if (current.length === size) {
        lastFull = {start: pageStart, records: current};
        starts.push(pageStart);
        pageStart = r.seq;
        current = [];
      }
    }
    if (batch.length < BATCH) break;
    say(`Scanning to the end… seq ${cursor}`);
  }
  const scanned = first === null ? null : [first, cursor];
  if (current.length || !lastFull) {
    return {start: pageStart, starts, records: current, next: cursor, atEnd: true, scanned};
  }
  starts.pop();
  return {start: lastFull.start, starts, records: lastFull.records, next: cursor, atEnd: true, scanned};
}

function when(iso) { return esc(String(iso).replace("T", " ").slice(0, 19)); }

function detailsHtml(details) {
  const parts = Object.entries(details || {}).map(([k, v]) => {
    const text = typeof v === "string" ? v : JSON.stringify(v);
    if (text.length <= 80) return `<div><span class="k">${esc(k)}:</span> ${esc(text)}</div>`;
    // long values (receipts, digests): the start, the whole on demand
    return `<details class="long"><summary><span class="k">${esc(k)}:</span> ${esc(text.slice(0, 40))}… ` +
      `(${text.length} characters)</summary><code>${esc(text)}</code></details>`;
  });
  return parts.join("");
}

function render() {
  const f = filtered(filters());
  const rows = view.records.map((r) => `<tr id="audit-${r.seq}" data-seq="${r.seq}"` +
    `${r.seq === badSeq ? ' class="broken"' : ""}>` +
    `<td class="seq">${r.seq}</td><td class="at" title="${esc(r.at)}">${when(r.at)}</td>` +
    `<td class="actor">${esc(r.actor)}</td><td class="action">${esc(r.action)}</td>` +
    `<td class="subject">${esc(r.subject)}</td><td class="details">${detailsHtml(r.details)}</td>` +
    `<td class="hash" title="previous ${esc(r.prev_hash)}&#10;this ${esc(r.hash)}">` +
    `${esc(r.prev_hash.slice(0, 8))} → ${esc(r.hash.slice(0, 8))}</td></tr>`);
  const span = view.records.length
    ? `seq ${view.records[0].seq}–${view.records.at(-1).seq}` : "no records";
  $("table-wrap").innerHTML = `<table id="audit-table"><caption>Audit records, ${span}` +
    `${f ? " (filtered)" : ""}${view.atEnd ? " — end of the log" : ""}</caption><thead><tr>` +
    `<th scope="col">Seq</th><th scope="col">At (UTC)</th><th scope="col">Actor</th>` +
    `<th scope="col">Action</th><th scope="col">Subject</th><th scope="col">Details</th>` +
    `<th scope="col">Hash (previous → this)</th></tr></thead><tbody>` +
    (rows.join("") || `<tr><td colspan="7">${f ? "No matching records." : "No records."}</td></tr>`) +
    "</tbody></table>";
  const scanned = view.scanned && f ? ` · scanned seq ${view.scanned[0]}–${view.scanned[1]}` : "";
  // pages are numbered when counted from the start of the log (not after a jump by seq)
  const counted = (view.stack.length ? view.stack[0] : view.start) === -1;
  $("page-info").textContent = `${counted ? `Page ${view.stack.length + 1} · ` : ""}` +
    `${view.records.length} record(s), ${span}` +
    `${scanned}${view.atEnd ? " · end of the log" : ""}`;
  $("first").disabled = view.start === -1 && !view.stack.length;
  $("prev").disabled = !view.stack.length && (view.start === -1 || f);
  $("next").disabled = view.atEnd;
  say(`${view.records.length} record(s) shown, ${span}${f ? " matching the filters" : ""}.`);
}

async function step(work) {
  if (busy) return;
  busy = true;
  say("", true);
  for (const id of ["first", "prev", "next", "latest"]) $(id).disabled = true;
  try {
    await work();
    render();
    syncUrl();
  } catch (e) {
    say("");
    const forbidden = e instanceof ApiError && e.status === 403;
    say(forbidden ? `Not for your role: the audit log is read by the admin role (${e.message})` : e.message, true);
    if (forbidden) {
      for (const sel of ["#filters", "nav.pager", "#table-wrap"]) document.querySelector(sel).hidden = true;
    }
    $("first").disabled = $("latest").disabled = false;
  } finally {
    busy = false;
    $("latest").disabled = false;
  }
}

async function goTo(start, stack) {
  const page = await scanPage(start, pageSize(), filters());
  Object.assign(view, {start, stack, ...page});
}

function syncUrl() {
  const url = new URL(location.href);
  const params = new URLSearchParams();
  const raw = {action: $("f-action").value.trim(), actor: $("f-actor").value.trim(),
               subject: $("f-subject").value.trim()};
  for (const [k, v] of Object.entries(raw)) if (v) params.set(k, v);
  if (pageSize() !== 50) params.set("size", String(pageSize()));
  if (view.start >= 0 && !view.stack.length) params.set("from", String(view.start + 1));
  url.search = params.toString();
  history.replaceState(null, "", url);
}

function startFromInput() {
  const v = $("from-seq").value.trim();
  return /^\d+$/.test(v) ? Number(v) - 1 : -1;
}

// --- verify ---------------------------------------------------------------------------------

async function verify() {
  const out = $("verify-result");
  const button = $("verify");
  button.disabled = true;
  out.className = "pending";
  out.removeAttribute("data-ok");
  out.textContent = "Verifying the chain…";
  try {
    const r = await api("GET", "/api/audit/verify");
    const at = new Date().toISOString().replace("T", " ").slice(0, 19);
    out.dataset.ok = String(Boolean(r.ok));
    out.dataset.checked = String(r.checked);
    if (r.ok) {
      out.className = "ok";
      out.innerHTML = `✓ Chain intact — verified ${esc(r.checked)} records. ` +
        `<span class="detail">Every record re-hashed and linked to the one before; checked ${esc(at)} UTC.</span>`;
      badSeq = null;
    } else {
      out.className = "bad";
      badSeq = r.first_bad_seq ?? null;
      out.innerHTML = `✗ Chain broken${badSeq !== null ? ` at record ${esc(badSeq)}` : ""}: ` +
        `${esc(r.problem || "verification failed")} ` +
        `<span class="detail">${esc(r.checked)} records checked at ${esc(at)} UTC. ` +
        (badSeq !== null ? `<button type="button" id="show-bad">Show record ${esc(badSeq)}</button>` : "") +
        "</span>";
      const show = $("show-bad");
      if (show) {
        show.addEventListener("click", () => {
          $("f-action").value = $("f-actor").value = $("f-subject").value = "";
          $("from-seq").value = String(Math.max(0, badSeq - 2));
          step(() => goTo(Math.max(-1, badSeq - 3), [])).then(() => {
            const row = $(`audit-${badSeq}`);
            if (row) { row.tabIndex = -1; row.focus(); row.scrollIntoView({block: "center"}); }
          });
        });
      }
    }
    if (view.records.length) render();
  } catch (e) {
    out.className = "pending";
    out.removeAttribute("data-ok");
    out.textContent = e instanceof ApiError && e.status === 403
      ? `Not for your role: ${e.message}` : `Could not verify: ${e.message}`;
  } finally {
    button.disabled = false;
  }
}

// --- start ------------------------------------------------------------------------------------

async function main() {
  banner("UNCLASSIFIED");
  const me = await shell("audit.html");
  if (!me) return;
  const query = new URLSearchParams(location.search);
  $("f-action").value = query.get("action") || "";
  $("f-actor").value = query.get("actor") || "";
  $("f-subject").value = query.get("subject") || "";
  const size = query.get("size");
  if (size && [...$("page-size").options].some((o) => o.value === size)) $("page-size").value = size;
  if (/^\d+$/.test(query.get("from") || "")) $("from-seq").value = query.get("from");

  $("verify").addEventListener("click", verify);
  $("verify").disabled = false;  // disabled in the page until it can answer a click
  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    step(() => goTo(startFromInput(), []));
  });
  $("clear").addEventListener("click", () => {
    for (const id of ["f-action", "f-actor", "f-subject", "from-seq"]) $(id).value = "";
    step(() => goTo(-1, []));
  });
  $("page-size").addEventListener("change", () => step(() => goTo(view.start, view.stack)));
  $("first").addEventListener("click", () => { $("from-seq").value = ""; step(() => goTo(-1, [])); });
  $("next").addEventListener("click", () => step(() => goTo(view.next, [...view.stack, view.start])));
  $("prev").addEventListener("click", () => step(async () => {
    if (view.stack.length) {
      const stack = [...view.stack];
      const start = stack.pop();
      await goTo(start, stack);
    } else {
      // jumped here by seq, unfiltered: seqs are consecutive, so the page before is known
      await goTo(Math.max(-1, view.start - pageSize()), []);
    }
  }));
  $("latest").addEventListener("click", () => step(async () => {
    const r = await scanToEnd(view.start, pageSize(), filters());
    Object.assign(view, {start: r.start, stack: [...view.stack, ...r.starts], records: r.records,
                         next: r.next, atEnd: r.atEnd, scanned: r.scanned});
  }));
  await step(() => goTo(startFromInput(), []));
}

main();
