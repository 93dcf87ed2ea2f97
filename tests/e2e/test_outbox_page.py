"""The console's outbox page in real headless Chromium against node processes: an
administrator sees a stuck lane's alert and the lane marked STUCK, and the refused messages
with their reasons, shown as text (a partner's reason is never markup); the page runs under
the node's Content-Security-Policy (a violation fails the test); a user who is neither an
administrator nor a release officer is told so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.node_fixtures import PASSWORD
from tests.integration.processes import NodeProcess, trusting_pair, wait_for
from tests.integration.test_outbox_lanes import enqueue, release

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "console"
pytestmark = pytest.mark.chromium
HOSTILE = "<img src=x id=injected>"
VIOLATIONS: list[str] = []
REPORT = """
  document.addEventListener('securitypolicyviolation', e => console.error(
    `Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess,
                                                                      NodeProcess]]:
    with trusting_pair(tmp_path_factory.mktemp("outbox"), "KOR", "JPN") as (kor, jpn):
        kor.stop()
        kor.start({"LIAISON_OUTBOX_STUCK_S": "2", "LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000"})
        kor.login()
        kor.call("POST", "/api/users", json={"username": "kim", "roles": ["analyst"],
                                             "clearance": "대외비", "password": PASSWORD})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        yield kor, jpn


def page_as(browser: Any, node: NodeProcess, user: str) -> Any:
    page = browser.new_context().new_page()
    page.add_init_script(REPORT)
    page.on("console", lambda m: VIOLATIONS.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.add_init_script(f"sessionStorage.setItem('liaison.token', '{node.login(user)}')")
    return page


def test_an_administrator_sees_a_stuck_lane_and_the_refused_messages(
        nodes: tuple[NodeProcess, NodeProcess], browser: Any) -> None:
    kor, jpn = nodes
    enqueue(kor, "JPN", [release(1, "JPN", HOSTILE)])
    wait_for(lambda: kor.call("GET", "/api/outbox")["JPN"]["refused"] == 1, what="refusal")
    jpn.stop()
    enqueue(kor, "JPN", [release(2, "JPN", "KOR-JPN-GSOMIA")])
    wait_for(lambda: kor.call("GET", "/api/outbox")["JPN"]["stuck"], timeout=30,
             what="the stuck lane")
    admin = page_as(browser, kor, "admin")
    admin.goto(f"{kor.url}/console/outbox.html")
    alert = admin.wait_for_selector("#alerts li")
    assert "JPN routine lane stuck: 1 pending" in alert.inner_text()
    stuck = admin.locator("#lanes tr.stuck")
    assert stuck.count() == 1 and "routine" in stuck.inner_text()
    reason = admin.wait_for_selector("#refused td.reason")
    assert HOSTILE in reason.inner_text()  # shown as text
    assert admin.locator("#injected").count() == 0  # not as markup
    assert "Outbox" in admin.inner_text("#shell nav")
    admin.screenshot(path=str(ARTIFACTS / "outbox.png"), full_page=True)
    analyst = page_as(browser, kor, "kim")
    analyst.goto(f"{kor.url}/console/outbox.html")
    analyst.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert "administrators and release officers" in analyst.inner_text("#error")
    assert "Outbox" not in analyst.inner_text("#shell nav")
    assert VIOLATIONS == [], "the outbox page broke the Content-Security-Policy"
