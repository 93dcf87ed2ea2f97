"use strict";
// Video talks between delegations. The page talks only to its own node: REST for the
// talks' record, one WebSocket for roster, chat and WebRTC signals (the node relays
// signals to the partner node over the federation channel). Media goes browser to
// browser, host candidates only unless the node hands out a relay.
(() => {
const $ = (id) => document.getElementById(id);
const AGENDA = [["agreed", "Matters already agreed"], ["concerns", "Concerns to discuss"],
                ["urgent", "Urgent issues"]];
// Close codes from the node: the page signs in again only on 4401.
const REFUSALS = {4401: "Sign in again.", 4403: "You are not on this party's delegation.",
                  4404: "No such talks on this node.", 4409: "The call is not open."};
const hooks = window.liaisonTalks = {
  joinedAt: null, firstFrameAt: null, state: "idle",
  // the call's timeline since this page last joined: the first time of each step, in ms
  // since the epoch (performance.timeOrigin + performance.now(), comparable between pages
  // on one machine): join (decided), offer-made, gathered, join-sent, joined (own presence
  // back), peer-seen, offer-sent/-received, answer-made, answer-sent/-received,
  // candidates-sent/-received (those after the description), ice-connected, connected
  // (DTLS), track, first-frame
  timeline: {},
  // what each remote participant's stream delivers: one entry per inbound video and audio
  async stats() {
    const out = [];
    for (const [id, peer] of peers) {
      let report;
      try { report = await peer.pc.getStats(); } catch (e) { continue; }
      report.forEach((r) => {
        if (r.type !== "inbound-rtp") return;
        const kind = r.kind || r.mediaType;
        if (kind === "video") {
          out.push({participant: id, kind, framesDecoded: r.framesDecoded || 0,
                    frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0});
        } else if (kind === "audio") {
          out.push({participant: id, kind, packetsReceived: r.packetsReceived || 0,
                    totalSamplesReceived: r.totalSamplesReceived || 0,
                    audioLevel: r.audioLevel || 0, totalAudioEnergy: r.totalAudioEnergy || 0});
        }
      });
    }
    return out;
  },
};
const query = new URLSearchParams(location.search);
let talksId = query.get("talks") || "";
let token = "", me = "", myParty = "", iceServers = [];
let ws = null, helloSeen = false, joinSent = false, wantJoined = false, retryMs = 1000;
let joining = false;   // the join's offers are being made
let inAtJoin = new Set();   // the other party's participants in the call when I joined
let talksState = "", callClosed = false;   // callClosed: the node refused or ended the call
let localStream = null, audioTrack = null, cameraTrack = null, screenTrack = null;
const my = {muted: false, camera: true, hand: false, sharing: false};
let roster = [];
const peers = new Map();   // remote participant id -> {pc, offerer, queue, stream, tile, ...}
let framePoll = null;

function mark(step) {
  if (!(step in hooks.timeline)) hooks.timeline[step] = performance.timeOrigin + performance.now();
}
function fail(message) { $("alert").textContent = message; }
function announce(text) { $("events").textContent = text; }
function setState(s) {
  hooks.state = s;
  $("conn-state").textContent = {idle: "(not joined)", joining: "(joining…)",
                                 joined: "(joined)", left: "(left)"}[s];
  const inCall = s === "joining" || s === "joined";
  $("join").classList.toggle("hidden", inCall);
  $("join").disabled = talksState !== "accepted";
  for (const b of ["mute", "camera", "hand", "share", "leave"]) $(b).disabled = !inCall;
  if (!audioTrack) $("mute").disabled = true;
  if (!cameraTrack) $("camera").disabled = true;
  $("local-caption").textContent = inCall ? `You (${me || "…"})` : "You (not joined)";
}
function send(msg) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}
async function api(path) {
  const r = await fetch(path, {headers: {"Authorization": `Bearer ${token}`}});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error((data.error && data.error.message) || `${path}: HTTP ${r.status}`);
    err.status = r.status;
    throw err;
  }
  return data;
}

