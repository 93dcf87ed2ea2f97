"""Review conclusion, the reciprocity ledger and decoding errors people can act on."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from liaison.domain.codec import item_from
from liaison.domain.decoding import CodecError
from liaison.domain.ledger import Direction, LedgerEntry, balance, balances_by_agreement
from liaison.domain.release import decide
from liaison.domain.review import (
    Basis,
    RequestState,
    Review,
    ReviewError,
    add_review,
    conclude,
    open_request,
    required_reviews,
)

from factories import KOR, PARTIES, d, facts, item, label, seed_agreements

NOW = datetime(2019, 11, 23, tzinfo=UTC)
BASIS = Basis("labels", "content", "agreements", "consents", "route")


def request_for(on: str = "2019-11-23", level: str = "군사III급비밀"):  # type: ignore[no-untyped-def]
    it = item(label(level, rel_to={"JPN"}), label(level, rel_to={"JPN"}))
    dec = decide(it, "JPN", d(on), facts())
    rank = KOR.scheme.level(level).rank
    return it, open_request(request_id="r1", item_id=it.id, recipient="JPN", purpose="warning",
                            requested_by="lee", requested_at=NOW, decision=dec,
                            required=required_reviews(rank, KOR.two_person_rank), basis=BASIS)


def test_a_denied_release_cannot_be_requested() -> None:
    it = item(label("군사I급비밀", rel_to={"JPN"}))
    dec = decide(it, "JPN", d("2019-11-23"), facts())
    with pytest.raises(ReviewError, match="denies"):
        open_request(request_id="r", item_id="I1", recipient="JPN", purpose="x",
                     requested_by="lee", requested_at=NOW, decision=dec, required=2,
                     basis=BASIS)


def test_a_request_states_its_purpose() -> None:
    """docs/rules.md#consent: use is limited to the stated purpose."""
    it, _ = request_for()
    dec = decide(it, "JPN", d("2019-11-23"), facts())
    with pytest.raises(ReviewError, match="purpose"):
        open_request(request_id="r", item_id="I1", recipient="JPN", purpose="  ",
                     requested_by="lee", requested_at=NOW, decision=dec, required=1,
                     basis=BASIS)


def test_release_asks_the_engine_again() -> None:
    """Fail closed: if the agreement ended between request and approval, nothing goes."""
    it, req = request_for("2019-11-20")
    req = add_review(req, Review("park", True, ("p1",), "", NOW, BASIS.digest))
    ended = seed_agreements(drop_events=("NOTICE_SUSPENDED", "NOTICE_WITHDRAWN"))
    fresh = decide(it, "JPN", d("2019-12-01"), facts(ended[:1]))
    assert conclude(req, fresh, BASIS, 1).state is RequestState.BLOCKED
    ok = conclude(req, decide(it, "JPN", d("2019-11-20"), facts()), BASIS, 1)
    assert ok.state is RequestState.RELEASED
    assert ok.tearline == ("p1",)


def test_a_rejection_ends_the_request() -> None:
    _, req = request_for()
    rejected = add_review(req, Review("park", False, (), "source at risk", NOW, BASIS.digest))
    assert rejected.state is RequestState.REJECTED
    with pytest.raises(ReviewError, match="not pending"):
        add_review(rejected, Review("choi", True, ("p1",), "", NOW, BASIS.digest))


def test_an_approval_names_a_portion() -> None:
    _, req = request_for()
    with pytest.raises(ReviewError, match="at least one portion"):
        add_review(req, Review("park", True, (), "", NOW, BASIS.digest))


def test_balance_per_agreement_level_and_discipline() -> None:
    """docs/rules.md#reciprocity: given and received by level and discipline; balance per
    agreement."""
    at = NOW
    entries = [LedgerEntry("G", "JPN", Direction.GIVEN, "SECRET", "HUMINT", "a", at),
               LedgerEntry("G", "JPN", Direction.GIVEN, "CONFIDENTIAL", "HUMINT", "b", at),
               LedgerEntry("G", "JPN", Direction.RECEIVED, "SECRET", "IMINT", "c", at),
               LedgerEntry("H", "USA", Direction.RECEIVED, "SECRET", "IMINT", "d", at)]
    b = balance(entries[:3])
    assert (b.given, b.received, b.net) == (2, 1, 1)
    assert b.by_level == {"CONFIDENTIAL": (1, 0), "SECRET": (1, 1)}
    assert b.by_discipline == {"HUMINT": (2, 0), "IMINT": (0, 1)}
    assert {k: v.net for k, v in balances_by_agreement(entries).items()} == {"G": 1, "H": -1}


def _item_data(**portion_label: object) -> dict[str, object]:
    lb = {"policy": "KOR", "classification": "군사II급비밀", "originator": "KOR",
          "created": "2019-10-31T08:00:00Z", **portion_label}
    return {"id": "I", "discipline": "HUMINT", "topic": "DPRK", "grade": "B2", "title": "t",
            "reported_at": "2019-10-31T08:00:00Z",
            "portions": [{"id": "p1", "content": "x", "label": {**lb}},
                         {"id": "p2", "content": "y", "label": lb}]}


@pytest.mark.parametrize(("change", "path", "message"), [
    ({"classification": "TOP"}, "portions[0].label", "no level 'TOP'"),
    ({"created": "2019-10-31T08:00:00"}, "portions[0].label.created", "time zone"),
    ({"rel_to": "JPN"}, "portions[0].label.rel_to", "expected list"),
    ({"policy": "XXX"}, "portions[0].label.policy", "unknown party"),
])
def test_codec_errors_name_the_path(change: dict[str, object], path: str,
                                    message: str) -> None:
    data = _item_data()
    data["portions"][0]["label"].update(change)  # type: ignore[index]
    with pytest.raises(CodecError, match=message) as err:
        item_from(data, PARTIES, "KOR")
    assert err.value.path == path


def test_bad_enum_lists_allowed_values() -> None:
    with pytest.raises(CodecError, match="HUMINT, IMINT") as err:
        item_from({**_item_data(), "discipline": "PSYCHIC"}, PARTIES, "KOR")
    assert err.value.path == "discipline"


def test_dates_are_iso() -> None:
    assert d("2019-11-23") == date(2019, 11, 23)
