"""Labels, marks and items (docs/rules.md#marks; ISM-ID-00033; STANAG 4774 / 2511)."""

from __future__ import annotations

import pytest

from liaison.domain.items import Grade, validate_item
from liaison.domain.labels import LabelError, banner, make_label, portion_mark

from factories import CREATED, KOR, PARTIES, item, label


@pytest.mark.parametrize("kw", [
    {"rel_to": {"USA"}, "caveats": {"NOFORN"}},
    {"eyes_only": {"USA"}, "caveats": {"NOFORN"}},
    {"rel_to": {"USA"}, "eyes_only": {"USA"}},
])
def test_rel_to_eyes_and_noforn_are_mutually_exclusive(kw: dict[str, set[str]]) -> None:
    """ISM-ID-00033: REL TO, EYES and NOFORN are mutually exclusive."""
    with pytest.raises(LabelError, match="mutually exclusive"):
        label("군사II급비밀", **kw)


def test_unknown_level_lists_the_known_ones() -> None:
    with pytest.raises(LabelError, match="군사I급비밀, 군사II급비밀"):
        label("TOP SECRET")


@pytest.mark.parametrize("bad", [{"usa"}, {"US"}, set()])
def test_rel_to_names_alpha3_parties(bad: set[str]) -> None:
    with pytest.raises(LabelError):
        label("군사II급비밀", rel_to=bad)


def test_unclassified_carries_no_dissemination_controls() -> None:
    with pytest.raises(LabelError, match="unclassified"):
        label("평문", caveats={"NOFORN"})


def test_portion_marks_in_each_scheme() -> None:
    """docs/rules.md#marks: CAPCO-style portion marks, own party first in REL TO."""
    assert portion_mark(label("군사II급비밀", rel_to={"JPN", "USA"}), KOR.scheme) == \
        "(II//REL TO KOR, JPN, USA)"
    usa = PARTIES["USA"].scheme
    us_label = make_label(usa, "SECRET", originator="USA", created=CREATED, rel_to={"KOR"})
    assert portion_mark(us_label, usa) == "(S//REL TO USA, KOR)"
    assert portion_mark(label("군사III급비밀", caveats={"NOFORN", "ORCON"}), KOR.scheme) == \
        "(III//NOFORN//ORCON)"
    assert portion_mark(label("군사II급비밀", eyes_only={"USA"}), KOR.scheme) == \
        "(II//KOR/USA EYES ONLY)"


def test_banner_is_highest_level_and_common_releasability() -> None:
    labels = [label("군사III급비밀", rel_to={"JPN", "USA"}), label("군사II급비밀", rel_to={"USA"})]
    assert banner(labels, KOR.scheme) == "군사II급비밀//REL TO KOR, USA"
    labels.append(label("대외비", caveats={"NOFORN"}))
    assert banner(labels, KOR.scheme) == "군사II급비밀//NOFORN"


def test_item_level_is_its_highest_portion() -> None:
    """docs/rules.md#portions: the item's level is the highest portion."""
    it = item(label("군사III급비밀"), label("군사I급비밀"), label("대외비"))
    assert it.level(KOR.scheme).name == "군사I급비밀"


@pytest.mark.parametrize("text", ["B2", "A1", "F6"])
def test_admiralty_grades(text: str) -> None:
    """STANAG 2511: reliability A–F and credibility 1–6, shown together."""
    assert str(Grade.parse(text)) == text


@pytest.mark.parametrize("text", ["G1", "A7", "a1", "B", "B22"])
def test_bad_admiralty_grades(text: str) -> None:
    with pytest.raises(LabelError, match="Admiralty"):
        Grade.parse(text)


def test_items_need_unique_portions_and_a_topic() -> None:
    it = item(label("군사II급비밀"), topic="bad topic//")
    with pytest.raises(LabelError, match="topic"):
        validate_item(it, KOR.scheme)


def test_two_person_rank_is_secret_equivalent() -> None:
    """docs/rules.md#two-person-review: two reviewers at SECRET-equivalent and above."""
    assert KOR.two_person_rank == KOR.scheme.level("군사II급비밀").rank
    assert PARTIES["USA"].two_person_rank == PARTIES["USA"].scheme.level("SECRET").rank
