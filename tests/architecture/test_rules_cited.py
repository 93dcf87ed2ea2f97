"""Every rule the code cites is in the repository: a ``docs/rules.md#anchor`` in a comment
or docstring names an anchor of docs/rules.md, and no comment cites the documents that are
not in the repository any more."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "docs" / "rules.md"
CITATION = re.compile(r"docs/rules\.md#([A-Za-z0-9_-]+)")
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
# the old citations: a domain document and a mission statement kept outside the repository
GONE = re.compile(r"\bDOMAIN(\.md|'s)?(?=[\s:,.)]|$)(?! \|\|)|\bMISSION \d|\bseed 00\d")


def anchors(text: str) -> list[str]:
    return ANCHOR.findall(text)


def unresolved(source: str, known: set[str]) -> list[str]:
    return [a for a in CITATION.findall(source) if a not in known]


def sources(*roots: str) -> Iterator[Path]:
    for root in roots:
        yield from sorted((REPO / root).rglob("*.py"))


def comments_and_docstrings(source: str) -> Iterator[str]:
    """The text of every comment and docstring (runtime strings are left out: a message
    shown to a user may quote a treaty article)."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield doc


def test_each_rule_has_one_anchor() -> None:
    found = anchors(RULES.read_text(encoding="utf-8"))
    assert found, "docs/rules.md has no anchors"
    assert len(found) == len(set(found)), sorted(a for a in found if found.count(a) > 1)


@pytest.mark.parametrize("root", ["src", "tests", "bench"])
def test_every_citation_resolves(root: str) -> None:
    known = set(anchors(RULES.read_text(encoding="utf-8")))
    cited = {str(path.relative_to(REPO)): unresolved(path.read_text(encoding="utf-8"), known)
             for path in sources(root) if path != Path(__file__)}
    assert {path: bad for path, bad in cited.items() if bad} == {}


def test_the_code_cites_the_rules() -> None:
    assert sum(len(CITATION.findall(p.read_text(encoding="utf-8"))) for p in sources("src")) > 50


def test_a_citation_of_a_missing_rule_is_caught() -> None:
    known = set(anchors(RULES.read_text(encoding="utf-8")))
    planted = "x = 1  # docs/rules.md#consent, then docs/rules.md#no-such-rule\n"
    assert unresolved(planted, known) == ["no-such-rule"]


@pytest.mark.parametrize("root", ["src", "tests", "bench"])
def test_no_comment_cites_a_document_outside_the_repository(root: str) -> None:
    stale = [f"{path.relative_to(REPO)}: {line.strip()}"
             for path in sources(root)
             for text in comments_and_docstrings(path.read_text(encoding="utf-8"))
             for line in text.splitlines() if GONE.search(line)]
    assert stale == []


def test_an_old_citation_in_a_comment_is_caught() -> None:
    planted = ('"""Doc (MISSION 3), signed over ``DOMAIN || body``."""\n'
               'x = "DOMAIN Protection 1"  # DOMAIN Protection 1\n'
               'y = 2  # as DOMAIN.md says\n')
    assert [t for t in comments_and_docstrings(planted) if GONE.search(t)] == [
        "# DOMAIN Protection 1", "# as DOMAIN.md says",
        "Doc (MISSION 3), signed over ``DOMAIN || body``."]
    assert not GONE.search("signed over ``DOMAIN || body``")
