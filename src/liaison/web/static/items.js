// Items: the list and search (each row with its banner), one item's portions with their
// marks, the release check per partner node, a release request, and a new item.
import {ApiError, api, banner, esc, highest, say, sessionEnded, shell, token} from "./console.js";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const PAGE = 20;
// the API takes these (liaison.domain.items.Discipline); it does not list them
const DISCIPLINES = ["HUMINT", "IMINT", "GEOINT", "SIGINT", "COMINT", "ELINT", "FISINT",
                     "MASINT", "OSINT"];
// a search by a discipline also finds those under it (liaison.domain.items.PARENT_DISCIPLINE)
const UNDER = {SIGINT: ["COMINT", "ELINT", "FISINT"], GEOINT: ["IMINT"]};
// the search's fields, as GET /api/search and the page address name them
const FIELDS = ["q", "discipline", "topic", "level", "place", "since", "until", "source"];
const IMAGE_TYPES = ["image/png", "image/jpeg"];

let me = null;
let scheme = null;  // this node's own scheme: {node, levels, unclassified, rank: Map}
const shown = {list: [], detail: null, created: null};  // banners of what the page shows
// what the list shows: the search's fields as sent to the API ("" = not set; the page
// address carries the same names, so a search can be bookmarked)
const list = {search: blankSearch(), offset: 0, total: 0, asked: 0};

function blankSearch() { return Object.fromEntries(FIELDS.map(f => [f, ""])); }

// ---- banner of the page: the highest marking of everything shown ---------------------


function updateBanner() {
  banner(highest([...shown.list, shown.detail, shown.created], scheme));
}

// ---- helpers ---------------------------------------------------------------------------

function clearMessages() { say(""); say("", true); }

function hasRole(...roles) { return roles.some(r => me.roles.includes(r)); }

async function ownScheme() {
  const parties = await api("GET", "/api/parties");
  const own = parties.find(p => p.code === me.node);
  const rank = new Map(own.levels.map(lv => [lv.name, lv.rank]));
  rank.set(own.unclassified, 0);
  return {node: me.node, levels: own.levels, unclassified: own.unclassified, rank, parties};
}

async function fetchBlob(path) {
  const r = await fetch(path, {headers: {"Authorization": `Bearer ${token()}`}});
  if (r.status === 401) sessionEnded();
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try { message = (await r.json()).error.message; } catch (e) { /* not JSON */ }
    throw new ApiError(r.status, message);
  }
  return r.blob();
}

function when(iso) {
  return iso ? `<time datetime="${esc(iso)}">${esc(iso.replace("T", " ").replace(/\+00:00$/, "Z"))}</time>` : "";
}

// ---- list and search ---------------------------------------------------------------------

function searching() { return FIELDS.some(f => list.search[f] !== ""); }

async function loadList() {
  const mine = ++list.asked;  // only the latest answer is shown, whatever order they come in
  const asked = searching();
  const fields = FIELDS.filter(f => list.search[f] !== "")
    .map(f => `${f}=${enc(list.search[f])}&`).join("");
  const path = asked ? `/api/search?${fields}limit=${PAGE}&offset=${list.offset}`
                     : `/api/items?limit=${PAGE}&offset=${list.offset}`;
  const caption = asked ? `Items matching ${describe(list.search)}, newest report first`
                        : "Items, most recently added first";
  $("items").setAttribute("aria-busy", "true");
  let data;
  try { data = await api("GET", path); }
  catch (e) {  // a refused search (422 names the value): its message, and no stale rows
    if (mine === list.asked) refused(e.message, asked, caption);
    return;
  }
  if (mine !== list.asked) return;
  $("items").removeAttribute("aria-busy");
  $("items-caption").textContent = caption;
  list.total = data.total;
  $("items").dataset.total = String(data.total);
  const rows = data.items.map(it => {
    const snippets = (it.matched || []).map(pid => it.snippets && it.snippets[pid] !== undefined
      ? `<div class="snippet"><span class="mark">${esc(pid)}</span> ${esc(it.snippets[pid])}</div>`
      : "").join("");
    return `<tr data-item-id="${esc(it.id)}" data-banner="${esc(it.banner)}">` +
      `<td class="mark item-banner">${esc(it.banner)}</td>` +
      `<td><a href="items.html?id=${enc(it.id)}">${esc(it.id)}</a></td>` +
      `<td>${esc(it.title)}${snippets}</td><td>${esc(it.discipline)}</td>` +
      `<td>${esc(it.topic)}</td><td>${esc(it.grade)}</td><td>${when(it.reported_at)}</td>` +
      `<td>${esc(it.portions)}</td></tr>`;
  });
  const tbody = $("items").tBodies[0];
  tbody.innerHTML = rows.join("") ||
    `<tr class="empty"><td colspan="8">${asked ? "No items match." : "No item you may see."}</td></tr>`;
  const first = data.items.length ? list.offset + 1 : 0;
  const capped = data.total_capped ? "at least " : "";
  $("page-info").textContent =
    `${first}–${list.offset + data.items.length} of ${capped}${data.total}`;
  $("prev").disabled = list.offset === 0;
  $("next").disabled = list.offset + data.items.length >= data.total && !data.total_capped;
  shown.list = data.items.map(it => it.banner);
  updateBanner();
}

