"""The talks desk in real headless Chromium (the system's), against a KOR and a PRK node
process that trust each other under an MOU that opens talks: a KOR delegate proposes talks
from the desk (a refused proposal shows the node's message first), the PRK delegate finds
them on PRK's desk, opens the amendment form (prefilled) and accepts instead; KOR ends the
talks after the call; both edit the minutes (an edit based on a revision the other side has
since replaced is refused, and the desk offers the latest) and sign them; both desks show
them sealed and both signatures verify. Labels, button names and the banners are checked as
on the other console pages, and any Content-Security-Policy violation fails the test;
screenshots go to ``test-artifacts/console/``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.test_console import ARTIFACTS, CSP_REPORTS, accessible, signed_in
from tests.integration.node_fixtures import PASSWORD
from tests.integration.processes import NodeProcess, trusting_pair

from liaison.cli.demo.talks import MOU

pytestmark = pytest.mark.chromium
DELEGATES = {"KOR": ("chun", "Chun Hae-sung", "평문"), "PRK": ("jon", "Jon Jong-su", "일반")}
TITLE = "Inter-Korean talks by video conference"
AGENDA = [("agreed", "Restored communication lines"),
          ("concerns", "Reopening a liaison office"),
          ("urgent", "COVID-19 cooperation")]
ACROSS = 60_000  # ms: a change travels to the other node, whose desk polls for it


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProcess]]:
    with trusting_pair(tmp_path_factory.mktemp("desk"), "KOR", "PRK") as (kor, prk):
        for node in (kor, prk):
            name, display, level = DELEGATES[node.party]
            node.call("POST", "/api/agreements", json=MOU)
            node.call("POST", "/api/users", json={
                "username": name, "display_name": display, "roles": ["delegate"],
                "clearance": level, "password": PASSWORD})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        yield {"KOR": kor, "PRK": prk}


@pytest.fixture(autouse=True)
def no_csp_violation() -> Iterator[None]:
    """As in test_console: the pages' CSP reports (collected by its ``new_page``) fail."""
    CSP_REPORTS.clear()
    yield
    assert CSP_REPORTS == [], "the talks desk broke the console's Content-Security-Policy"


def desk(browser: Any, node: NodeProcess) -> Any:
    page = signed_in(browser, node, DELEGATES[node.party][0])
    page.goto(f"{node.url}/console/talks-desk.html")
    page.wait_for_selector("body[data-ready='true']")
    assert page.locator(".banner").first.inner_text().strip() == "UNCLASSIFIED"
    return page


def focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement.id || document.activeElement.className"))


