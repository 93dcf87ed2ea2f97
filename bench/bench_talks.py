"""Talks by video: a KOR delegate and a PRK delegate, each in headless Chromium (the
system's, fake camera and microphone) logged in to their own node, join the same talks;
signalling crosses the two nodes over the signed, encrypted federation channel. Each side
must decode the other's video and receive the other's audio (the fake microphone's tone).

Prints ``BENCH talks_first_frame_ms`` (join to first remote frame decoded, the slower of
the two sides; median of the runs) and exits non-zero if a side decodes no video or
receives no audio.
``--quick``: one run (the test suite runs it when Chromium is installed).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_federation import PASSWORD, port, serve, setup, trust
from liaison.cli.demo_talks import MOU, TALKS

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


def call(urls: dict[str, str], talks_id: str, tokens: dict[str, str],
         shots: Path | None) -> float:
    """Both delegates join; the slower side's join → first remote frame, in ms."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browsers = [pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
                    for _ in range(2)]
        try:
            pages = {}
            for browser, party in zip(browsers, ("KOR", "PRK"), strict=True):
                page = browser.new_page()
                page.goto(f"{urls[party]}/console/talks.html?talks={talks_id}"
                          f"#token={tokens[party]}")
                pages[party] = page
            for page in pages.values():
                # a function, not an expression: the console's CSP forbids eval
                page.wait_for_function("() => window.liaisonTalks && window.liaisonTalks"
                                       ".firstFrameAt !== null", timeout=30_000)
            took = []
            for party, page in pages.items():
                t = page.evaluate("window.liaisonTalks.firstFrameAt - window.liaisonTalks"
                                  ".joinedAt")
                both = decoded(page)
                if not both:
                    raise RuntimeError(f"{party} decoded no remote video or received no "
                                       f"remote audio: "
                                       f"{page.evaluate('window.liaisonTalks.stats()')}")
                video, audio = both
                print(f"# {party}: first remote frame {t:.0f} ms after joining; video "
                      f"{video['framesDecoded']} frames decoded "
                      f"({video['frameWidth']}x{video['frameHeight']})")
                print(f"# {party}: remote audio {audio['packetsReceived']} packets, "
                      f"{audio['totalSamplesReceived']} samples received (energy "
                      f"{audio['totalAudioEnergy']:.3g}, level {audio['audioLevel']:.3f})")
                took.append(float(t))
                if shots is not None:
                    page.screenshot(path=str(shots / f"talks-{party}.png"))
            return max(took)
        finally:
            for browser in browsers:
                browser.close()


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"# no Chromium at {CHROMIUM} (Debian package 'chromium'; or set "
              f"LIAISON_CHROMIUM): talks_first_frame_ms not measured")
        return 0
    runs = 1 if "--quick" in sys.argv else 5
    shots = Path(os.environ["LIAISON_SCREENSHOTS"]) if os.environ.get(
        "LIAISON_SCREENSHOTS") else None
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        root = Path(tmp)
        made = {p: setup(root, p) for p in ("KOR", "PRK")}
        ports = {p: port() for p in made}
        procs = [serve(made[p][0], ports[p]) for p in made]
        urls = {p: f"http://127.0.0.1:{ports[p]}" for p in made}
        try:
            tokens = delegates(urls, {p: made[p][1] for p in made})
            times = [call(urls, scheduled(urls, tokens), tokens, shots) for _ in range(runs)]
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=20)
            shutil.rmtree(root, ignore_errors=True)
    print(f"# {runs} call(s); join → first remote frame, slower side: "
          + ", ".join(f"{t:.0f}" for t in times) + " ms")
    print(f"BENCH talks_first_frame_ms {statistics.median(times):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