function refused(message, asked, caption) {
  say(message, true);
  $("items").removeAttribute("aria-busy");
  $("items-caption").textContent = caption;
  list.total = 0;
  delete $("items").dataset.total;
  $("items").tBodies[0].innerHTML = `<tr class="empty"><td colspan="8">` +
    `${asked ? "The search was refused" : "The list could not be loaded"}: see the message ` +
    `below.</td></tr>`;
  $("page-info").textContent = "";
  $("prev").disabled = true;
  $("next").disabled = true;
  shown.list = [];
  updateBanner();
}

const FIELD_NAMES = {discipline: "discipline", topic: "topic", level: "level",
  place: "place", since: "reported since", until: "reported before", source: "source"};

// the search in words, for the table's caption (text only: set with textContent)
function describe(search) {
  const parts = search.q ? [`“${search.q}”`] : [];
  for (const [f, name] of Object.entries(FIELD_NAMES)) {
    if (search[f] !== "") parts.push(`${name} ${search[f]}`);
  }
  return parts.join(", ");
}

// the search in the address (items.html?q=…&discipline=…), so it can be bookmarked and shared
function keepQuery() {
  const url = new URL(location.href);
  for (const f of FIELDS) {
    if (list.search[f] !== "") url.searchParams.set(f, list.search[f]);
    else url.searchParams.delete(f);
  }
  history.replaceState(null, "", url);
}

// date-time inputs are in UTC: "2026-01-02T03:04[:05]" <-> "2026-01-02T03:04:05Z"
function utcFromInput(value) {
  if (!value) return "";
  return (value.length === 16 ? `${value}:00` : value) + "Z";
}

const ZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function inputFromUtc(value) {
  if (!ZONED.test(value)) return "";  // not a date-time with a zone: the API will say why
  const at = new Date(value);
  const text = Number.isNaN(at.getTime()) ? "" : at.toISOString();
  return /^\d{4}-/.test(text) ? text.slice(0, 19) : "";
}

// a <select> shows the value even when it is not one of its options (from the address:
// the API answers whether it is right)
function choose(select, value) {
  if (value && ![...select.options].some(o => o.value === value)) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value;
    select.append(option);
  }
  select.value = value;
}

function fieldsFromForm() {
  const value = (id) => $(id).value.trim();
  return {q: value("search"), discipline: value("s-discipline"), topic: value("s-topic"),
          level: value("s-level"), place: value("s-place"),
          since: utcFromInput(value("s-since")), until: utcFromInput(value("s-until")),
          source: value("s-source")};
}

function fillForm(search) {
  $("search").value = search.q;
  const disc = search.discipline.toUpperCase();
  choose($("s-discipline"), DISCIPLINES.includes(disc) ? disc : search.discipline);
  $("s-topic").value = search.topic;
  const level = scheme.levels.find(lv => lv.mark === search.level);  // a mark: its name
  choose($("s-level"), level ? level.name : search.level);
  const source = search.source.toUpperCase();
  choose($("s-source"), scheme.parties.some(p => p.code === source) ? source : search.source);
  $("s-place").value = search.place;
  $("s-since").value = inputFromUtc(search.since);
  $("s-until").value = inputFromUtc(search.until);
}