def test_propose_accept_and_sign_the_minutes_from_both_desks(
        nodes: dict[str, NodeProcess], browser: Any) -> None:
    kor, prk = nodes["KOR"], nodes["PRK"]
    seoul = desk(browser, kor)
    seoul.wait_for_selector("#talks-empty")
    seoul.click("#new-proposal")
    assert focused(seoul) == "proposal-h"
    assert seoul.input_value("#p-del-own") == "Chun Hae-sung"  # the delegate, prefilled
    seoul.select_option("#p-counterpart", "PRK")
    seoul.fill("#p-title", TITLE)
    seoul.fill("#p-start", "2030-08-05T10:00")
    seoul.fill("#p-tz", "Asia/Seoul")
    seoul.fill("#p-duration", "90")
    seoul.fill("#p-del-other", "Jon Jong-su")
    assert "2030-08-05 01:00 UTC" in seoul.inner_text("#p-start-utc")
    for i, (kind, text) in enumerate(AGENDA):  # rows added by keyboard
        if i:
            seoul.focus("#p-agenda-add")
            seoul.keyboard.press("Enter")
        row = seoul.locator("#p-agenda > li").nth(i)
        row.locator("select").select_option(kind)
        row.locator("input").fill(text)
    seoul.click("#p-agenda-add")
    seoul.keyboard.type("to be removed")
    seoul.click("#p-agenda > li:nth-child(4) button.remove-item")
    assert seoul.locator("#p-agenda > li").count() == 3
    accessible(seoul, "talks-desk-propose")

    seoul.fill("#p-del-own", "Chun Hae-sung\n" + "X" * 120)  # the node refuses: its message
    seoul.click("#p-submit")
    seoul.locator("#error", has_text="at most 100").wait_for()  # (no eval under the CSP)
    seoul.fill("#p-del-own", "Chun Hae-sung")
    seoul.click("#p-submit")
    seoul.wait_for_selector("#detail[data-state='proposed']")
    talks_id = seoul.get_attribute("#detail", "data-talks-id")
    assert talks_id and seoul.inner_text("#error") == ""
    row = f"#talks tr[data-talks-id='{talks_id}']"
    seoul.wait_for_selector(row)  # the list follows the detail
    assert "2030-08-05 10:00 Asia/Seoul" in seoul.inner_text(f"{row} .start-local")
    assert "2030-08-05 01:00 UTC" in seoul.inner_text(f"{row} .start-utc")
    assert "awaiting PRK" in seoul.inner_text(f"{row} .state")
    token = kor.login("chun")
    sent = kor.call("GET", f"/api/talks/{talks_id}", token)["current"]
    assert sent["starts_at"] == "2030-08-05T10:00:00+09:00" and sent["tz"] == "Asia/Seoul"
    assert sent["duration_min"] == 90
    assert sent["delegations"] == {"KOR": ["Chun Hae-sung"], "PRK": ["Jon Jong-su"]}
    assert [(a["id"], a["kind"], a["title"]) for a in sent["agenda"]] == [
        (f"a{i + 1}", kind, text) for i, (kind, text) in enumerate(AGENDA)]
    assert seoul.locator("#ans-accept").count() == 0  # KOR made version 1: PRK answers

    pyongyang = desk(browser, prk)
    link = pyongyang.wait_for_selector(f"a.open-talks[data-talks-id='{talks_id}']",
                                       timeout=ACROSS)
    link.focus()
    pyongyang.keyboard.press("Enter")
    pyongyang.wait_for_selector("#ans-accept")
    assert focused(pyongyang) == "detail-h"
    pyongyang.click("#ans-amend")  # the amendment form, prefilled with version 1
    assert pyongyang.input_value("#p-title") == TITLE
    assert pyongyang.input_value("#p-start") == "2030-08-05T10:00"
    assert pyongyang.input_value("#p-tz") == "Asia/Seoul"
    assert pyongyang.input_value("#p-del-own") == "Jon Jong-su"
    assert pyongyang.locator("#p-agenda > li").count() == 3
    assert "version 2" in pyongyang.inner_text("#p-submit")
    accessible(pyongyang, "talks-desk-amend")
    pyongyang.click("#p-discard")
    pyongyang.click("#ans-decline")  # a decline needs a reason: said, nothing sent
    assert "reason" in pyongyang.inner_text("#error")
    pyongyang.click("#ans-accept")
    pyongyang.wait_for_selector("#detail[data-state='accepted']")
    pyongyang.wait_for_selector(f"#talks tr[data-talks-id='{talks_id}'] "
                                f"a.call-link[href='talks.html?talks={talks_id}']")
    accessible(pyongyang, "talks-desk-accepted")

    seoul.wait_for_selector("#detail[data-state='accepted']", timeout=ACROSS)
    seoul.click("#ans-end")  # the call is over; the minutes can still be finished
    seoul.wait_for_selector("#detail[data-state='ended'] #minutes-form")
    seoul.wait_for_selector(f"{row}[data-state='ended']")
    assert seoul.locator(f"{row} a.call-link").count() == 0
    pyongyang.wait_for_selector("#detail[data-state='ended'] #minutes-form", timeout=ACROSS)

    seoul.fill("#m-out-a1", "Lines tested daily at 09:00 and 17:00")
    seoul.click("#m-add-point")
    seoul.keyboard.type("Keep the communication lines open")
    seoul.click("#m-save")
    seoul.wait_for_selector("#minutes[data-revision='2']")

    pyongyang.wait_for_selector("#minutes[data-revision='2']", timeout=ACROSS)
    assert pyongyang.input_value("#m-out-a1") == "Lines tested daily at 09:00 and 17:00"
    seoul.fill("#m-out-a3", "Exchange of health data")  # KOR edits too, not saved yet
    pyongyang.fill("#m-out-a2", "Concern noted by both sides")
    pyongyang.click("#m-sign")  # the edit and PRK's signature, in one step
    pyongyang.wait_for_selector("#minutes[data-revision='3'] "
                                "#signatures li[data-party='PRK'][data-signed='true']")

    # KOR's desk keeps the unsaved edit and says the minutes changed; saving it is refused
    # (it is based on revision 2), then KOR takes PRK's revision and signs that
    seoul.wait_for_selector("#stale:not([hidden])", timeout=ACROSS)
    assert seoul.input_value("#m-out-a3") == "Exchange of health data"
    seoul.click("#m-save")
    seoul.locator("#error", has_text="revision 3").wait_for()
    seoul.click("#stale-show")
    seoul.wait_for_selector("#minutes[data-revision='3'] "
                            "#signatures li[data-party='PRK'][data-signed='true']")
    assert seoul.input_value("#m-out-a3") == ""
    seoul.click("#m-sign")
    for page, party in ((seoul, "KOR"), (pyongyang, "PRK")):
        page.wait_for_selector("#minutes[data-sealed='true']", timeout=ACROSS)
        assert "Sealed" in page.inner_text("#minutes-state")
        assert page.locator("#minutes textarea, #minutes-form").count() == 0  # read-only
        assert "Concern noted by both sides" in page.inner_text("#minutes-read")
        page.click("#m-verify")
        for side in ("KOR", "PRK"):
            page.wait_for_selector(f"#verify-result li[data-party='{side}']"
                                   "[data-result='verified']")
        accessible(page, f"talks-desk-sealed-{party.lower()}")
    for node, party in ((kor, "KOR"), (prk, "PRK")):
        token = node.login(DELEGATES[party][0])
        assert node.call("GET", f"/api/talks/{talks_id}", token)["minutes_sealed"]
        assert node.call("GET", f"/api/talks/{talks_id}/minutes/verify", token) == {
            "KOR": "verified", "PRK": "verified"}
    print(f"\ntalks desk: proposed at KOR, accepted at PRK, ended, minutes signed by both; "
          f"signatures verified 4 of 4 (talks {talks_id})")
