"""Talks by video: a KOR delegate and a PRK delegate, each in headless Chromium (the
system's, fake camera and microphone) logged in to their own node, join the same talks;
signalling crosses the two nodes over the signed, encrypted federation channel. Each side
must decode the other's video and receive the other's audio (the fake microphone's tone).

What ``BENCH talks_first_frame_ms`` measures: from the moment both delegates have joined
(the second of the two pages sends its join over its node's WebSocket) to the first remote
video frame decoded (``requestVideoFrameCallback`` on the remote tile), on each side; the
figure is the slower side, median of the runs. It includes everything the system does
once both are in: each node recording the join and telling the partner, the offer, answer
and ICE candidates crossing the two nodes (page → WebSocket → node → outbox → signed,
encrypted envelope → partner's inbox → its WebSocket → page), ICE checks, DTLS, the first
key frame encoded and decoded. It does not include page load, sign-in or opening the
camera and microphone (all before a page joins), nor the time the first page waits alone
for the second: the pages are opened one after the other, alternately KOR first and PRK
first, and measuring from the second join keeps the bench's own staggering out. Each run
also prints each side's time from its own join (what earlier versions reported, which
includes waiting for the other) and the call's timeline, each step at the first page
that reached it, in ms after the second join.

Exits non-zero if a side decodes no video or receives no audio, stopping every node and
browser it started.
``--quick``: one run (the test suite runs it when Chromium is installed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_federation import PASSWORD, port, serve, setup, trust
from liaison.cli.demo.talks import MOU, TALKS
from report import bench

CHROMIUM = os.environ.get("LIAISON_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
         "--allow-loopback-in-peer-connection"]
def api(url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(method, url + path, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {token}"})
    if r.status_code >= 400:
        raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
    return r.json()


def login(url: str, user: str) -> str:
    return str(httpx.post(url + "/api/auth/login", json={"username": user,
                                                         "password": PASSWORD}).json()["token"])


def wait(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def delegates(urls: dict[str, str], fingerprints: dict[str, str]) -> dict[str, str]:
    """Partners trusted, the MOU on both nodes, a delegate each: their tokens."""
    admins = {p: trust(urls[p], o, urls[o], fingerprints[o])
              for p, o in (("KOR", "PRK"), ("PRK", "KOR"))}
    tokens = {}
    for party, name in (("KOR", "chun"), ("PRK", "jon")):
        api(urls[party], admins[party], "POST", "/api/agreements", MOU)
        api(urls[party], admins[party], "POST", "/api/users", {
            "username": name, "display_name": TALKS["delegations"][party][0],
            "roles": ["delegate"], "password": PASSWORD,
            "clearance": "평문" if party == "KOR" else "일반"})
        tokens[party] = login(urls[party], name)
    return tokens


def scheduled(urls: dict[str, str], tokens: dict[str, str]) -> str:
    """Talks proposed by KOR and accepted by PRK (a fresh one per call): their id."""
    talks = api(urls["KOR"], tokens["KOR"], "POST", "/api/talks", TALKS)
    wait(lambda: httpx.get(urls["PRK"] + f"/api/talks/{talks['id']}", headers={
        "Authorization": f"Bearer {tokens['PRK']}"}).status_code == 200, "the proposal at PRK")
    api(urls["PRK"], tokens["PRK"], "POST", f"/api/talks/{talks['id']}/answer",
        {"action": "accept", "version": 1})
    wait(lambda: api(urls["KOR"], tokens["KOR"], "GET", f"/api/talks/{talks['id']}")[
        "state"] == "accepted", "the acceptance at KOR")
    return str(talks["id"])


AUDIBLE = 1e-3  # total audio energy once a beep has been decoded (silence stays near 0)


def flowing(stats: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The inbound video that decoded frames and the inbound audio that received samples
    with sound in them (the fake microphone beeps about once a second), or None while
    either is missing."""
    video = [s for s in stats if s.get("kind") == "video" and s["framesDecoded"] > 0]
    audio = [s for s in stats if s.get("kind") == "audio" and s["packetsReceived"] > 0
             and s["totalSamplesReceived"] > 0 and s["totalAudioEnergy"] > AUDIBLE]
    return (video[0], audio[0]) if video and audio else None


def decoded(page: Any, timeout: float = 10) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The page's inbound video and audio once both flow (``getStats`` lags the frame
    callback that sets ``firstFrameAt``); None if not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        both = flowing(page.evaluate("window.liaisonTalks.stats()"))
        if both:
            return both
        time.sleep(0.2)
    return None