function searchOptions() {
  const option = (value, text) => {
    const el = document.createElement("option");
    el.value = value;
    el.textContent = text;
    return el;
  };
  $("s-discipline").append(...DISCIPLINES.map(d =>
    option(d, UNDER[d] ? `${d} (with ${UNDER[d].join(", ")})` : d)));
  // the levels of this node's scheme the user may see (the API takes these, by name or mark)
  const mine = scheme.rank.get(me.clearance) ?? 0;
  $("s-level").append(...scheme.levels.filter(lv => lv.rank <= mine)
    .map(lv => option(lv.name, `${lv.name} (${lv.mark})`)));
  $("s-source").append(...scheme.parties.map(p => option(p.code, `${p.code} — ${p.name}`)));
  $("s-topics").append(...(me.topics || []).map(t => option(t, t)));
}

function setupList() {
  $("list-view").hidden = false;
  searchOptions();
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    clearMessages();
    list.search = fieldsFromForm();
    list.offset = 0;
    keepQuery();
    loadList();
  });
  $("search-clear").addEventListener("click", () => {
    clearMessages();
    list.search = blankSearch();
    fillForm(list.search);
    list.offset = 0;
    keepQuery();
    loadList();
  });
  $("prev").addEventListener("click", () => {
    list.offset = Math.max(0, list.offset - PAGE);
    loadList();
  });
  $("next").addEventListener("click", () => {
    list.offset += PAGE;
    loadList();
  });
  // items.html?q=…&discipline=…: the form filled and the search run, as if submitted
  const params = new URLSearchParams(location.search);
  list.search = Object.fromEntries(FIELDS.map(f => [f, (params.get(f) || "").trim()]));
  fillForm(list.search);
  return loadList();
}

// ---- one item ------------------------------------------------------------------------

function renderItem(item, container) {
  const place = item.place ? `${item.place.name || ""} ${item.place.lat}, ${item.place.lon}` : "";
  container.innerHTML =
    `<p class="mark item-banner" data-banner="${esc(item.banner)}">${esc(item.banner)}</p>` +
    `<dl class="meta"><dt>ID</dt><dd class="item-id">${esc(item.id)}</dd>` +
    `<dt>Title</dt><dd>${esc(item.title)}</dd>` +
    `<dt>Originator</dt><dd>${esc(item.originator)}</dd>` +
    `<dt>Discipline</dt><dd>${esc(item.discipline)}</dd>` +
    `<dt>Topic</dt><dd>${esc(item.topic)}</dd><dt>Grade</dt><dd>${esc(item.grade)}</dd>` +
    `<dt>Reported</dt><dd>${when(item.reported_at)}</dd>` +
    (item.observed_at ? `<dt>Observed</dt><dd>${when(item.observed_at)}</dd>` : "") +
    (place ? `<dt>Place</dt><dd>${esc(place)}</dd>` : "") +
    `<dt>Level</dt><dd>${esc(item.level)}</dd></dl>` +
    `<ol class="portions" aria-label="Portions">` + item.portions.map(p =>
      `<li data-portion-id="${esc(p.id)}" data-mark="${esc(p.mark)}">` +
      `<span class="mark">${esc(p.mark)}</span> <span class="content">${esc(p.content)}</span>` +
      (p.attachment ? `<div class="attachment" data-portion-id="${esc(p.id)}"></div>` : "") +
      `</li>`).join("") + `</ol>`;
  for (const p of item.portions) {
    if (!p.attachment) continue;
    const slot = container.querySelector(`.attachment[data-portion-id="${CSS.escape(p.id)}"]`);
    showAttachment(item.id, p, slot);
  }
}

async function showAttachment(itemId, p, slot) {
  const a = p.attachment;
  const path = `/api/items/${enc(itemId)}/portions/${enc(p.id)}/attachment`;
  const img = a.image;
  if (IMAGE_TYPES.includes(a.media_type)) {
    const fig = document.createElement("figure");
    const caption = img
      ? `${p.mark} ${img.sensor}, taken ${img.taken_at}, ${img.resolution_m} m/pixel, ` +
        `${img.width}×${img.height}`
      : `${p.mark} ${a.media_type}`;
    fig.innerHTML = `<p>Loading image…</p><figcaption>${esc(caption)}</figcaption>`;
    slot.append(fig);
    try {
      const url = URL.createObjectURL(await fetchBlob(path));
      const el = document.createElement("img");
      el.src = url;
      el.alt = `Image of portion ${p.id}: ${p.content || a.media_type}`;
      el.dataset.portionId = p.id;
      fig.firstElementChild.replaceWith(el);
    } catch (e) {
      fig.firstElementChild.textContent = `The image could not be loaded: ${e.message}`;
    }
    return;
  }
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = `Download attachment of ${p.id} (${a.media_type}, ${a.size} bytes)`;
  button.addEventListener("click", async () => {
    try {
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await fetchBlob(path));
      link.download = `${itemId}-${p.id}`;
      link.click();
    } catch (e) { say(e.message, true); }
  });
  slot.append(button);
}