// ---- sign-in and the talks' record ----
function showSignin() {
  $("signin").classList.remove("hidden");
  $("talks-id").value = talksId;
  $("user").focus();
}
$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  talksId = $("talks-id").value.trim();
  const r = await fetch("/api/auth/login", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({username: $("user").value, password: $("password").value})});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) { fail((data.error && data.error.message) || "Sign-in failed"); return; }
  token = data.token;
  $("password").value = "";
  $("signin").classList.add("hidden");
  fail("");
  start();
});

function fmtStart(iso, tz) {
  const d = new Date(iso);
  if (isNaN(d)) return [String(iso), ""];
  const opts = {weekday: "long", year: "numeric", month: "long", day: "numeric",
                hour: "2-digit", minute: "2-digit", timeZoneName: "short"};
  let there;
  try { there = new Intl.DateTimeFormat(undefined, {...opts, timeZone: tz}).format(d); }
  catch (e) { there = d.toUTCString(); }
  return [`${there}${tz ? ` (${tz})` : ""}`, new Intl.DateTimeFormat(undefined, opts).format(d)];
}
function renderTalks(t) {
  const cur = t.current || {};
  document.title = `Liaison — ${cur.title || t.title || "talks"}`;
  $("title").textContent = cur.title || t.title || t.id;
  // talks carry no classified content of their own: their record is UNCLASSIFIED unless
  // the node marks them otherwise
  const marking = t.classification || cur.classification || "UNCLASSIFIED";
  for (const id of ["banner", "banner-bottom"]) $(id).textContent = marking;
  const [there, here] = cur.starts_at ? fmtStart(cur.starts_at, cur.tz) : ["not set", ""];
  $("starts").textContent = there;
  $("your-time").textContent = here && here !== there ? `Your time: ${here}` : "";
  $("duration").textContent = cur.duration_min ? `${cur.duration_min} min` : "duration not set";
  talksState = t.state || "";
  $("talks-state").textContent = `${talksState}${t.answered_by && talksState !== "accepted"
    ? ` by ${t.answered_by}` : ""}${t.reason ? ` — “${t.reason}”` : ""}`;
  $("call-closed").textContent = {
    proposed: "The call opens once both sides have accepted these talks.",
    declined: "These talks were declined: there is no call.",
    cancelled: "These talks were cancelled: there is no call.",
    ended: "These talks have ended: the call is closed. The minutes can still be " +
           "finished."}[talksState] || "";
  $("join").disabled = talksState !== "accepted";
  const del = $("delegations");
  del.replaceChildren();
  for (const [party, names] of Object.entries(cur.delegations || {})) {
    const p = document.createElement("p");
    p.textContent = `Delegation ${party}: ${(names || []).join(", ") || "—"}`;
    del.appendChild(p);
  }
  const agenda = $("agenda");
  agenda.replaceChildren();
  const items = cur.agenda || [];
  const kinds = [...AGENDA, ...[...new Set(items.map((i) => i.kind))]
    .filter((k) => !AGENDA.some(([a]) => a === k)).map((k) => [k, k])];
  for (const [kind, heading] of kinds) {
    const group = items.filter((i) => i.kind === kind);
    if (!group.length) continue;
    const h = document.createElement("h3");
    h.textContent = heading;
    const ul = document.createElement("ul");
    for (const i of group) {
      const li = document.createElement("li");
      li.textContent = i.title;
      ul.appendChild(li);
    }
    agenda.append(h, ul);
  }
  if (!items.length) agenda.textContent = "No agenda items.";
  $("details").classList.remove("hidden");
  const relay = t.relay;
  iceServers = relay && relay.urls && relay.urls.length
    ? [{urls: relay.urls, username: relay.username, credential: relay.credential}] : [];
}
async function start() {
  if (!talksId) { fail("No talks given: open this page with ?talks=<id>."); showSignin(); return; }
  try {
    myParty = (await api("/api/me")).node || "";
    renderTalks(await api(`/api/talks/${encodeURIComponent(talksId)}`));
  } catch (e) {
    fail(e.message);
    if (e.status === 401) showSignin();
    return;
  }
  if (talksState !== "accepted") { setState("idle"); return; }   // no call to join
  callClosed = false;
  connect();
  joinTalks();
}
async function refreshTalks() {
  try { renderTalks(await api(`/api/talks/${encodeURIComponent(talksId)}`)); }
  catch (e) { /* the close reason is already shown */ }
  setState(hooks.state);
}