PARTIES = ("KOR", "PRK")
FIRST_FRAME = "() => window.liaisonTalks && window.liaisonTalks.firstFrameAt !== null"
# the page's join and first remote frame as ms since the epoch (comparable between the two
# browsers on this machine), and its timeline of the call's steps
TIMES = ("() => { const h = window.liaisonTalks, t0 = performance.timeOrigin; return "
         "{join: t0 + h.joinedAt, frame: t0 + h.firstFrameAt, timeline: h.timeline || {}}; }")


def call(urls: dict[str, str], talks_id: str, tokens: dict[str, str], order: tuple[str, ...],
         shots: Path | None) -> dict[str, float]:
    """The delegates join, their pages opened in ``order``: each side's second join →
    first remote frame, in ms (see the module's docstring)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browsers = []
        try:
            for _ in order:
                browsers.append(pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS,
                                                   headless=True))
            pages = {}
            for browser, party in zip(browsers, order, strict=True):
                page = browser.new_page()
                page.goto(f"{urls[party]}/console/talks.html?talks={talks_id}"
                          f"#token={tokens[party]}")
                pages[party] = page
            for page in pages.values():
                # a function, not an expression: the console's CSP forbids eval
                page.wait_for_function(FIRST_FRAME, timeout=30_000)
            at = {p: page.evaluate(TIMES) for p, page in pages.items()}
            both_in = max(at[p]["join"] for p in PARTIES)
            took = {}
            for party in PARTIES:
                page = pages[party]
                both = decoded(page)
                if not both:
                    raise RuntimeError(f"{party} decoded no remote video or received no "
                                       f"remote audio: "
                                       f"{page.evaluate('window.liaisonTalks.stats()')}")
                video, audio = both
                own = at[party]["frame"] - at[party]["join"]
                took[party] = at[party]["frame"] - both_in
                print(f"# {party}: first remote frame {took[party]:.0f} ms after both joined "
                      f"({own:.0f} ms after joining); video {video['framesDecoded']} frames "
                      f"decoded ({video['frameWidth']}x{video['frameHeight']})")
                print(f"# {party}: remote audio {audio['packetsReceived']} packets, "
                      f"{audio['totalSamplesReceived']} samples received (energy "
                      f"{audio['totalAudioEnergy']:.3g}, level {audio['audioLevel']:.3f})")
                if shots is not None:
                    page.screenshot(path=str(shots / f"talks-{party}.png"))
            print("# timeline, ms after the second join: "
                  + timeline({p: at[p]["timeline"] for p in PARTIES}, both_in))
            return took
        finally:
            for browser in browsers:
                browser.close()


def timeline(lines: dict[str, dict[str, float]], origin: float) -> str:
    steps = sorted((at - origin, party, step) for party, line in lines.items()
                   for step, at in line.items())
    return ", ".join(f"{party} {step} {at:+.0f}" for at, party, step in steps)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each node (to its process group when it leads one: a supervisor and its
    workers), SIGKILL to whatever still runs 20 s later."""
    def signal_to(proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)

    for proc in procs:
        signal_to(proc, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            signal_to(proc, signal.SIGKILL)
            proc.wait(timeout=10)


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"# no Chromium at {CHROMIUM} (Debian package 'chromium'; or set "
              f"LIAISON_CHROMIUM): talks_first_frame_ms not measured")
        return 0
    runs = 1 if "--quick" in sys.argv else 5
    shots = Path(os.environ["LIAISON_SCREENSHOTS"]) if os.environ.get(
        "LIAISON_SCREENSHOTS") else None
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        root = Path(tmp)
        try:
            made = {p: setup(root, p) for p in PARTIES}
            ports = {p: port() for p in made}
            for p in made:
                procs.append(serve(made[p][0], ports[p]))
            urls = {p: f"http://127.0.0.1:{ports[p]}" for p in made}
            tokens = delegates(urls, {p: made[p][1] for p in made})
            times = []
            for run in range(runs):
                order = PARTIES if run % 2 == 0 else PARTIES[::-1]
                print(f"# run {run + 1}: {order[0]}'s page opened first")
                times.append(call(urls, scheduled(urls, tokens), tokens, order, shots))
        finally:
            stop(procs)
            shutil.rmtree(root, ignore_errors=True)
    slower = [max(t.values()) for t in times]
    for party in PARTIES:
        print(f"# {party}: both joined → first remote frame: "
              + ", ".join(f"{t[party]:.0f}" for t in times) + " ms")
    print(f"# {runs} call(s); both joined → first remote frame, slower side: "
          + ", ".join(f"{t:.0f}" for t in slower) + " ms")
    bench("talks_first_frame_ms", f"{statistics.median(slower):.0f}", "ms",
          "from the second delegate's join to the first remote video frame decoded on "
          "each side (the slower side, median of 5 calls): the join and offer crossing the "
          "nodes in one envelope, the answer back, ICE, DTLS, the first key frame; not "
          "page load or opening the camera")
    return 0


if __name__ == "__main__":
    sys.exit(main())