async function showDetail(id) {
  $("detail").hidden = false;
  let item;
  try { item = await api("GET", `/api/items/${enc(id)}`); }
  catch (e) {
    $("detail-title").textContent = `Item ${id}`;
    say(e.message, true);
    updateBanner();
    return;
  }
  $("detail-title").textContent = item.title;
  document.title = `Liaison — ${item.id}`;
  renderItem(item, $("detail-body"));
  shown.detail = item.banner;
  updateBanner();
  if (hasRole("release_officer", "reviewer")) await setupRelease(item);
}

// ---- release check and request -------------------------------------------------------

async function setupRelease(item) {
  $("release").hidden = false;
  let peers = [];
  try { peers = await api("GET", "/api/peers"); }
  catch (e) { say(e.message, true); }
  const run = () => checkAll(item, peers);
  $("check-again").addEventListener("click", () => { clearMessages(); run(); });
  $("check-on").addEventListener("change", run);
  if (hasRole("release_officer")) {
    const form = $("request-release");
    form.hidden = false;
    $("recipient").innerHTML = peers.length
      ? peers.map(p => `<option value="${esc(p.party)}">${esc(p.party)}</option>`).join("")
      : `<option value="">no partner node</option>`;
    form.addEventListener("submit", (e) => { e.preventDefault(); requestRelease(item); });
  }
  await run();
}

async function checkAll(item, peers) {
  const tbody = $("release-check").tBodies[0];
  if (!peers.length) {
    tbody.innerHTML = `<tr><td colspan="6">No partner node is configured.</td></tr>`;
    return;
  }
  const at = $("check-on").value;
  tbody.innerHTML = peers.map(p => `<tr data-party="${esc(p.party)}" aria-busy="true">` +
    `<th scope="row">${esc(p.party)}</th><td colspan="5">Checking…</td></tr>`).join("");
  await Promise.all(peers.map(async (p) => {
    const tr = tbody.querySelector(`tr[data-party="${CSS.escape(p.party)}"]`);
    try {
      const d = await api("GET", `/api/items/${enc(item.id)}/release-check?to=${enc(p.party)}` +
                                 (at ? `&at=${enc(at)}` : ""));
      tr.dataset.outcome = d.outcome;
      const marks = new Map(item.portions.map(x => [x.id, x.mark]));
      const route = d.route && d.route.length ? ` via ${d.route.join(", ")}` : "";
      tr.innerHTML = `<th scope="row">${esc(p.party)}</th>` +
        `<td class="outcome ${esc(d.outcome)}">${esc(d.outcome)}</td>` +
        `<td class="level">${esc(d.recipient_level || "—")}</td>` +
        `<td>${esc(d.agreement_id || "none")}${esc(route)}</td>` +
        `<td class="tearline">${d.tearline.map(t =>
          `<span class="mark">${esc(t)} ${esc(marks.get(t) || "")}</span>`).join("<br>") || "—"}</td>` +
        `<td><p>${esc(d.summary)}</p><ul class="reasons">${d.reasons.map(r =>
          `<li class="${esc(r.verdict)}">${r.portion_id ? `<span class="mark">${esc(r.portion_id)}</span> ` : ""}` +
          `${esc(r.verdict)}: ${esc(r.text)}</li>`).join("")}</ul></td>`;
    } catch (e) {
      tr.dataset.outcome = "error";
      tr.innerHTML = `<th scope="row">${esc(p.party)}</th><td colspan="5" class="denied">` +
        `${esc(e.message)}</td>`;
    }
    tr.removeAttribute("aria-busy");
  }));
}

