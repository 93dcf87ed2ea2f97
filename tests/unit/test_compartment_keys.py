"""Search and TAXII match a portion's compartments by one key per set (issue 18: a
reader holding A and B was counted a portion of the single compartment named "A,B")."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from liaison.domain.labels import Clearance
from liaison.domain.search import compartment_key, visibility

NAMES = st.text(alphabet="AB,\\", min_size=1, max_size=4)
SETS = st.frozensets(NAMES, max_size=4)


@given(SETS, SETS)
def test_two_sets_share_a_key_only_when_equal(a: frozenset[str], b: frozenset[str]) -> None:
    assert (compartment_key(a) == compartment_key(b)) == (a == b)


@given(SETS, SETS)
def test_a_reader_matches_exactly_the_subsets_of_their_compartments(
        held: frozenset[str], portion: frozenset[str]) -> None:
    vis = visibility(Clearance(9, held))
    assert (compartment_key(portion) in vis.compartment_sets) == (portion <= held)


def test_plain_names_keep_the_key_the_index_always_held() -> None:
    assert compartment_key(frozenset({"TK", "HCS"})) == "HCS,TK"
    assert compartment_key(frozenset({"A,B"})) != compartment_key(frozenset({"A", "B"}))