// ---- the node's WebSocket ----
function connect() {
  helloSeen = false;
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}` +
    `/api/talks/${encodeURIComponent(talksId)}/live?token=${encodeURIComponent(token)}`);
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (m.type === "hello") {
      helloSeen = true; retryMs = 1000;
      me = m.me; myParty = me.split(":")[0] || myParty;
      $("chat").replaceChildren();
      for (const c of m.chat || []) addChat(c);
      onRoster(m.roster || []);
      sendJoinIfReady();
    } else if (m.type === "roster") onRoster(m.roster || []);
    else if (m.type === "signal") onSignal(m.from, m.data || {});
    else if (m.type === "chat") addChat(m);
    else if (m.type === "error") fail(m.message);
  };
  ws.onclose = (ev) => {
    ws = null; joinSent = false;
    for (const id of [...peers.keys()]) closePeer(id);
    if (REFUSALS[ev.code]) {   // refused or closed by the node: no reconnecting
      callClosed = true;
      fail(ev.reason || REFUSALS[ev.code]);
      stopLocal();
      setState("idle");
      if (ev.code === 4401) showSignin();
      if (ev.code === 4409) refreshTalks();   // ended or cancelled: show it
      return;
    }
    if (callClosed) return;
    if (hooks.state === "joined") setState("joining");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 15000);
  };
}
async function sendJoinIfReady() {
  if (!wantJoined || joinSent || joining || !localStream || !helloSeen) return;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  joining = true;
  const socket = ws;
  hooks.joinedAt = performance.now();
  hooks.firstFrameAt = null;
  hooks.timeline = {};
  mark("join");
  // the newcomer calls: whoever is in the call already gets an offer, carried by the join
  // itself (one message, one transaction, one envelope to the partner), instead of waiting
  // for the join to reach them and come back as their offer
  let calling = [], offers = [];
  try {
    inAtJoin = new Set(roster.filter((p) => isRemote(p.id)).map((p) => p.id));
    calling = roster.filter((p) => isRemote(p.id) && !peers.has(p.id))
      .map((p) => createPeer(p.id, true));
    offers = await Promise.all(calling.map((peer) => new Promise((resolve) => {
      enqueue(peer, async () => resolve(await makeOffer(peer)));
      peer.chain.then(() => resolve(null));   // failed: joins without this offer
    })));
  } catch (e) {   // e.g. a bad relay configuration: join without offers (they will offer)
    fail(`Could not prepare the call: ${e.message || e}`);
  } finally {
    joining = false;
  }
  const live = calling.filter((peer, i) => offers[i] && peers.get(peer.id) === peer);
  if (!wantJoined || joinSent || ws !== socket || ws.readyState !== WebSocket.OPEN) {
    for (const peer of calling) if (peers.get(peer.id) === peer) closePeer(peer.id);
    sendJoinIfReady();   // e.g. reconnected meanwhile: join on the new socket
    return;
  }
  for (const peer of calling) if (!live.includes(peer)) closePeer(peer.id);
  send({type: "join", ...my,   // the join carries the state too
        signals: live.map((peer) => ({to: peer.id, data: {sdp: offers[calling.indexOf(peer)]}}))});
  joinSent = true;
  mark("join-sent");
  for (const peer of live) offerSent(peer);
}
function sendState() { if (joinSent) send({type: "state", ...my}); }

// ---- local media and the controls ----
async function getMedia() {
  const tries = [{audio: true, video: {width: 640, height: 480}}, {audio: true}, {video: true}];
  for (const c of tries) {
    try { return await navigator.mediaDevices.getUserMedia(c); } catch (e) { /* next */ }
  }
  fail(window.isSecureContext ? "No camera or microphone available: you can see and hear " +
       "the other delegation only." : "The camera and microphone need this page over https.");
  return new MediaStream();
}
async function joinTalks() {
  if (hooks.state === "joining" || hooks.state === "joined") return;
  if (talksState !== "accepted") return;
  setState("joining");
  wantJoined = true;
  if (!ws && callClosed) { callClosed = false; connect(); }   // try again after a refusal
  if (!localStream) {
    const stream = await getMedia();
    if (!wantJoined) {   // refused or left while the devices were opening
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    localStream = stream;
    audioTrack = localStream.getAudioTracks()[0] || null;
    cameraTrack = localStream.getVideoTracks()[0] || null;
    my.muted = !audioTrack; my.camera = !!cameraTrack; my.hand = false; my.sharing = false;
  }
  $("local-video").muted = true;
  $("local-video").srcObject = localStream;
  $("local-video").play().catch(() => {});
  setState("joining");
  renderControls();
  sendJoinIfReady();
}
function renderControls() {
  const set = (id, pressed, label) => {
    $(id).setAttribute("aria-pressed", String(pressed)); $(id).textContent = label;
  };
  set("mute", my.muted, my.muted ? "Unmute" : "Mute");
  set("camera", !my.camera, my.camera ? "Turn camera off" : "Turn camera on");
  set("hand", my.hand, my.hand ? "Lower hand" : "Raise hand");
  set("share", my.sharing, my.sharing ? "Stop sharing" : "Share screen");
  $("local-video").classList.toggle("mirror", !my.sharing);
}
function outgoingVideo() { return screenTrack || cameraTrack; }
function setOutgoingVideo() {
  const track = outgoingVideo();
  for (const peer of peers.values()) {
    if (peer.videoTx) peer.videoTx.sender.replaceTrack(track).catch(() => {});
  }
  const preview = screenTrack ? new MediaStream([screenTrack]) : localStream;
  if ($("local-video").srcObject !== preview) $("local-video").srcObject = preview;
}
$("join").addEventListener("click", () => { fail(""); joinTalks(); });
$("mute").addEventListener("click", () => {
  my.muted = !my.muted;
  if (audioTrack) audioTrack.enabled = !my.muted;
  renderControls(); sendState();
});
$("camera").addEventListener("click", () => {
  my.camera = !my.camera;
  if (cameraTrack) cameraTrack.enabled = my.camera;
  renderControls(); sendState();
});
$("hand").addEventListener("click", () => { my.hand = !my.hand; renderControls(); sendState(); });
$("share").addEventListener("click", async () => {
  if (screenTrack) { stopSharing(); return; }
  try {
    const s = await navigator.mediaDevices.getDisplayMedia({video: true});
    screenTrack = s.getVideoTracks()[0];
    screenTrack.addEventListener("ended", stopSharing);
  } catch (e) {
    fail(`Screen sharing is not available: ${e.message || e.name || e}`);
    return;
  }
  fail("");
  my.sharing = true;
  setOutgoingVideo(); renderControls(); sendState();
});
function stopSharing() {
  if (!screenTrack) return;
  screenTrack.removeEventListener("ended", stopSharing);
  screenTrack.stop();
  screenTrack = null;
  my.sharing = false;
  setOutgoingVideo(); renderControls(); sendState();
}
$("leave").addEventListener("click", leave);
function leave() {
  wantJoined = false;
  for (const id of [...peers.keys()]) {
    send({type: "signal", to: id, data: {bye: true}});
    closePeer(id);
  }
  if (joinSent) send({type: "leave"});
  joinSent = false;
  stopLocal();
  setState("left");
  renderControls();
  $("join").textContent = "Join again";
  $("join").focus();
}
function stopLocal() {   // camera, microphone and screen off
  wantJoined = false;
  if (screenTrack) { screenTrack.stop(); screenTrack = null; }
  if (localStream) localStream.getTracks().forEach((t) => t.stop());
  localStream = audioTrack = cameraTrack = null;
  my.sharing = my.hand = false;
  $("local-video").srcObject = null;
}
window.addEventListener("pagehide", () => { if (joinSent) leave(); });

// ---- roster ----
function isRemote(id) { return !!myParty && !id.startsWith(`${myParty}:`); }
function flags(p) {
  const out = [[p.muted ? "muted" : "mic on", ""], [p.camera ? "camera on" : "camera off", ""]];
  if (p.hand) out.push(["hand raised", "hand"]);
  if (p.sharing) out.push(["sharing screen", ""]);
  return out;
}
function onRoster(list) {
  const before = new Map(roster.map((p) => [p.id, p]));
  roster = list;
  const ul = $("roster");
  ul.replaceChildren();
  for (const p of list) {
    const li = document.createElement("li");
    li.textContent = `${p.name || p.id} (${p.party})${p.id === me ? " — you" : ""}`;
    for (const [text, cls] of flags(p)) {
      const s = document.createElement("span");
      s.className = `flag ${cls}`; s.textContent = text;
      li.append(" ", s);
    }
    ul.appendChild(li);
    const old = before.get(p.id);
    if (before.size && p.id !== me) {
      if (!old) announce(`${p.name || p.id} (${p.party}) joined`);
      else if (p.hand && !old.hand) announce(`${p.name || p.id} raised a hand`);
    }
  }
  const gone = [...before.keys()].filter((id) => !list.some((q) => q.id === id));
  for (const id of gone) if (id !== me) announce(`${before.get(id).name || id} left`);
  if (!list.length) ul.textContent = "Nobody has joined yet.";
  if (joinSent && list.some((p) => p.id === me)) {
    if (hooks.state !== "joined") { setState("joined"); mark("joined"); }
  }
  // connections follow the roster, only with the other party's delegates; a peer whose
  // offer came ahead of its roster entry is kept until it has been seen and gone
  for (const id of gone) closePeer(id);
  if (hooks.state !== "joined") return;
  for (const p of list) {
    if (!isRemote(p.id)) continue;
    mark("peer-seen");
    // came after me with no offer (its offer comes with its join, ahead of the roster):
    // it had not seen me when it joined, so I call; someone who was in when I joined and
    // has no connection (lost) waits for the smaller id's offer
    if (!peers.has(p.id) && !inAtJoin.has(p.id)) startOffer(p.id);
    else if (!peers.has(p.id)) awaitOffer(p.id);
    if (peers.has(p.id)) caption(peers.get(p.id));
  }
}

// ---- WebRTC mesh ----
function participant(id) { return roster.find((p) => p.id === id); }
function caption(peer) {
  const p = participant(peer.id);
  const status = {failed: " — connection failed", disconnected: " — reconnecting…",
                  new: " — connecting…", connecting: " — connecting…"}[peer.pc.connectionState];
  const extra = p ? flags(p).filter(([t]) => t !== "mic on" && t !== "camera on")
    .map(([t]) => t).join(", ") : "";
  peer.cap.textContent = `${p ? p.name : peer.id} (${p ? p.party : peer.id.split(":")[0]})` +
    `${extra ? ` — ${extra}` : ""}${status || ""}`;
}
function markFirstFrame() {
  if (hooks.firstFrameAt === null) { hooks.firstFrameAt = performance.now(); mark("first-frame"); }
  if (framePoll) { clearInterval(framePoll); framePoll = null; }
}
function pollFrames() {
  if (framePoll || hooks.firstFrameAt !== null) return;
  framePoll = setInterval(async () => {
    if (hooks.firstFrameAt !== null || !peers.size) {
      if (hooks.firstFrameAt !== null) { clearInterval(framePoll); framePoll = null; }
      return;
    }
    if ((await hooks.stats()).some((s) => s.kind === "video" && s.framesDecoded > 0)) {
      markFirstFrame();
    }
  }, 100);
}
function createPeer(id, offerer) {
  // one transport for audio and video (both pages bundle): half the candidates to gather,
  // send and check
  const pc = new RTCPeerConnection({iceServers, bundlePolicy: "max-bundle"});
  const tile = document.createElement("figure");
  tile.className = "tile";
  const video = document.createElement("video");
  video.autoplay = true; video.playsInline = true;
  const cap = document.createElement("figcaption");
  tile.append(video, cap);
  $("tiles").appendChild(tile);
  const peer = {id, pc, offerer, queue: [], stream: new MediaStream(), tile, video, cap,
                videoTx: null, chain: Promise.resolve(), sdpSent: false, answerTimer: null,
                late: [], lateTimer: null};
  peers.set(id, peer);
  video.setAttribute("aria-label", `Video of ${(participant(id) || {}).name || id}`);
  pc.onicecandidate = (e) => {
    // before the description is sent, a candidate goes inside it; later ones go together,
    // one message when gathering ends (or every LATE_BATCH_MS while it goes on), not one
    // each: every message is a transaction and an envelope on both nodes, competing with
    // the answer the call is waiting for
    if (!peer.sdpSent) return;
    if (e.candidate) peer.late.push(e.candidate.toJSON());
    if (!e.candidate) sendLate(peer);
    else if (!peer.lateTimer) peer.lateTimer = setTimeout(() => sendLate(peer), LATE_BATCH_MS);
  };
  pc.ontrack = (e) => {
    mark("track");
    peer.stream.addTrack(e.track);
    if (video.srcObject !== peer.stream) {
      video.srcObject = peer.stream;
      if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(markFirstFrame);
      video.play().catch(() => {   // autoplay with sound refused: play muted, offer sound
        video.muted = true;
        video.play().catch(() => {});
        const b = document.createElement("button");
        b.type = "button"; b.textContent = "Enable sound";
        b.onclick = () => { video.muted = false; video.play().catch(() => {}); b.remove(); };
        cap.after(b);
      });
    }
  };
  pc.onconnectionstatechange = () => {
    if (peers.get(id) !== peer) return;
    if (pc.connectionState === "connected") mark("connected");
    caption(peer);
    if (pc.connectionState === "failed" && offerer) {
      closePeer(id);   // the offerer starts over; the answerer waits for the new offer
      setTimeout(() => {
        if (hooks.state === "joined" && !peers.has(id) && participant(id)) startOffer(id);
      }, 2000);
    }
  };
  pc.oniceconnectionstatechange = () => {
    if (pc.iceConnectionState === "connected") mark("ice-connected");
  };
  pollFrames();
  caption(peer);
  return peer;
}
const LATE_BATCH_MS = 250;
function sendLate(peer) {
  clearTimeout(peer.lateTimer);
  peer.lateTimer = null;
  if (!peer.late.length || peers.get(peer.id) !== peer) return;
  mark("candidates-sent");
  send({type: "signal", to: peer.id, data: {candidates: peer.late.splice(0)}});
}
function closePeer(id) {
  const peer = peers.get(id);
  if (!peer) return;
  peers.delete(id);
  clearTimeout(peer.answerTimer);
  clearTimeout(peer.lateTimer);
  peer.pc.close();
  peer.video.srcObject = null;
  peer.tile.remove();
}
function enqueue(peer, fn) {
  peer.chain = peer.chain.then(fn).catch((e) => {
    if (peers.get(peer.id) === peer) fail(`Connection with ${peer.id}: ${e.message || e}`);
  });
}
async function flushCandidates(peer) {
  for (const c of peer.queue.splice(0)) await peer.pc.addIceCandidate(c).catch(() => {});
}
function sendAnswer(peer) {
  const d = peer.pc.localDescription;
  send({type: "signal", to: peer.id, data: {sdp: {type: d.type, sdp: d.sdp}}});
  peer.sdpSent = true;
  mark("answer-sent");
}
// Who offers: the newcomer, to everyone already in the call when it joins, with its join
// (see sendJoinIfReady); the node pushes a join's offer ahead of the roster that shows
// the newcomer. Someone who appears after I joined without an offer had not seen me when
// it joined: I offer (when both joined before seeing each other, both do). When two offers
// cross, the smaller id's wins: the smaller side ignores the other's offer, the larger
// side drops its own and answers. A connection lost with someone who was in when I joined
// is offered again by its offerer, or by the smaller id after OFFER_GRACE_MS.
const OFFER_GRACE_MS = 1500;
const ANSWER_WAIT_MS = 10000;   // an offer unanswered this long (lost): offer again
const waiting = new Map();      // remote id -> timer of the smaller id's fallback offer
function awaitOffer(id) {
  if (me > id || waiting.has(id)) return;
  waiting.set(id, setTimeout(() => {
    waiting.delete(id);
    if (hooks.state === "joined" && !peers.has(id) && participant(id)) startOffer(id);
  }, OFFER_GRACE_MS));
}
// Host candidates on UDP come in one burst within milliseconds of setLocalDescription
// (TCP ones some 120 ms later, relay ones later still): a description waits for that burst
// (GATHER_QUIET_MS without a new candidate, or gathering complete; GATHER_WAIT_MS at most)
// and carries it, so the partner can start its ICE checks on arrival and each candidate
// saves a message through both nodes. Later candidates trickle.
const GATHER_QUIET_MS = 15;
const GATHER_WAIT_MS = 150;
function gathered(pc) {
  return new Promise((resolve) => {
    let quiet = null;
    const done = () => {
      clearTimeout(quiet); clearTimeout(cap);
      pc.removeEventListener("icecandidate", heard);
      pc.removeEventListener("icegatheringstatechange", heard);
      resolve();
    };
    const heard = () => {
      if (pc.iceGatheringState === "complete") { done(); return; }
      clearTimeout(quiet);
      quiet = setTimeout(done, GATHER_QUIET_MS);
    };
    const cap = setTimeout(done, GATHER_WAIT_MS);
    pc.addEventListener("icecandidate", heard);
    pc.addEventListener("icegatheringstatechange", heard);
    if (pc.iceGatheringState === "complete") done();
    else if (/^a=candidate:/m.test((pc.localDescription || {}).sdp || "")) heard();
  });
}
async function makeOffer(peer) {   // the offer to send, with the candidates gathered
  const pc = peer.pc;
  pc.addTransceiver(audioTrack || "audio", {direction: "sendrecv"});
  const v = outgoingVideo();
  peer.videoTx = pc.addTransceiver(v || "video", {direction: "sendrecv"});
  await pc.setLocalDescription(await pc.createOffer());
  mark("offer-made");
  await gathered(pc);
  mark("gathered");
  return {type: pc.localDescription.type, sdp: pc.localDescription.sdp};
}
function offerSent(peer) {   // from now on candidates trickle; an unanswered offer is redone
  peer.sdpSent = true;
  mark("offer-sent");
  peer.answerTimer = setTimeout(() => {
    if (peers.get(peer.id) !== peer || peer.pc.signalingState !== "have-local-offer") return;
    closePeer(peer.id);
    if (hooks.state === "joined" && participant(peer.id)) startOffer(peer.id);
  }, ANSWER_WAIT_MS);
}
function startOffer(id) {
  const peer = createPeer(id, true);
  enqueue(peer, async () => {
    const sdp = await makeOffer(peer);
    if (peers.get(id) !== peer) return;
    send({type: "signal", to: id, data: {sdp}});
    offerSent(peer);
  });
}
async function answer(peer, sdp) {
  const pc = peer.pc;
  await pc.setRemoteDescription(sdp);
  await flushCandidates(peer);
  // send on the transceivers the offer created (sendrecv even with no track yet, so a
  // later camera or screen track needs no renegotiation)
  for (const [kind, track] of [["audio", audioTrack], ["video", outgoingVideo()]]) {
    const tx = pc.getTransceivers().find((t) => t.receiver.track.kind === kind && !t.stopped);
    if (!tx) continue;
    tx.direction = "sendrecv";
    if (track) await tx.sender.replaceTrack(track);
    if (kind === "video") peer.videoTx = tx;
  }
  await pc.setLocalDescription(await pc.createAnswer());
  mark("answer-made");
  await gathered(pc);
  if (peers.get(peer.id) !== peer) return;
  sendAnswer(peer);
}
function onSignal(from, data) {
  if (!from || !isRemote(from) || !joinSent) return;
  let peer = peers.get(from);
  if (data.bye) { closePeer(from); return; }
  if (data.sdp) mark(`${data.sdp.type}-received`);
  else mark("candidates-received");
  if (data.sdp && data.sdp.type === "offer") {
    // crossed offers: the smaller id's wins (see OFFER_GRACE_MS)
    if (peer && peer.offerer && !peer.pc.remoteDescription && me < from) return;
    // otherwise a new offer starts over (the other side restarted, or won the crossing)
    if (peer && (peer.offerer || peer.pc.remoteDescription)) { closePeer(from); peer = null; }
    if (!peer) peer = createPeer(from, false);
    enqueue(peer, () => answer(peer, data.sdp));
  } else if (data.sdp && data.sdp.type === "answer") {
    if (!peer || !peer.offerer) return;
    enqueue(peer, async () => {
      if (peer.pc.signalingState !== "have-local-offer") return;
      await peer.pc.setRemoteDescription(data.sdp);
      await flushCandidates(peer);
    });
  } else if (data.candidate || Array.isArray(data.candidates)) {
    if (!peer) return;   // of a connection closed meanwhile (candidates follow their offer)
    // one candidate from pages before candidates were batched, else the batch
    const candidates = data.candidate ? [data.candidate] : data.candidates;
    enqueue(peer, async () => {
      if (!peer.pc.remoteDescription) { peer.queue.push(...candidates); return; }
      for (const c of candidates) await peer.pc.addIceCandidate(c).catch(() => {});
    });
  }
}

// ---- chat ----
function addChat(c) {
  const li = document.createElement("li");
  const t = document.createElement("time");
  const d = new Date(c.at);
  t.dateTime = c.at || "";
  t.textContent = isNaN(d) ? "" : d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  const who = document.createElement("strong");
  const party = (c.from || "").split(":")[0];
  who.textContent = `${c.name || c.from}${party ? ` (${party})` : ""}: `;
  li.append(t, who, document.createTextNode(c.text || ""));
  $("chat").appendChild(li);
  $("chat").scrollTop = $("chat").scrollHeight;
}
$("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  if (text.length > 2000) { fail(`A chat message is at most 2,000 characters (this one is ${text.length}).`); return; }
  if (!ws || ws.readyState !== WebSocket.OPEN) { fail("Not connected to the node: chat not sent."); return; }
  send({type: "chat", text});
  $("chat-text").value = "";
});

// ---- start: a token in the fragment skips the sign-in form ----
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  token = fragment.get("token");
  history.replaceState(null, "", location.pathname + location.search);
  start();
} else {
  showSignin();
}
})();
