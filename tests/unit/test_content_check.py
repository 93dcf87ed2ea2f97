"""The content check a release reviewer sees: dirty words and markings inside portions."""

from __future__ import annotations

import random
import string
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.content_check import CheckResult, check_item
from liaison.domain.content_text import normalise
from liaison.domain.content_wordlist import Term, Wordlist, wordlist_from
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import Label, make_label

from factories import CREATED, KOR, PARTIES, label

USA = PARTIES["USA"].scheme
EMPTY = Wordlist(())
HOLD_TERMS = ["ORCON-ALPHA", "blue harvest", "작전계획5027", "特定秘密"]
WORDS = wordlist_from({"terms": [
    {"term": "ORCON-ALPHA", "severity": "hold", "note": "compartment code word"},
    {"term": "blue harvest", "severity": "hold"},
    "작전계획5027",
    "特定秘密",
    {"term": "ass", "severity": "warn"},
    {"term": "eyes only alpha", "severity": "warn", "note": "old caveat"},
]})
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


def us(level: str, **kw: Any) -> Label:
    return make_label(USA, level, originator="USA", created=CREATED, **kw)


def item_of(*portions: tuple[str, Label] | tuple[str, Label, PortionKind]) -> Item:
    parts = tuple(Portion(f"p{i + 1}", p[2] if len(p) == 3 else PortionKind.TEXT, p[0], p[1])
                  for i, p in enumerate(portions))
    return Item("I1", parts[0].label.originator, Discipline.HUMINT, "DPRK/missile",
                Grade("B", 2), "report", CREATED, parts)


def check_us(text: str, level: str = "CONFIDENTIAL", words: Wordlist = EMPTY,
             **kw: Any) -> CheckResult:
    return check_item(item_of((text, us(level, **kw))), USA, words)


def found(text: str, words: Wordlist = WORDS) -> list[str]:
    """The listed terms found in ``text``, each checked to point at the original text."""
    out = []
    for term, start, end in words.find(text):
        assert normalise(text[start:end]) == normalise(term.text)
        out.append(term.text)
    return out


# --- dirty words -------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "ＯＲＣＯＮ－ＡＬＰＨＡ", "Or\u200bcon-al\u2060pha", "ORCON-ALPHA", "orcon-alpha",
    "see orcon-\u00adalpha.", "(ORCON-ALPHA)", "ORCON-ALPHA를 보라",
])
def test_width_zero_width_and_case_variants_are_found(text: str) -> None:
    assert found(text) == ["ORCON-ALPHA"]


@pytest.mark.parametrize(("text", "hits"), [
    ("assess the class of bass", []),
    ("you ass, ASS! (ass)", ["ass", "ass", "ass"]),
    ("orcon-alphabet and xorcon-alpha", []),
    ("blue harvested", []),
    ("작전계획5027의 전개", ["작전계획5027"]),  # Hangul particles never block
    ("特定秘密の保護", ["特定秘密"]),
])
def test_whole_words_only(text: str, hits: list[str]) -> None:
    assert found(text) == hits


@pytest.mark.parametrize("text", [
    "EYES\nONLY  alpha", "eyes\r\n\tonly\u00a0alpha", "Eyes  \u200b only\n\nALPHA",
])
def test_phrases_span_line_breaks_and_odd_spaces(text: str) -> None:
    assert found(text) == ["eyes only alpha"]


def test_offsets_point_into_the_original_text() -> None:
    text = "Line one.\n\nＢＬＵＥ\u200b \n HAR\u200dVEST came;  then orcon-ALPHA."
    hits = WORDS.find(text)
    assert [t.text for t, _, _ in hits] == ["blue harvest", "ORCON-ALPHA"]
    (_, s1, e1), (_, s2, e2) = hits
    assert text[s1:e1] == "ＢＬＵＥ\u200b \n HAR\u200dVEST"
    assert text[s2:e2] == "orcon-ALPHA"


