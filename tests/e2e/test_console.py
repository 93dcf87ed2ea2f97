"""The web console in real headless Chromium (the system's), against two node processes:
sign in, create an item, two reviewers approve its release, it shows as released; the map
shows a track a partner shares; the console never shows a portion to a user not cleared
for it; labels and keyboard use are checked on every page. Screenshots of each page go to
``test-artifacts/console/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.node_fixtures import PASSWORD
from tests.integration.processes import NodeProcess, trusting_pair, wait_for

CHROMIUM = os.environ.get("LIAISON_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "console"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package or set "
           f"LIAISON_CHROMIUM to run the console tests")
STAFF = {"kim": (["analyst"], "군사I급비밀"), "lee": (["release_officer"], "군사I급비밀"),
         "park": (["reviewer"], "군사I급비밀"), "choi": (["reviewer"], "군사I급비밀"),
         "jung": (["analyst"], "군사III급비밀"), "yoon": (["watch_officer"], "군사II급비밀")}
SECRET_TEXT = "source: a defector from the launch battalion"  # 군사I급비밀, REL TO USA
SHARED_TEXT = "two TELs on the apron at Sunchon"  # 군사II급비밀, REL TO JPN, USA
UNLABELLED = """
  [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(el => !el.labels?.length && !el.getAttribute('aria-label')
                  && !el.getAttribute('aria-labelledby'))
    .map(el => el.id || el.name || el.outerHTML.slice(0, 60))
"""
TEXTLESS_BUTTONS = """
  [...document.querySelectorAll('button')]
    .filter(b => !b.textContent.trim() && !b.getAttribute('aria-label') && !b.hidden)
    .map(b => b.outerHTML.slice(0, 60))
"""


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProcess]]:
    with trusting_pair(tmp_path_factory.mktemp("console"), "KOR", "JPN") as (kor, jpn):
        for name, (roles, level) in STAFF.items():
            kor.call("POST", "/api/users", json={"username": name, "roles": roles,
                                                 "clearance": level, "password": PASSWORD})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        yield {"KOR": kor, "JPN": jpn}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def signed_in(browser: Any, node: NodeProcess, user: str) -> Any:
    page = browser.new_context().new_page()
    page.add_init_script(f"sessionStorage.setItem('liaison.token', '{node.login(user)}')")
    return page


def accessible(page: Any, name: str) -> None:
    assert page.evaluate(UNLABELLED) == [], f"{name}: inputs without a label"
    assert page.evaluate(TEXTLESS_BUTTONS) == [], f"{name}: buttons without a name"
    banners = page.locator(".banner")
    assert banners.count() >= 2 and banners.first.inner_text().strip(), f"{name}: no banner"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_create_review_release_and_what_each_user_sees(nodes: dict[str, NodeProcess],
                                                       browser: Any) -> None:
    kor = nodes["KOR"]
    page = browser.new_context().new_page()
    page.goto(f"{kor.url}/console/index.html")
    accessible(page, "index")
    page.focus("#username")  # by keyboard only: type, Tab, type, Enter
    page.keyboard.type("kim")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/items.html*")
    page.wait_for_selector("body[data-ready='true']")
    page.fill("#ni-id", "CONSOLE-1")
    page.fill("#ni-title", "Launchers at Sunchon")
    page.select_option("#ni-discipline", "IMINT")
    page.fill("#ni-topic", "DPRK/missile")
    page.fill("#p1-text", SHARED_TEXT)
    page.select_option("#p1-class", "군사II급비밀")
    page.fill("#p1-rel", "JPN, USA")
    page.click("#ni-add")
    page.fill("#p2-text", SECRET_TEXT)
    page.select_option("#p2-class", "군사I급비밀")
    page.fill("#p2-rel", "USA")
    page.click("#ni-submit")
    created = page.wait_for_selector("#created[data-item-id='CONSOLE-1']")
    assert "군사I급비밀" in created.inner_text()
    accessible(page, "items-new")

    officer = signed_in(browser, kor, "lee")
    officer.goto(f"{kor.url}/console/items.html?id=CONSOLE-1")
    row = officer.wait_for_selector("#release-check tr[data-party='JPN'][data-outcome]")
    assert row.get_attribute("data-outcome") == "allowed"
    officer.select_option("#recipient", "JPN")
    officer.fill("#purpose", "shared early warning")
    officer.click("#request-release button[type=submit]")
    request = officer.wait_for_selector("#request-result [data-request-id]")
    request_id = request.get_attribute("data-request-id")
    accessible(officer, "items-detail")

    for reviewer in ("park", "choi"):
        queue = signed_in(browser, kor, reviewer)
        queue.goto(f"{kor.url}/console/review.html")
        article = queue.wait_for_selector(f"article.request[data-request-id='{request_id}']")
        article.query_selector("button[data-action='approve']").click()
        if reviewer == "park":  # one of the two reviews: still pending, one approval
            queue.wait_for_function(
                f"document.querySelector(\"article.request[data-request-id='{request_id}'] "
                f".approvals\")?.textContent.trim().startsWith('1')", timeout=15_000)
            accessible(queue, "review")
        else:
            queue.wait_for_selector(f"article.request[data-request-id='{request_id}']",
                                    state="detached", timeout=15_000)
    queue.wait_for_selector(f"#recent tr[data-request-id='{request_id}'][data-state='released']")
    wait_for(lambda: nodes["JPN"].call_raw("GET", "/api/items/CONSOLE-1@KOR").status_code
             == 200, what="the release at JPN")

    junior = signed_in(browser, kor, "jung")  # 군사III급비밀: neither portion is for her
    for path in ("items.html", "items.html?id=CONSOLE-1", "items.html?q=Sunchon"):
        junior.goto(f"{kor.url}/console/{path}")
        junior.wait_for_selector("body[data-ready='true']")
        text = junior.content()
        assert SHARED_TEXT not in text and SECRET_TEXT not in text, path
    print("\nconsole: created, reviewed by two, released to JPN; shown to the "
          "군사III급비밀 analyst: 0 of 2 portions")


def test_the_map_shows_a_track_a_partner_shares(nodes: dict[str, NodeProcess],
                                                browser: Any) -> None:
    kor, jpn = nodes["KOR"], nodes["JPN"]
    jpn.call("POST", "/api/users", json={"username": "radar", "roles": ["sensor"],
                                         "clearance": "極秘", "password": PASSWORD})
    jpn.call("POST", "/api/users", json={"username": "ono", "roles": ["release_officer"],
                                         "clearance": "特定秘密", "password": PASSWORD})
    jpn.call("POST", "/api/tracks/feeds", jpn.login("ono"), json={
        "name": "jadge", "title": "JADGE radar", "topic": "DPRK/missile",
        "label": {"policy": "JPN", "classification": "秘", "originator": "JPN",
                  "created": "2026-01-01T00:00:00Z", "rel_to": ["JPN", "KOR"]}})
    page = signed_in(browser, kor, "yoon")
    page.goto(f"{kor.url}/console/map.html")
    page.wait_for_function("window.liaisonMap && liaisonMap.ready && liaisonMap.snapshot",
                           timeout=30_000)
    radar = jpn.login("radar")

    def send() -> bool:
        r = httpx.post(f"{jpn.url}/api/tracks/ingest", headers={
            "Authorization": f"Bearer {radar}"}, json={"feed": "jadge", "updates": [{
                "uid": "JADGE-1", "time": _now(), "lat": 38.9, "lon": 127.4, "alt_m": 9000,
                "kind": "aircraft", "speed_ms": 230, "course_deg": 90}]}, timeout=10)
        return r.status_code < 300 and page.locator("#track-rows tr[data-track]").count() > 0
    wait_for(send, timeout=60, what="JPN's track on KOR's map")
    assert len(page.evaluate("liaisonMap.tracks()")) >= 1
    accessible(page, "map")


def test_agreements_reciprocity_and_audit_pages(nodes: dict[str, NodeProcess],
                                                browser: Any) -> None:
    kor = nodes["KOR"]
    officer = signed_in(browser, kor, "lee")
    officer.goto(f"{kor.url}/console/agreements.html")
    officer.wait_for_selector("svg[id^='timeline-KOR-JPN-GSOMIA']")
    accessible(officer, "agreements")
    officer.goto(f"{kor.url}/console/reciprocity.html")
    officer.wait_for_selector("svg#chart-partner")
    accessible(officer, "reciprocity")
    admin = signed_in(browser, kor, "admin")
    admin.goto(f"{kor.url}/console/audit.html")
    admin.click("#verify")
    result = admin.wait_for_selector("#verify-result[data-ok='true']")
    assert "verified" in result.inner_text().lower()
    accessible(admin, "audit")
    for page_name in ("hotline", "talks"):  # their own sign-in forms, before signing in
        page = browser.new_context().new_page()
        page.goto(f"{kor.url}/console/{page_name}.html")
        page.wait_for_selector("form")
        assert page.evaluate(UNLABELLED) == [], f"{page_name}: inputs without a label"
        assert page.evaluate(TEXTLESS_BUTTONS) == [], f"{page_name}: buttons without a name"
        assert page.get_by_role("note", name="Classification").count() >= 1
        page.screenshot(path=str(ARTIFACTS / f"{page_name}.png"), full_page=True)


def _now() -> str:
    from datetime import UTC, datetime
    return datetime.now(UTC).isoformat()
