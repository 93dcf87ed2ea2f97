"""Issue 18 on the console's review page, in real headless Chromium against node processes:
after a regrade, the queue says which approvals no longer count and why, marks the voided
approval, and asks for the number of reviews the item now needs; the page runs under the
node's Content-Security-Policy (a violation fails the test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.node_fixtures import PASSWORD
from tests.integration.processes import NodeProcess, trusting_pair

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "console"
pytestmark = pytest.mark.chromium
VIOLATIONS: list[str] = []
REPORT = """
  document.addEventListener('securitypolicyviolation', e => console.error(
    `Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`));
"""
STAFF = {"kim": ["analyst"], "lee": ["release_officer"], "park": ["reviewer"],
         "choi": ["reviewer"]}
LABEL = {"policy": "KOR", "originator": "KOR", "created": "2019-10-31T08:00:00Z",
         "rel_to": ["USA", "JPN"]}


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with trusting_pair(tmp_path_factory.mktemp("review"), "KOR", "JPN") as (node, _):
        for name, roles in STAFF.items():
            node.call("POST", "/api/users", json={"username": name, "roles": roles,
                                                  "clearance": "군사I급비밀",
                                                  "password": PASSWORD})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        yield node


def page_as(browser: Any, node: NodeProcess, user: str) -> Any:
    page = browser.new_context().new_page()
    page.add_init_script(REPORT)
    page.on("console", lambda m: VIOLATIONS.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.add_init_script(f"sessionStorage.setItem('liaison.token', '{node.login(user)}')")
    return page


def test_the_queue_shows_approvals_voided_by_a_regrade(kor: NodeProcess, browser: Any) -> None:
    kor.call("POST", "/api/items", kor.login("kim"), json={
        "id": "RV-1", "discipline": "HUMINT", "topic": "DPRK/missile", "grade": "B2",
        "title": "Launchers at Sunchon", "reported_at": "2019-10-31T08:00:00Z",
        "portions": [{"id": "p1", "content": "two TELs",
                      "label": {**LABEL, "classification": "군사II급비밀"}}]})
    lee = kor.login("lee")
    req = kor.call("POST", "/api/releases", lee, json={
        "item_id": "RV-1", "recipient": "USA", "purpose": "early warning"})
    kor.call("POST", f"/api/releases/{req['id']}/reviews", kor.login("park"),
             json={"approve": True})
    kor.call("POST", "/api/items/RV-1/regrade", lee, json={
        "portion_id": "p1", "level": "군사I급비밀", "reason": "source upgraded"})

    page = page_as(browser, kor, "choi")
    page.goto(f"{kor.url}/console/review.html")
    article = f"article.request[data-request-id='{req['id']}']"
    page.wait_for_selector(f"{article} .voidings")
    notice = page.inner_text(f"{article} .voidings")
    assert "approvals before the change of the portions' levels or markings on" in notice
    assert "no longer count (park)" in notice and "2 new approval(s) needed" in notice
    assert page.inner_text(f"{article} li[data-reviewer='park'][data-counts='false']")
    assert page.inner_text(f"{article} .approvals").strip() == "0"
    assert page.inner_text(f"{article} .required-reviews").strip() == "2"
    assert "this node's clock" in page.inner_text(f"{article} .decided-on")
    page.screenshot(path=str(ARTIFACTS / "review-voided.png"), full_page=True)
    page.click(f"{article} button[data-action='approve']")
    page.wait_for_function(  # a function, not an expression: CSP forbids eval
        f"() => document.querySelector(\"{article} .approvals\")?.textContent.trim() === '1'",
        timeout=15_000)
    assert VIOLATIONS == [], "the console broke its Content-Security-Policy"
