"""The browser the console tests drive: the system's Chromium, headless, one per module.
A test that drives it carries the ``chromium`` marker: without Chromium it skips, or fails
under ``LIAISON_TEST_REQUIRE_SERVERS=1`` (``tests/capabilities.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.capabilities import CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()
