"""The figure checks: what reaches the end-of-run list (``tests/conftest.py``) and the
comparison of that list with the figures SECURITY.md quotes (``tests/figures_check.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import figure_lines
from tests.figures_check import QUOTED, absent, compile_text, main, printed, quoted


def report(when: str, outcome: str, **printed_in: str) -> pytest.TestReport:
    sections = [(f"Captured stdout {phase}", text) for phase, text in printed_in.items()]
    return pytest.TestReport("tests/x/test_a.py::test_b", ("tests/x/test_a.py", 1, "b"), {},
                             outcome, None, when, sections)


def test_figures_printed_in_a_teardown_reach_the_list_once() -> None:
    setup = "setting up 3 of 3\n"
    call = "rejected 5 of 5\nnoise\n"
    teardown = "\nfail closed: faults injected 64, releases caused 0\n"
    lines = [line for r in (report("setup", "passed", setup=setup),
                            report("call", "passed", setup=setup, call=call),
                            report("teardown", "passed", setup=setup, call=call,
                                   teardown=teardown))
             for line in figure_lines(r)]
    assert lines == ["tests/x/test_a.py: rejected 5 of 5",
                     "tests/x/test_a.py: fail closed: faults injected 64, releases caused 0"]


def test_a_failed_phase_contributes_no_figure() -> None:
    assert figure_lines(report("call", "failed", call="rejected 4 of 5")) == []
    assert figure_lines(report("teardown", "failed", teardown="bypasses 1")) == []


@pytest.mark.parametrize("line", [
    "two-person rule: 177 review attempts, 111 refused, 32 released, bypasses 0",
    "non-interference: reference model: 100 worlds, decisions checked 22360, "
    "disagreements 0 (engine allowed what the model forbids: 0)",
    "rotation: as documented in 12 of 12 cases",
    "api fuzz: requests sent 1458, server errors 0, leaks 0",
])
def test_the_headline_figures_match_the_list_pattern(line: str) -> None:
    assert figure_lines(report("call", "passed", call=line)) == [f"tests/x/test_a.py: {line}"]


def test_a_placeholder_twice_means_the_same_number() -> None:
    same = compile_text("rejected {n} of {n} bad")
    assert same.search("rejected 908 of 908 bad")
    assert not same.search("rejected 907 of 908 bad")
    assert not same.search("rejected 1908 of 908 bad")
    assert compile_text("releases caused 0").search("releases caused 0")
    assert not compile_text("releases caused 0").search("releases caused 05")


def test_commas_between_digits_are_ignored() -> None:
    quotes = quoted("tests/a.py: delivered 1,000 of 1,000\n")
    assert absent(quotes, printed("tests/a.py: delivered 1000 of 1000 exactly once\n")) == []
    assert absent(quotes, printed("tests/b.py: delivered 1000 of 1000\n")) == quotes


def test_the_check_fails_naming_what_is_missing(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    figures = tmp_path / "figures.txt"
    figures.write_text("tests/unit/test_two_person_rule.py: bypasses 0\n")
    assert main(["figures_check.py", str(figures)]) == 1
    out = capsys.readouterr().out
    assert "tests/unit/test_audit.py: detected {n} of {n} alterations" in out
    assert "tests/unit/test_two_person_rule.py: bypasses 0" not in out.split("missing:")[1]


def test_the_quoted_file_parses() -> None:
    quotes = quoted(QUOTED.read_text(encoding="utf-8"))
    assert len(quotes) > 30
    assert all(Path(__file__).parents[2].joinpath(q.where).is_file() for q in quotes)
