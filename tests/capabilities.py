"""What some tests need from the machine besides Python packages: the system's Chromium (the
browser tests), root, ``ip``, ``nft`` and network namespaces (the partition test), and the
servers ``tests/conftest.py`` starts.

A test that lacks one skips, saying what to install; with ``LIAISON_TEST_REQUIRE_SERVERS=1``
(as in CI, where ``.ci/system-packages`` installs them) it fails instead, so a machine that
cannot run it is never mistaken for a passing run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE_ENV = "LIAISON_TEST_REQUIRE_SERVERS"
CHROMIUM = os.environ.get("LIAISON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_HINT = ("install Debian's 'chromium' package (.ci/system-packages does, as root) or "
                 "set LIAISON_CHROMIUM")


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def missing(message: str, detail: str = "") -> NoReturn:
    """Skip the test for lack of what ``message`` names, or fail it (with ``detail``, such
    as a server's log) when it is required."""
    if required():
        pytest.fail("\n".join(filter(None, [f"{message} ({REQUIRE_ENV}=1: required here, "
                                             "so this fails instead of skipping)", detail])),
                    pytrace=False)
    pytest.skip(message)


def chromium_problem() -> str | None:
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    return f"no Chromium at {CHROMIUM}: {CHROMIUM_HINT}"


def describe_chromium() -> str:
    problem = chromium_problem()
    if problem is None:
        return f"{CHROMIUM} (headless)"
    return f"unavailable, the browser tests are {'failed' if required() else 'skipped'}: " \
           f"{problem}"