def test_dirty_word_findings_carry_portion_snippet_and_severity() -> None:
    text = "x" * 100 + " blue harvest " + "y" * 100
    result = check_us(text, words=WORDS)
    (f,) = result.findings
    assert (f.portion, f.kind, f.term, f.severity) == ("p1", "dirty_word", "blue harvest", "hold")
    assert text[f.start:f.end] == "blue harvest"
    assert "blue harvest" in f.snippet and len(f.snippet) < 80
    assert f.snippet.startswith("…") and f.snippet.endswith("…")
    assert result.hold and result.reasons() == ("portion p1 contains the listed term "
                                                "'blue harvest'",)
    (w,) = check_us("eyes only alpha", words=WORDS).findings
    assert w.severity == "warn" and "old caveat" in w.reason


def test_longest_term_wins_and_the_stricter_duplicate() -> None:
    words = Wordlist((Term("top", "warn"), Term("top plan", "warn"), Term("TOP  PLAN", "hold")))
    ((term, _, _),) = words.find("the top plan")
    assert (term.text, term.severity) == ("TOP  PLAN", "hold")


def test_track_portions_are_not_read() -> None:
    text = "TOP SECRET ORCON-ALPHA NOFORN"
    it = item_of((text, us("UNCLASSIFIED"), PortionKind.TRACK))
    assert check_item(it, USA, WORDS) == CheckResult(())


def test_an_image_caption_is_read_like_text() -> None:
    """The caption goes to the partner with the image."""
    text = "TOP SECRET ORCON-ALPHA NOFORN"
    it = item_of((text, us("CONFIDENTIAL", rel_to={"KOR"}), PortionKind.IMAGE))
    result = check_item(it, USA, WORDS)
    assert result.hold
    assert {(f.portion, f.kind, f.term) for f in result.findings} == {
        ("p1", "marking", "TOP SECRET"), ("p1", "dirty_word", "ORCON-ALPHA"),
        ("p1", "marking", "NOFORN")}


def test_the_title_is_read_against_the_highest_label_it_goes_with() -> None:
    it = replace(item_of(("nothing here", us("CONFIDENTIAL", rel_to={"KOR"})),
                         ("nor here", us("UNCLASSIFIED"))),
                 title="SECRET: blue harvest update")
    result = check_item(it, USA, WORDS)
    assert result.hold
    assert {(f.portion, f.kind, f.term) for f in result.findings} == {
        ("title", "marking", "SECRET"), ("title", "dirty_word", "blue harvest")}
    assert any(r.startswith("the title (label CONFIDENTIAL) contains the marking 'SECRET'")
               for r in result.reasons())
    fine = replace(it, portions=(replace(it.portions[0], label=us("SECRET")),),
                   title="SECRET update")
    assert check_item(fine, USA, EMPTY) == CheckResult(())  # a SECRET item may say so


def test_noforn_in_the_title_holds_when_the_item_goes_rel_to() -> None:
    it = replace(item_of(("text", us("CONFIDENTIAL", rel_to={"KOR"}))),
                 title="NOFORN summary")
    result = check_item(it, USA, EMPTY)
    assert result.hold and result.findings[0].portion == "title"


# --- markings -----------------------------------------------------------------------------

def test_marking_higher_than_its_label_holds_with_a_reason() -> None:
    it = item_of(("nothing here", us("SECRET")), ("Per the SECRET annex", us("CONFIDENTIAL")))
    result = check_item(it, USA, EMPTY)
    assert result.hold
    (f,) = result.findings
    assert (f.portion, f.kind, f.term, f.severity) == ("p2", "marking", "SECRET", "hold")
    assert it.portions[1].content[f.start:f.end] == "SECRET"
    assert result.reasons() == ("portion p2 (label CONFIDENTIAL) contains the marking "
                                "'SECRET', higher than its label",)


@pytest.mark.parametrize(("text", "level"), [
    ("(TS) launch window", "TOP SECRET"),
    ("(S//REL TO USA, KOR) launch window", "SECRET"),
    ("(TS//NOFORN) launch window", "TOP SECRET"),
    ("banner: TOP\nSECRET//NOFORN", "TOP SECRET"),
    ("ＳＥＣＲＥＴ", "SECRET"),
    ("SE\u200bCRET", "SECRET"),
])
def test_portion_marks_and_banner_words(text: str, level: str) -> None:
    result = check_us(text, "CONFIDENTIAL", rel_to={"KOR"})
    markings = [f for f in result.findings if f.term == level]
    assert markings and markings[0].severity == "hold"
    assert result.hold


