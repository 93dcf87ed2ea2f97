"""The hotline watch page on a long line, in Chromium against a node process: the latest
page first, older pages on request, the partner's FLASH raising the banner, and an
acknowledgement updating its row in place (the socket's delta, not a reload)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from tests.integration.node_fixtures import PASSWORD
from tests.integration.processes import NodeProcess

from liaison.config import Settings
from liaison.node.composition import build_node
from liaison.services import hotline

pytestmark = pytest.mark.chromium
CHANNEL = "KOR-CHN-HOTLINE-MOU"
HISTORY = 150


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    node = NodeProcess("KOR", tmp_path_factory.mktemp("hotline-page"))
    try:
        node.init()
        node.start()
        node.login()
        node.call("POST", "/api/hotline", json={"agreement_id": CHANNEL, "times": ["09:00"],
                                                "tz": "Asia/Seoul"})
        node.call("POST", "/api/users", json={"username": "yoon", "roles": ["watch_officer"],
                                              "clearance": "군사II급비밀",
                                              "password": PASSWORD})
        seed(node)
        yield node
    finally:
        node.stop()


def seed(node: NodeProcess) -> None:
    """An answered history, then the partner's FLASH nobody has acknowledged yet, written
    through the node's storage (revisions and open entries kept as for any write)."""
    built = build_node(Settings(data_dir=Path(node.data), database_url=node.database_url))
    start = datetime.now(UTC) - timedelta(days=HISTORY)
    with built.deps.uow() as uow:
        for i in range(HISTORY):
            at = start + timedelta(days=i)
            uow.hotline.put_traffic(CHANNEL, "KOR", i + 1, "check_call", {
                "text": "check call", "sent_at": at.isoformat(), "author": "scheduler",
                "acknowledged_at": at.isoformat(), "acknowledged_by": "CHN: x",
                "outcome": "answered"}, at)
        assert hotline.apply_traffic(uow, built.deps, "CHN", {
            "channel": CHANNEL, "seq": 9001, "kind": "message", "precedence": "FLASH",
            "text": "two launches from Sunchon", "author": "chn-watch",
            "sent_at": datetime.now(UTC).isoformat()}) is None
        uow.commit()
    built.engine.dispose()


def rows(page: Any) -> int:
    return int(page.locator("#traffic tr").count())


def test_a_long_line_pages_and_an_acknowledgement_updates_its_row(kor: NodeProcess,
                                                                   browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    page.add_init_script(f"sessionStorage.setItem('liaison.token', '{kor.login('yoon')}')")
    page.goto(f"{kor.url}/console/hotline.html?channel={quote(CHANNEL)}")
    page.wait_for_selector("#live-state[data-state='open']")
    assert rows(page) == hotline.PAGE  # the latest page, not the whole line
    assert "FLASH from CHN: two launches from Sunchon" in page.inner_text("#flash")
    assert "1 FLASH unacknowledged" in page.inner_text("#summary")
    page.click("#older")
    expect(page.locator("#traffic tr")).to_have_count(HISTORY + 1)
    assert page.locator("#older").is_hidden()  # nothing older left
    first = page.locator("#traffic tr").first
    assert (first.get_attribute("data-sender"), first.get_attribute("data-seq")) == ("KOR",
                                                                                     "1")
    page.click("text=Acknowledge CHN 9001")
    row = page.locator("#traffic tr[data-sender='CHN'][data-seq='9001']")
    expect(row).to_contain_text("yoon")  # polls the page without eval (the CSP forbids it)
    assert row.count() == 1 and row.locator("button").count() == 0
    assert rows(page) == HISTORY + 1  # updated in place: no row added
    assert page.locator("#flash").is_hidden()
    assert page.inner_text("#summary") == "nothing open"
