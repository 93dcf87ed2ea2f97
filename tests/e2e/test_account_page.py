"""The console's account page: a user sees their tokens, makes an API token (shown once),
revokes it, and changes their password, which ends every session (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.e2e.test_console import accessible, no_csp_violation, signed_in
from tests.integration.node_fixtures import PASSWORD
from tests.integration.processes import NodeProcess

pytestmark = pytest.mark.chromium
__all__ = ["no_csp_violation"]  # the autouse fixture: a CSP report fails the test


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    node = NodeProcess("KOR", tmp_path_factory.mktemp("account"))
    node.init()
    node.start()
    try:
        node.login()
        node.call("POST", "/api/users", json={"username": "kim", "roles": ["analyst"],
                                              "clearance": "대외비", "password": PASSWORD})
        yield node
    finally:
        node.stop()


def _me(node: NodeProcess, token: str) -> int:
    return httpx.get(node.url + "/api/me", headers={"Authorization": f"Bearer {token}"},
                     timeout=30).status_code


def test_tokens_are_made_listed_revoked_and_a_password_change_ends_them(
        kor: NodeProcess, browser: Any) -> None:
    page = signed_in(browser, kor, "kim")
    page.goto(f"{kor.url}/console/account.html")
    page.wait_for_selector("body[data-ready='true']")
    assert "(this session)" in page.inner_text("#tokens")
    page.fill("#make-name", "ci pipeline")
    page.fill("#make-days", "30")
    page.click("#make button[type=submit]")
    page.wait_for_selector("#made:not([hidden])")
    api_token = page.inner_text("#new-token").strip()
    assert api_token.startswith("lsn_") and _me(kor, api_token) == 200
    page.wait_for_selector("#tokens >> text=ci pipeline")
    accessible(page, "account")
    page.click("#tokens tr:has-text('ci pipeline') button")
    page.wait_for_selector("#status >> text=revoked")
    assert _me(kor, api_token) == 401
    assert "ci pipeline" not in page.inner_text("#tokens")

    kept = kor.login("kim")
    page.fill("#pw-current", "not the password")
    page.fill("#pw-new", "a new long password")
    page.fill("#pw-again", "a new long password")
    page.click("#password button[type=submit]")
    page.wait_for_selector("#error >> text=current password is wrong")
    assert _me(kor, kept) == 200
    page.fill("#pw-current", PASSWORD)
    page.click("#password button[type=submit]")
    page.wait_for_url("**/index.html?next=*")
    assert _me(kor, kept) == 401
    assert httpx.post(kor.url + "/api/auth/login", json={
        "username": "kim", "password": "a new long password"}).status_code == 200