@pytest.mark.parametrize("text", [
    "(S) SECRET annex", "(S//REL TO USA, KOR)", "(C) and CONFIDENTIAL", "(U) UNCLASSIFIED",
])
def test_same_or_lower_marking_does_not_hold(text: str) -> None:
    assert check_us(text, "SECRET").findings == ()


@pytest.mark.parametrize("text", ["UNCLASSIFIED", "unclassified report", "(U) UNCLASSIFIED",
                                  "the CLASSIFIED ads", "secretary of state", "declassified"])
def test_unclassified_and_lookalikes_are_not_secret(text: str) -> None:
    assert check_us(text, "UNCLASSIFIED").findings == ()


def test_secret_in_prose_is_a_warning_in_capitals_a_hold() -> None:
    (prose,) = check_us("they met in secret", "UNCLASSIFIED").findings
    assert (prose.term, prose.severity) == ("SECRET", "warn")
    assert check_us("a Top Secret plan", "UNCLASSIFIED").hold is False
    assert check_us("a TOP SECRET plan", "UNCLASSIFIED").hold is True


@pytest.mark.parametrize("text", ["(1) first", "(ii) second", "(c) 2024", "friend(s)", "(s)"])
def test_enumerations_and_prose_parentheses_are_not_marks(text: str) -> None:
    assert check_item(item_of((text, label("평문"))), KOR.scheme, EMPTY).findings == ()
    assert check_us(text, "UNCLASSIFIED").findings == ()


def test_noforn_inside_a_releasable_portion_holds() -> None:
    result = check_us("source is NOFORN", "SECRET", rel_to={"KOR"})
    (f,) = result.findings
    assert (f.term, f.severity) == ("NOFORN", "hold")
    assert "releasable" in result.reasons()[0]
    assert check_us("source is NOFORN", "SECRET", caveats={"NOFORN"}).findings == ()
    (warn,) = check_us("source is noforn", "SECRET").findings
    assert warn.severity == "warn"


def test_own_scheme_names_and_marks_in_korean() -> None:
    kor = KOR.scheme
    texts = ["이 문서는 군사II급비밀이다", "군사 II급 비밀", "(II) 요약", "(III//REL TO KOR, USA)"]
    for text in texts:
        result = check_item(item_of((text, label("대외비"))), kor, EMPTY)
        assert result.hold, text
    same = check_item(item_of(("군사III급비밀 (III) 대외비", label("군사III급비밀"))), kor, EMPTY)
    assert same.findings == ()


def test_foreign_markings_by_top_alignment() -> None:
    kor = KOR.scheme
    result = check_item(item_of(("TOP SECRET annex", label("군사III급비밀"))), kor, EMPTY)
    assert result.reasons() == (
        "portion p1 (label 군사III급비밀) contains the marking 'TOP SECRET' "
        "(USA TOP SECRET, taken as 군사I급비밀), higher than its label",)
    # CONFIDENTIAL lines up with 군사III급비밀 (GSOMIA), 極秘 with 군사II급비밀
    assert check_item(item_of(("CONFIDENTIAL", label("군사III급비밀"))), kor, EMPTY).findings == ()
    assert check_item(item_of(("極秘", label("군사III급비밀"))), kor, EMPTY).hold


def test_foreign_markings_by_the_callers_equivalence() -> None:
    kor = KOR.scheme
    table = {("USA", "SECRET"): 3, ("USA", "CONFIDENTIAL"): 2}
    it = item_of(("SECRET annex and TOP SECRET annex", label("군사II급비밀")))
    result = check_item(it, kor, EMPTY, rank_of=lambda party, name: table.get((party, name)))
    (f,) = result.findings  # SECRET = 군사II급비밀: fine; TOP SECRET: no equivalent
    assert f.term == "TOP SECRET" and f.severity == "hold"
    assert "no equivalent in KOR's scheme" in f.reason