async function requestRelease(item) {
  clearMessages();
  // Issue 18: no date of its own; the node decides it on its clock at approval.
  const body = {item_id: item.id, recipient: $("recipient").value,
                purpose: $("purpose").value.trim()};
  const button = $("request-release").querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const r = await api("POST", "/api/releases", body);
    $("request-result").innerHTML =
      `<p data-request-id="${esc(r.id)}" data-state="${esc(r.state)}">Request ` +
      `<strong>${esc(r.id)}</strong> to ${esc(r.recipient)} is <strong>${esc(r.state)}</strong>: ` +
      `${esc(r.required_reviews)} review(s) required, tearline ${esc(r.tearline.join(", "))}. ` +
      `<a href="review.html">Review queue</a></p>`;
    say(`Release of ${item.id} to ${r.recipient} requested (${r.id}).`);
    $("purpose").value = "";
  } catch (e) {
    say(e.message, true);
  } finally {
    button.disabled = false;
  }
}

// ---- new item ------------------------------------------------------------------------

function localNow() {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 19);
}

function levelOptions() {
  const mine = scheme.rank.get(me.clearance) ?? 0;
  const levels = [...scheme.levels.filter(lv => lv.rank <= mine),
                  {name: scheme.unclassified, mark: "U", rank: 0}];
  return levels.map(lv => `<option value="${esc(lv.name)}">${esc(lv.name)} (${esc(lv.mark)})</option>`)
    .join("");
}

const PORTION_FIELDS = ["text", "class", "rel", "file", "sensor", "taken", "footprint",
                        "resolution", "remove"];

function addPortion() {
  const fs = document.createElement("fieldset");
  fs.className = "portion";
  fs.innerHTML =
    `<legend></legend>` +
    `<p><label>Text <textarea class="p-text" rows="3" cols="70" maxlength="1000000"></textarea></label></p>` +
    `<p><label>Classification <select class="p-class" required>${levelOptions()}</select></label>` +
    `<label>REL TO <input class="p-rel" placeholder="JPN, USA" size="20"></label>` +
    `<button type="button" class="p-remove"></button></p>` +
    `<fieldset class="image"><legend>Image (optional)</legend>` +
    `<p><label>Image file <input class="p-file" type="file" accept="${IMAGE_TYPES.join(",")}"></label></p>` +
    `<p><label>Sensor <input class="p-sensor" maxlength="200"></label>` +
    `<label>Taken at (your local time) <input class="p-taken" type="datetime-local" step="1"></label></p>` +
    `<p><label>Footprint <input class="p-footprint" size="50" ` +
    `placeholder="lat,lon; lat,lon; lat,lon"></label>` +
    `<label>Resolution (m/pixel) <input class="p-resolution" type="number" min="0" step="any" size="6"></label></p>` +
    `</fieldset>`;
  fs.querySelector(".p-remove").addEventListener("click", () => {
    const next = fs.nextElementSibling || fs.previousElementSibling;
    fs.remove();
    renumber();
    if (next) next.querySelector(".p-text").focus();
  });
  $("ni-portions").append(fs);
  renumber();
  return fs;
}

// portions are p1..pn in order; element ids follow (p1-text, p1-class, …)
function renumber() {
  const all = [...$("ni-portions").querySelectorAll(":scope > fieldset.portion")];
  all.forEach((fs, i) => {
    const n = i + 1;
    fs.dataset.portion = `p${n}`;
    fs.querySelector("legend").textContent = `Portion p${n}`;
    for (const f of PORTION_FIELDS) fs.querySelector(`.p-${f}`).id = `p${n}-${f}`;
    const remove = fs.querySelector(".p-remove");
    remove.textContent = `Remove portion p${n}`;
    remove.hidden = all.length === 1;
  });
}

function resetNewItem() {
  $("new-item").reset();
  $("ni-portions").innerHTML = "";
  addPortion();
  $("ni-reported").value = localNow();
}

function setupNewItem() {
  if (!hasRole("analyst", "release_officer")) return;
  $("new-item-section").hidden = false;
  $("ni-discipline").innerHTML = DISCIPLINES.map(d => `<option>${d}</option>`).join("");
  $("ni-topics").innerHTML = (me.topics || []).map(t => `<option value="${esc(t)}">`).join("");
  resetNewItem();
  $("ni-add").addEventListener("click", () => addPortion().querySelector(".p-text").focus());
  $("new-item").addEventListener("submit", (e) => { e.preventDefault(); createItem(); });
}

