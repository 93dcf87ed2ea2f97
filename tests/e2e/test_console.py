"""The web console in real headless Chromium (the system's), against two node processes:
sign in, create an item, two reviewers approve its release, it shows as released; the map
shows a track a partner shares; the console never shows a portion to a user not cleared
for it; field search narrows by discipline, source, topic and time and shows the API's
refusals; labels are checked on every page and keyboard use on sign-in, review (approve
by Tab and Enter or Space) and the map's track table; the pages run under the node's
Content-Security-Policy, and a test fails on any violation the browser reports. Screenshots
of each page go to ``test-artifacts/console/``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from tests.integration.node_fixtures import PASSWORD
from tests.integration.processes import NodeProcess, trusting_pair, wait_for

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "console"
pytestmark = pytest.mark.chromium
STAFF = {"kim": (["analyst"], "군사I급비밀"), "lee": (["release_officer"], "군사I급비밀"),
         "park": (["reviewer"], "군사I급비밀"), "choi": (["reviewer"], "군사I급비밀"),
         "jung": (["analyst"], "군사III급비밀"), "yoon": (["watch_officer"], "군사II급비밀"),
         "seo": (["analyst"], "군사II급비밀"),  # the shared portion, not the secret one
         "bae": (["watch_officer"], "대외비")}  # below the JPN radar feed's 秘
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


# what the browser reported about the Content-Security-Policy during the current test
CSP_REPORTS: list[str] = []
REPORT_VIOLATIONS = """
  document.addEventListener('securitypolicyviolation', e => console.error(
    `Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture(autouse=True)
def no_csp_violation() -> Iterator[None]:
    CSP_REPORTS.clear()
    yield
    assert CSP_REPORTS == [], "the console broke its Content-Security-Policy"


def new_page(browser: Any) -> Any:
    """A page in a fresh context whose CSP reports (console messages) fail the test."""
    page = browser.new_context().new_page()
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda m: CSP_REPORTS.append(m.text)
            if "Content Security Policy" in m.text else None)
    return page


def signed_in(browser: Any, node: NodeProcess, user: str) -> Any:
    page = new_page(browser)
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
    page = new_page(browser)
    response = page.goto(f"{kor.url}/console/index.html")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
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

    article = f"article.request[data-request-id='{request_id}']"
    for reviewer, key in (("park", "Enter"), ("choi", "Space")):  # by keyboard, no click
        queue = signed_in(browser, kor, reviewer)
        queue.goto(f"{kor.url}/console/review.html")
        queue.wait_for_selector(article)
        tab_to(queue, f"{article} button[data-action='approve']",
               start=f"{article} input[name=tearline]")
        queue.keyboard.press(key)
        if reviewer == "park":  # one of the two reviews: still pending, one approval
            queue.wait_for_function(  # a function, not an expression: CSP forbids eval
                f"() => document.querySelector(\"{article} "
                f".approvals\")?.textContent.trim().startsWith('1')", timeout=15_000)
            # the queue is drawn again: the keyboard goes on from the request's heading
            queue.wait_for_function(f"() => document.activeElement?.matches(\"{article} h3\")")
            accessible(queue, "review")
        else:
            queue.wait_for_selector(article, state="detached", timeout=15_000)
            queue.wait_for_function("() => document.activeElement?.id === 'queue-h'")
    queue.wait_for_selector(f"#recent tr[data-request-id='{request_id}'][data-state='released']")
    wait_for(lambda: nodes["JPN"].call_raw("GET", "/api/items/CONSOLE-1@KOR").status_code
             == 200, what="the release at JPN")

    junior = signed_in(browser, kor, "jung")  # 군사III급비밀: neither portion is for her
    for path in ("items.html", "items.html?id=CONSOLE-1"):
        junior.goto(f"{kor.url}/console/{path}")
        junior.wait_for_selector("body[data-ready='true']")
        text = junior.content()
        assert SHARED_TEXT not in text and SECRET_TEXT not in text, path
        assert "Launchers at Sunchon" not in text and "<li data-portion-id" not in text, path
    # real searches for the item's words, from the address and from the search box
    for words in ("Sunchon", "Launchers", "defector launch battalion", "TELs apron"):
        assert_no_match(junior, kor, words)
    junior.fill("#search", "defector")
    junior.press("#search", "Enter")
    junior.wait_for_function("() => document.getElementById('items-caption')"
                             ".textContent.includes('defector')")
    assert_nothing_shown(junior, "defector")

    partly = signed_in(browser, kor, "seo")  # 군사II급비밀: the shared portion only
    partly.goto(f"{kor.url}/console/items.html?q=Sunchon")
    row = partly.wait_for_selector("#items tr[data-item-id='CONSOLE-1']")
    assert row.get_attribute("data-banner").split("//")[0] == "군사II급비밀"
    assert SECRET_TEXT not in partly.content()
    assert_no_match(partly, kor, "defector")  # words only in the secret portion
    partly.goto(f"{kor.url}/console/items.html?id=CONSOLE-1")
    partly.wait_for_selector("body[data-ready='true']")
    text = partly.content()
    assert SHARED_TEXT in text and SECRET_TEXT not in text
    assert partly.locator("#detail-body li[data-portion-id]").count() == 1
    for banner in partly.locator(".banner").all_inner_texts():  # top and bottom
        assert banner.split("//")[0] == "군사II급비밀", banner
    accessible(partly, "items-partly-cleared")
    print("\nconsole: created, reviewed by two, released to JPN; shown to the "
          "군사III급비밀 analyst: 0 of 2 portions; to the 군사II급비밀 analyst: 1 of 2")


def tab_to(page: Any, selector: str, start: str, presses: int = 15) -> None:
    """Focus ``start``, then press Tab until ``selector`` has the focus, which must show."""
    page.focus(start)
    for _ in range(presses):
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError(f"Tab from {start} never reached {selector}")
    assert page.evaluate("() => document.activeElement.matches(':focus-visible') && "
                         "getComputedStyle(document.activeElement).outlineStyle !== 'none'"), \
        f"{selector}: no visible focus"


def test_field_search_narrows_keeps_its_address_and_shows_refusals(
        nodes: dict[str, NodeProcess], browser: Any) -> None:
    """As the cleared analyst: CONSOLE-1 (IMINT, DPRK/missile, from KOR, reported today)."""
    kor = nodes["KOR"]
    token = kor.login("kim")
    page = new_page(browser)
    page.add_init_script(f"sessionStorage.setItem('liaison.token', '{token}')")
    page.goto(f"{kor.url}/console/items.html?discipline=IMINT")  # a bookmarked search
    page.wait_for_selector("#items tr[data-item-id='CONSOLE-1']")
    assert page.input_value("#s-discipline") == "IMINT"
    assert "discipline IMINT" in page.inner_text("#items-caption")

    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#search", "Sunchon")  # a parent discipline finds its children: GEOINT, IMINT
    page.select_option("#s-discipline", "GEOINT")
    page.fill("#s-topic", "DPRK")
    page.select_option("#s-source", "KOR")
    page.fill("#s-since", yesterday)
    search_by_form(page)
    assert page.get_attribute("#items", "data-total") == "1"
    assert page.locator("#items tr[data-item-id='CONSOLE-1']").count() == 1
    assert parse_qs(urlsplit(page.url).query) == {
        "q": ["Sunchon"], "discipline": ["GEOINT"], "topic": ["DPRK"], "source": ["KOR"],
        "since": [f"{yesterday}:00Z"]}

    page.select_option("#s-discipline", "HUMINT")  # a discipline that does not match
    search_by_form(page)
    assert "no items match" in page.inner_text("#items tbody").lower()
    assert_nothing_shown(page, "HUMINT")
    page.goto(page.url)  # the address keeps the search: the form and the answer come back
    page.wait_for_selector("body[data-ready='true']")
    assert page.input_value("#s-discipline") == "HUMINT"
    assert page.input_value("#s-since") == yesterday  # seconds 0: the browser leaves them out
    assert (page.input_value("#search"), page.input_value("#s-source")) == ("Sunchon", "KOR")
    assert_nothing_shown(page, "HUMINT")
    accessible(page, "items-field-search")

    page.click("#search-clear")  # every field emptied, the address too
    page.wait_for_selector("#items:not([aria-busy]) tr[data-item-id='CONSOLE-1']")
    assert page.input_value("#s-discipline") == "" and urlsplit(page.url).query == ""

    # refused values: the API's own message in the alert area, and no rows
    page.fill("#s-until", "1960-01-01T00:00")  # before the report times the node keeps
    search_by_form(page)
    assert_refused(page, kor, token, "until")
    page.fill("#s-until", "")
    page.fill("#s-place", "37,124,43")  # three numbers, not south,west,north,east
    search_by_form(page)
    assert_refused(page, kor, token, "place")
    for address, word in (("since=yesterday", "since"),  # typed into the address
                          (f"topic={quote('<b>x</b>')}", "<b>x</b>")):  # shown as text
        page.goto(f"{kor.url}/console/items.html?{address}")
        page.wait_for_selector("body[data-ready='true']")
        assert_refused(page, kor, token, word)
    assert page.locator("#error b, #items-caption b").count() == 0


def search_by_form(page: Any) -> None:
    page.press("#search", "Enter")  # the form's submit, from the keyboard
    page.wait_for_selector("#items:not([aria-busy])")


def assert_refused(page: Any, node: NodeProcess, token: str, word: str) -> None:
    """The page shows exactly what the API answers (422) for the search in its address."""
    r = node.call_raw("GET", f"/api/search?{urlsplit(page.url).query}", token)
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert word in message and page.inner_text("#error") == message
    assert page.locator("#items tr[data-item-id]").count() == 0
    assert page.get_attribute("#items", "data-total") is None


def assert_nothing_shown(page: Any, words: str) -> None:
    assert page.get_attribute("#items", "data-total") == "0", words
    assert page.inner_text("#page-info").strip().endswith("of 0"), words
    assert page.locator("#items tr[data-item-id]").count() == 0, words
    text = page.content()
    for leak in (SHARED_TEXT, SECRET_TEXT, "CONSOLE-1", "Launchers at Sunchon"):
        assert leak not in text, (words, leak)


def assert_no_match(page: Any, node: NodeProcess, words: str) -> None:
    """items.html?q=… runs the search; the user sees no item, no count, no title."""
    page.goto(f"{node.url}/console/items.html?q={quote(words)}")
    page.wait_for_selector("body[data-ready='true']")
    assert page.input_value("#search") == words
    assert words in page.inner_text("#items-caption")
    assert_nothing_shown(page, words)


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
    jpn.call("POST", "/api/tracks/feeds/jadge/sensors", json={"username": "radar"})
    page = signed_in(browser, kor, "yoon")
    page.goto(f"{kor.url}/console/map.html")
    page.wait_for_function("() => window.liaisonMap?.ready && liaisonMap.snapshot",
                           timeout=30_000)
    radar = jpn.login("radar")
    sent = [0]

    def send() -> bool:
        sent[0] += 1  # each update a little further east
        r = httpx.post(f"{jpn.url}/api/tracks/ingest", headers={
            "Authorization": f"Bearer {radar}"}, json={"feed": "jadge", "updates": [{
                "uid": "JADGE-1", "time": _now(), "lat": 38.9, "lon": 127.4 + sent[0] / 100,
                "alt_m": 9000,
                "kind": "aircraft", "speed_ms": 230, "course_deg": 90}]}, timeout=10)
        return r.status_code < 300 and page.locator("#track-rows tr[data-track]").count() > 0
    wait_for(send, timeout=60, what="JPN's track on KOR's map")
    assert len(page.evaluate("liaisonMap.tracks()")) >= 1
    accessible(page, "map")
    number = page.evaluate("liaisonMap.tracks()[0]")  # select a track row by keyboard
    row = f"#track-rows tr[data-track='{number}']"
    tab_to(page, f"{row} button", start="#fit")
    assert page.evaluate("r => getComputedStyle(document.querySelector(r)).outlineStyle", row) \
        == "solid"  # the whole row shows the focus
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{row}.selected[aria-current='true']")
    assert f"Track {number} " in page.inner_text("#status")
    page.screenshot(path=str(ARTIFACTS / "map-keyboard.png"), full_page=True)

    low = signed_in(browser, kor, "bae")  # 대외비: not cleared for the feed's 秘
    low.goto(f"{kor.url}/console/map.html")
    low.wait_for_function("() => window.liaisonMap?.ready && liaisonMap.snapshot",
                          timeout=30_000)
    target = 127.4 + (sent[0] + 3) / 100 - 1e-6

    def moved() -> bool:  # updates go on flowing while bae watches: yoon sees them
        send()
        return bool(page.evaluate(f"liaisonMap.track(liaisonMap.tracks()[0]).lon >= {target}"))
    wait_for(moved, timeout=60, what="more of JPN's updates on yoon's map")
    assert low.evaluate("liaisonMap.tracks()") == []
    assert low.locator("#track-rows tr[data-track]").count() == 0
    assert kor.call("GET", "/api/tracks", kor.login("bae")) == []


def test_agreements_reciprocity_and_audit_pages(nodes: dict[str, NodeProcess],
                                                browser: Any) -> None:
    kor = nodes["KOR"]
    officer = signed_in(browser, kor, "lee")
    officer.goto(f"{kor.url}/console/agreements.html")
    officer.wait_for_selector("svg[id^='timeline-KOR-JPN-GSOMIA']")
    accessible(officer, "agreements")
    officer.goto(f"{kor.url}/console/reciprocity.html")
    officer.wait_for_selector("svg#chart-partner")
    # over the months, per level and per discipline: small multiples with their table
    chart = officer.wait_for_selector("#fig-by-month svg[id^='chart-month-level-']")
    assert chart.query_selector("circle.point[data-value='1']")  # CONSOLE-1 given to JPN
    assert officer.locator("table.data-month-level tbody tr").count() >= 2
    officer.select_option("#by-month", "discipline")
    imint = officer.wait_for_selector("#fig-by-month .multiple[data-key='IMINT'] svg")
    assert imint.get_attribute("id").startswith("chart-month-discipline-")
    assert "IMINT given" in officer.inner_text("table.data-month-discipline thead")
    assert "by=discipline" in officer.url
    accessible(officer, "reciprocity")
    admin = signed_in(browser, kor, "admin")
    admin.goto(f"{kor.url}/console/audit.html")
    admin.click("#verify")
    result = admin.wait_for_selector("#verify-result[data-ok='true']")
    assert "verified" in result.inner_text().lower()
    accessible(admin, "audit")
    docs = new_page(browser)  # Swagger UI from the node's own files, under its CSP
    docs.goto(f"{kor.url}/api/docs")
    docs.wait_for_selector(".opblock-tag", timeout=30_000)
    assert "Liaison node KOR" in docs.inner_text(".info .title")
    assert docs.locator(".opblock").count() > 20
    docs.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    for page_name in ("hotline", "talks"):  # their own sign-in forms, before signing in
        page = new_page(browser)
        page.goto(f"{kor.url}/console/{page_name}.html")
        page.wait_for_selector("form")
        assert page.evaluate(UNLABELLED) == [], f"{page_name}: inputs without a label"
        assert page.evaluate(TEXTLESS_BUTTONS) == [], f"{page_name}: buttons without a name"
        assert page.get_by_role("note", name="Classification").count() >= 1
        page.screenshot(path=str(ARTIFACTS / f"{page_name}.png"), full_page=True)


def sign_in_by_form(page: Any, user: str) -> None:
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#signin button[type=submit]")


def test_sign_out_revokes_and_an_ended_session_asks_to_sign_in_again(
        nodes: dict[str, NodeProcess], browser: Any) -> None:
    kor = nodes["KOR"]
    page = new_page(browser)
    page.goto(f"{kor.url}/console/index.html")
    sign_in_by_form(page, "kim")
    page.wait_for_url("**/items.html")
    page.wait_for_selector("body[data-ready='true']")
    token = page.evaluate("sessionStorage.getItem('liaison.token')")
    assert page.evaluate("sessionStorage.getItem('liaison.expires')")
    assert kor.call_raw("GET", "/api/me", token).status_code == 200
    page.click("#signout")
    page.wait_for_url("**/index.html")
    assert page.evaluate("sessionStorage.getItem('liaison.token')") is None
    assert kor.call_raw("GET", "/api/me", token).status_code == 401  # revoked at the node

    sign_in_by_form(page, "kim")  # the session ends elsewhere while the page is open
    page.wait_for_url("**/items.html")
    page.goto(f"{kor.url}/console/items.html?q=Sunchon")
    page.wait_for_selector("body[data-ready='true']")
    kor.call("POST", "/api/auth/logout", page.evaluate("sessionStorage.getItem('liaison.token')"))
    page.click("#search-form button[type=submit]")
    page.wait_for_url("**/index.html?next=*")
    assert parse_qs(urlsplit(page.url).query)["next"] == ["items.html?q=Sunchon"]
    assert "session ended; sign in again" in page.inner_text("#error").lower()
    sign_in_by_form(page, "kim")
    page.wait_for_url("**/items.html?q=Sunchon")
    page.wait_for_selector("#items tr[data-item-id='CONSOLE-1']")

    soon = (datetime.now(UTC) + timedelta(minutes=3)).isoformat()
    warned = new_page(browser)  # a few minutes before expiry: a warning in the header
    warned.add_init_script(f"sessionStorage.setItem('liaison.token', '{kor.login('kim')}');"
                           f"sessionStorage.setItem('liaison.expires', '{soon}');")
    warned.goto(f"{kor.url}/console/items.html")
    warning = warned.wait_for_selector("#session-warning:not([hidden])")
    assert "session ends at" in warning.inner_text()
    accessible(warned, "session-warning")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def test_the_hotline_page_signs_in_watches_and_sends(nodes: dict[str, NodeProcess],
                                                      browser: Any) -> None:
    """Last in this module: the channel's partner (CHN) has no node here, so what is sent
    stays queued for it."""
    kor = nodes["KOR"]
    channel = "KOR-CHN-HOTLINE-MOU"
    kor.call("POST", "/api/hotline", json={"agreement_id": channel, "times": ["09:00"],
                                           "tz": "Asia/Seoul"})
    page = new_page(browser)  # not signed in: the page's own form, then the console's shell
    page.goto(f"{kor.url}/console/hotline.html?channel={quote(channel)}")
    sign_in_by_form(page, "yoon")
    page.wait_for_selector("#live-state[data-state='open']")
    who = page.inner_text("#shell")
    assert "watch_officer" in who and "군사II급비밀" in who
    assert page.evaluate("sessionStorage.getItem('liaison.token')")  # the console's session
    page.select_option("#precedence", "PRIORITY")
    page.fill("#text", "weekly schedule unchanged")
    page.click("#send-button")
    row = page.wait_for_selector("#traffic tr[data-seq='1']")
    assert "weekly schedule unchanged" in row.inner_text()
    assert "Sent PRIORITY message 1" in page.inner_text("#status")
    assert page.locator(".banner").count() == 2
    accessible(page, "hotline-watch")
    page.goto(f"{kor.url}/console/hotline.html?channel=NO-SUCH-LINE")
    page.wait_for_selector("body[data-ready='true']")
    assert "No channel NO-SUCH-LINE here" in page.inner_text("#error")


def test_an_administrator_amends_an_agreement_from_the_agreements_page(
        nodes: dict[str, NodeProcess], browser: Any) -> None:
    """Issue 18 item 5 in the console: a past effective date is refused with the node's
    reason and nothing changes; a dated amendment is listed, in force only from its date
    (future-dated here, so the module's other tests keep today's terms)."""
    kor = nodes["KOR"]
    admin = signed_in(browser, kor, "admin")
    admin.goto(f"{kor.url}/console/agreements.html")
    form = admin.wait_for_selector("form#amend-KOR-JPN-GSOMIA")
    form.query_selector("summary").click()
    accessible(admin, "agreements-admin")
    form.query_selector("input[name=change-purposes]").check()
    form.query_selector("textarea[name=purposes]").fill("missile warning")
    form.query_selector("input[name=effective]").fill("2019-01-01")
    form.query_selector("button[type=submit]").click()
    admin.wait_for_selector("#amend-KOR-JPN-GSOMIA .amend-result"
                            ":has-text('past terms are history')")
    assert not admin.query_selector("#agreement-KOR-JPN-GSOMIA table.amendments")
    form.query_selector("input[name=effective]").fill("2099-01-01")
    form.query_selector("button[type=submit]").click()
    row = admin.wait_for_selector("#agreement-KOR-JPN-GSOMIA table.amendments "
                                  "tr[data-effective='2099-01-01']")
    assert row.get_attribute("data-in-force") == "false"
    assert "not restricted" in admin.inner_text("#agreement-KOR-JPN-GSOMIA dd.purposes")
    admin.fill("#at", "2099-01-02")
    admin.click("#show")
    admin.wait_for_selector("#agreement-KOR-JPN-GSOMIA tr[data-in-force='true']")
    assert admin.inner_text("#agreement-KOR-JPN-GSOMIA dd.purposes") == "missile warning"