def test_only_the_given_schemes_are_known() -> None:
    it = item_of(("極秘 TOP SECRET", label("대외비")))
    assert check_item(it, KOR.scheme, EMPTY, schemes={}).findings == ()
    only_jpn = check_item(it, KOR.scheme, EMPTY, schemes={"JPN": PARTIES["JPN"].scheme})
    assert [f.term for f in only_jpn.findings] == ["極秘"]


def test_labels_must_be_in_the_checked_scheme() -> None:
    with pytest.raises(ValueError, match="portion p1: label is in USA's scheme"):
        check_item(item_of(("x", us("SECRET"))), KOR.scheme, EMPTY)


# --- wordlist configuration ---------------------------------------------------------------

@pytest.mark.parametrize(("data", "message"), [
    ({"terms": ["ok", ""]}, r"terms\[1\]: a term is empty"),
    ({"terms": [{"term": " \u200b "}]}, r"terms\[0\]: a term is empty"),
    ({"terms": [{"term": "x", "severity": "block"}]}, r"severity 'block' is not one of hold"),
    ({"terms": ["x" * 201]}, r"longer than 200 characters"),
    ({"terms": ["x"] * 10_001}, r"10001 terms: a wordlist holds at most 10000"),
    ({"terms": [{"term": "x", "level": "S"}]}, r"unknown keys level"),
    ({"terms": [{"severity": "hold"}]}, r"a mapping with a 'term'"),
    ({"terms": [3]}, r"a string or a mapping"),
    ({"terms": [{"term": 3}]}, r"'term' and 'note' must be strings"),
    ({"terms": "secret"}, r"'terms' must be a list"),
    ({"words": []}, r"exactly one key, 'terms'"),
])
def test_bad_wordlists_are_rejected(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wordlist_from(data)


def test_a_large_wordlist_over_a_large_portion() -> None:
    """Sanity, not a timing: 5,000 terms over ~100 KB find exactly the planted ones."""
    rng = random.Random(7)
    terms = sorted({"".join(rng.choices(string.ascii_lowercase, k=rng.randint(6, 12)))
                    for _ in range(5_000)})
    words = Wordlist(tuple(Term(t) for t in terms))
    filler = ["the", "of", "and", "to", "in", "report", "missile", "launch", "window",
              "observed", "near", "site"]
    body = [rng.choice(filler) for _ in range(15_000)]
    planted = rng.sample(range(len(body)), 20)
    for n, i in enumerate(planted):
        body[i] = terms[n * 50].upper()
    text = " ".join(body)
    assert len(text) > 80_000
    assert sorted(t.text for t, _, _ in words.find(text)) == sorted(
        terms[n * 50] for n in range(20))


# --- property -----------------------------------------------------------------------------

def fullwidth(c: str) -> str:
    return chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c


@st.composite
def disguised(draw: st.DrawFn, term: str) -> str:
    out = []
    for ch in term:
        if ch == " ":
            out.append(draw(st.sampled_from([" ", "\n", "\t ", "\r\n", "\u3000", "  \n "])))
            continue
        c = draw(st.sampled_from([ch.upper(), ch.lower()]))
        out.append(fullwidth(c) if draw(st.booleans()) else c)
        out.extend(draw(st.lists(st.sampled_from(ZERO_WIDTH), max_size=2)))
    return "".join(out)


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, str, int]:
    term = draw(st.sampled_from(HOLD_TERMS))
    before, after = draw(st.text(max_size=60)), draw(st.text(max_size=60))
    return before + " " + draw(disguised(term)) + " " + after, term, len(before) + 1


@settings(max_examples=150, deadline=None)
@given(planted())
def test_a_planted_hold_term_is_always_found(case: tuple[str, str, int]) -> None:
    text, term, at = case
    result = check_item(item_of((text, us("TOP SECRET"))), USA, WORDS)
    hits = [f for f in result.findings if f.kind == "dirty_word" and f.start == at]
    assert [f.term for f in hits] == [term]
    assert normalise(text[hits[0].start:hits[0].end]) == normalise(term)
    assert hits[0].severity == "hold" and result.hold