function parseFootprint(text, pid) {
  const points = text.split(";").map(s => s.trim()).filter(Boolean).map(pair => {
    const nums = pair.split(",").map(s => Number(s.trim()));
    if (nums.length !== 2 || !nums.every(Number.isFinite)) {
      throw new Error(`${pid}: footprint vertex “${pair}” is not “lat,lon”`);
    }
    return nums;
  });
  if (points.length < 3) throw new Error(`${pid}: a footprint has at least three vertices`);
  return points;
}

async function imageSize(file, pid) {
  let bitmap;
  try { bitmap = await createImageBitmap(file); }
  catch (e) { throw new Error(`${pid}: the browser cannot read ${file.name} as an image`); }
  const size = {width: bitmap.width, height: bitmap.height};
  bitmap.close();
  return size;
}

async function upload(file) {
  const r = await fetch("/api/attachments", {method: "POST", body: file,
    headers: {"Authorization": `Bearer ${token()}`, "Content-Type": file.type}});
  if (r.status === 401) sessionEnded();
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    throw new ApiError(r.status, data && data.error ? data.error.message : `${r.status}`);
  }
  return data;
}

async function portionFrom(fs) {
  const pid = fs.dataset.portion;
  const q = (f) => fs.querySelector(`.p-${f}`);
  const rel = q("rel").value.split(/[\s,;]+/).map(s => s.trim().toUpperCase()).filter(Boolean);
  const label = {policy: scheme.node, classification: q("class").value,
                 originator: scheme.node, created: new Date().toISOString()};
  if (rel.length) label.rel_to = [...new Set(rel)];
  const portion = {id: pid, kind: "text", content: q("text").value, label};
  const file = q("file").files[0];
  if (!file) {
    if (!portion.content.trim()) throw new Error(`${pid}: a text portion needs its text`);
    return portion;
  }
  if (!IMAGE_TYPES.includes(file.type)) {
    throw new Error(`${pid}: ${file.name} is not a PNG or JPEG image`);
  }
  const sensor = q("sensor").value.trim();
  const taken = q("taken").value;
  const resolution = Number(q("resolution").value);
  if (!sensor || !taken || !q("resolution").value || !(resolution > 0)) {
    throw new Error(`${pid}: an image needs its sensor, time taken, footprint and resolution`);
  }
  const footprint = parseFootprint(q("footprint").value, pid);
  const {width, height} = await imageSize(file, pid);
  say(`Uploading ${file.name}…`);
  const stored = await upload(file);
  portion.kind = "image";
  portion.attachment = {sha256: stored.sha256, image: {
    sensor, taken_at: new Date(taken).toISOString(), footprint, resolution_m: resolution,
    width, height}};
  return portion;
}

async function createItem() {
  clearMessages();
  const button = $("ni-submit");
  button.disabled = true;
  try {
    const portions = [];
    for (const fs of $("ni-portions").querySelectorAll(":scope > fieldset.portion")) {
      portions.push(await portionFrom(fs));
    }
    const body = {id: $("ni-id").value.trim(), title: $("ni-title").value.trim(),
                  discipline: $("ni-discipline").value, topic: $("ni-topic").value.trim(),
                  grade: $("ni-grade").value.trim().toUpperCase(),
                  reported_at: new Date($("ni-reported").value).toISOString(), portions};
    const item = await api("POST", "/api/items", body);
    $("created").hidden = false;
    renderItem(item, $("created-body"));
    $("created-body").insertAdjacentHTML("beforeend",
      `<p><a href="items.html?id=${enc(item.id)}">Open item ${esc(item.id)}</a></p>`);
    $("created").dataset.itemId = item.id;
    shown.created = item.banner;
    updateBanner();
    say(`Item ${item.id} created: ${item.banner}`);
    resetNewItem();
    list.offset = 0;
    await loadList();
  } catch (e) {
    say("");
    say(e.message, true);
  } finally {
    button.disabled = false;
  }
}

// ---- start ---------------------------------------------------------------------------

async function main() {
  if (!token()) {
    location.href = `index.html?next=${enc("items.html" + location.search)}`;
    return;
  }
  me = await shell("items.html");
  if (!me) return;
  try { scheme = await ownScheme(); }
  catch (e) { say(e.message, true); return; }
  updateBanner();
  const id = new URLSearchParams(location.search).get("id");
  if (id) {
    await showDetail(id);
  } else {
    setupNewItem();
    await setupList();
  }
}

// data-ready: the page has loaded what it shows (for people: #status; for tests: this)
main().finally(() => { document.body.dataset.ready = "true"; });
