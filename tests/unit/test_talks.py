"""Talks between two governments: proposals, answers, and signed minutes (domain.talks)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liaison.crypto.signed_minutes import receive_minutes, sign, verify
from liaison.domain.minutes import (
    Minutes,
    Signature,
    check_minutes,
    draft,
    edit,
    minutes_bytes,
    sealed,
)
from liaison.domain.talks import (
    AgendaItem,
    AgendaKind,
    Proposal,
    Talks,
    TalksError,
    TalksState,
    accept,
    amend,
    cancel,
    decline,
    end,
    local_start,
    need_live,
    on_delegation,
    propose,
    validate_proposal,
)
from liaison.domain.talks_wire import (
    minutes_from,
    minutes_to,
    proposal_from,
    proposal_to,
    talks_from,
    talks_to,
)

SEOUL = ZoneInfo("Asia/Seoul")
T0 = datetime(2021, 10, 4, 10, 0, tzinfo=SEOUL)
SIGNED_AT = datetime(2021, 10, 4, 13, 0, tzinfo=UTC)
PARTIES = ("KOR", "PRK")

KOR_KEY = Ed25519PrivateKey.generate()
PRK_KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
KOR_PUBLIC = {"kor-node-2021": KOR_KEY.public_key()}
PRK_PUBLIC = {"prk-node-1": PRK_KEY.public_key()}
PUBLIC = {**KOR_PUBLIC, **PRK_PUBLIC}


def v1() -> Proposal:
    return Proposal(
        version=1,
        by="KOR",
        title="남북 고위급 회담 (inter-Korean high-level talks)",
        starts_at=T0,
        tz="Asia/Seoul",
        duration_min=120,
        delegations={"KOR": ("조명균", "천해성"), "PRK": ("리선권",)},
        agenda=(
            AgendaItem("agreed-1", AgendaKind.AGREED, "Implementing the Panmunjom Declaration"),
            AgendaItem("concern-1", AgendaKind.CONCERNS, "Restoring the liaison office"),
            AgendaItem("urgent-1", AgendaKind.URGENT, "COVID-19 cooperation"),
        ),
        note="By video link from the Panmunjom liaison office.",
    )


def v2() -> Proposal:
    p = v1()
    extra = AgendaItem("concern-2", AgendaKind.CONCERNS, "Joint military exercises")
    return replace(p, version=2, by="PRK", agenda=(*p.agenda, extra),
                   starts_at=T0 + timedelta(days=1), note="Counter-proposal: one more day.")


def proposed() -> Talks:
    return propose("talks-2021-10", "KOR-PRK-LIAISON", "KOR", "PRK", v1())


def amended() -> Talks:
    return amend(proposed(), "PRK", v2())


def accepted() -> Talks:
    return accept(amended(), "KOR", 2)


# --- proposals and answers --------------------------------------------------------------


def test_kor_proposes_prk_amends_kor_accepts_version_2() -> None:
    t = proposed()
    assert t.state is TalksState.PROPOSED
    assert t.parties == ("KOR", "PRK")
    assert t.current.version == 1
    assert t.other("KOR") == "PRK"
    assert t.other("PRK") == "KOR"

    t = amend(t, "PRK", v2())
    assert t.state is TalksState.PROPOSED
    assert [p.version for p in t.proposals] == [1, 2]
    assert t.current.by == "PRK"
    assert "concern-2" in [a.id for a in t.current.agenda]

    t = accept(t, "KOR", 2)
    assert t.state is TalksState.ACCEPTED
    assert t.answered_by == "KOR"
    assert t.current == v2()


def test_accepting_an_amended_version_is_refused() -> None:
    with pytest.raises(TalksError) as exc:
        accept(amended(), "KOR", 1)
    assert str(exc.value) == ("version 1 was amended by PRK (now version 2); "
                              "accept version 2 or amend it")
    with pytest.raises(TalksError, match="no version 3"):
        accept(amended(), "KOR", 3)


def test_a_party_cannot_accept_its_own_proposal_or_amendment() -> None:
    with pytest.raises(TalksError, match=r"PRK made version 2.*for KOR to accept"):
        accept(amended(), "PRK", 2)
    with pytest.raises(TalksError, match="KOR made version 1"):
        accept(proposed(), "KOR", 1)
    with pytest.raises(TalksError, match="PRK made version 2"):
        amend(amended(), "PRK", replace(v2(), version=3))
    with pytest.raises(TalksError, match="PRK made version 2"):
        decline(amended(), "PRK", "changed our mind")


def test_counter_counter_proposal_alternates() -> None:
    t = amend(amended(), "KOR", replace(v1(), version=3))
    assert [p.by for p in t.proposals] == ["KOR", "PRK", "KOR"]
    t = accept(t, "PRK", 3)
    assert t.state is TalksState.ACCEPTED


def test_amendment_numbering_and_author() -> None:
    with pytest.raises(TalksError, match=r"^version: .*is version 2, not 3"):
        amend(proposed(), "PRK", replace(v2(), version=3))
    with pytest.raises(TalksError, match=r"^by: an amendment by PRK is made by PRK, not 'KOR'"):
        amend(proposed(), "PRK", replace(v2(), by="KOR"))
    with pytest.raises(TalksError, match=r"^tz:"):
        amend(proposed(), "PRK", replace(v2(), tz="Asia/Pyeongyang"))


def test_decline_needs_a_reason() -> None:
    for reason in ("", "   "):
        with pytest.raises(TalksError, match=r"^reason: declining talks needs a reason"):
            decline(proposed(), "PRK", reason)
    t = decline(proposed(), "PRK", "The South must first stop joint exercises.")
    assert (t.state, t.answered_by) == (TalksState.DECLINED, "PRK")
    assert t.reason.startswith("The South")
    with pytest.raises(TalksError, match="talks talks-2021-10 are declined by PRK: only proposed"):
        accept(t, "PRK", 1)
    with pytest.raises(TalksError, match="are declined"):
        amend(t, "PRK", v2())


def test_cancel_by_either_party_from_proposed_or_accepted() -> None:
    t = cancel(proposed(), "KOR", "Typhoon warning for Panmunjom.")
    assert (t.state, t.answered_by) == (TalksState.CANCELLED, "KOR")
    t = cancel(accepted(), "PRK", "Delegation unavailable.")
    assert (t.state, t.answered_by) == (TalksState.CANCELLED, "PRK")
    with pytest.raises(TalksError, match="are cancelled by PRK: only proposed or accepted"):
        cancel(t, "KOR", "again")
    with pytest.raises(TalksError, match="cancelling talks needs a reason"):
        cancel(accepted(), "KOR", "")
    with pytest.raises(TalksError, match="are accepted by KOR: only proposed talks can be "
                                         "accepted"):
        accept(accepted(), "PRK", 2)


def test_either_party_ends_accepted_talks_and_the_call_closes() -> None:
    t = end(accepted(), "PRK")
    assert (t.state, t.answered_by, t.reason) == (TalksState.ENDED, "PRK", "")
    assert end(accepted(), "KOR", "Concluded.").reason == "Concluded."
    with pytest.raises(TalksError, match="talks talks-2021-10 are ended by PRK: only accepted "
                                         "talks can be joined"):
        need_live(t)
    need_live(accepted())
    for not_yet in (proposed(), cancel(accepted(), "KOR", "x")):
        with pytest.raises(TalksError, match="only accepted talks can be ended"):
            end(not_yet, "KOR")
    with pytest.raises(TalksError, match="are ended by PRK: only accepted talks can be ended"):
        end(t, "KOR")
    with pytest.raises(TalksError, match="only proposed or accepted talks can be cancelled"):
        cancel(t, "KOR", "too late")
    with pytest.raises(TalksError, match=r"^reason: is 2001 characters"):
        end(accepted(), "KOR", "x" * 2001)
    with pytest.raises(TalksError, match="USA is not a party"):
        end(accepted(), "USA")
    # the minutes may still be drafted, edited and signed after the call
    m = edit(draft(t, "KOR"), "KOR", agreed=("Meet again",))
    check_minutes(t, sign(m, "KOR", "kor-node-2021", KOR_KEY, SIGNED_AT))


def test_ended_talks_from_plain_data_need_an_accepted_chain() -> None:
    data = _via_json(talks_to(proposed()))
    data.update(state="ended", answered_by="PRK")
    back = talks_from(data)  # accepted by PRK, the answerer of version 1, then ended
    assert back.state is TalksState.ENDED
    with pytest.raises(TalksError, match=r"^answered_by: ended talks name the party"):
        talks_from({**data, "answered_by": None})
    with pytest.raises(TalksError, match="USA is not a party"):
        talks_from({**data, "answered_by": "USA"})


def test_only_the_named_delegates_are_on_a_delegation() -> None:
    t = accepted()  # KOR: 조명균, 천해성; PRK: 리선권
    assert on_delegation(t, "KOR", ["cho", "조명균"])
    assert on_delegation(t, "PRK", ["리선권"])
    assert not on_delegation(t, "PRK", ["조명균"])  # KOR's delegate is not on PRK's
    assert not on_delegation(t, "KOR", ["kim", ""])
    assert not on_delegation(t, "USA", ["조명균"])
    named = replace(t, proposals=(*t.proposals[:-1], replace(t.current, delegations={
        "KOR": ("Chun Hae-sung", "chun"), "PRK": ("Jon Jong-su",)})))
    assert on_delegation(named, "KOR", ["chun.delegate", "  chun   HAE-SUNG "])
    assert on_delegation(named, "KOR", ["chun", ""])
    assert not on_delegation(named, "KOR", ["chun hae", "", "   "])
    nfd = unicodedata.normalize("NFD", "천해성")
    assert nfd != "천해성" and on_delegation(t, "KOR", [nfd])


@pytest.mark.parametrize(
    "action",
    [
        lambda t: accept(t, "USA", 1),
        lambda t: amend(t, "USA", replace(v2(), by="USA")),
        lambda t: decline(t, "USA", "not ours"),
        lambda t: cancel(t, "USA", "not ours"),
        lambda t: t.other("USA"),
    ],
    ids=["accept", "amend", "decline", "cancel", "other"],
)
def test_a_third_party_is_refused(action: Callable[[Talks], object]) -> None:
    with pytest.raises(TalksError, match="USA is not a party to talks talks-2021-10"):
        action(proposed())


def test_a_third_party_cannot_draft_minutes() -> None:
    with pytest.raises(TalksError, match="USA is not a party"):
        draft(accepted(), "USA")


def test_propose_rules() -> None:
    with pytest.raises(TalksError, match=r"^version: a new proposal is version 1"):
        propose("t1", "KOR-PRK-LIAISON", "KOR", "PRK", replace(v1(), version=2))
    with pytest.raises(TalksError, match=r"^by: version 1 is made by the proposer KOR"):
        propose("t1", "KOR-PRK-LIAISON", "KOR", "PRK", replace(v1(), by="PRK"))
    with pytest.raises(TalksError, match="cannot propose talks to itself"):
        propose("t1", "KOR-PRK-LIAISON", "KOR", "KOR", v1())
    with pytest.raises(TalksError, match=r"^id: 'no spaces please' is not a valid id"):
        propose("no spaces please", "KOR-PRK-LIAISON", "KOR", "PRK", v1())
    with pytest.raises(TalksError, match=r"^parties\[1\]: 'prk' is not a party code"):
        propose("t1", "KOR-PRK-LIAISON", "KOR", "prk", v1())


def _dup_agenda(p: Proposal) -> Proposal:
    return replace(p, agenda=(*p.agenda, p.agenda[0]))


def _bad_item(**changes: Any) -> Callable[[Proposal], Proposal]:
    return lambda p: replace(p, agenda=(replace(p.agenda[0], **changes), *p.agenda[1:]))


BAD_PROPOSALS: list[tuple[str, Callable[[Proposal], Proposal], str]] = [
    ("tz unknown", lambda p: replace(p, tz="Mars/Olympus_Mons"), r"^tz: 'Mars/Olympus_Mons'"),
    ("tz empty", lambda p: replace(p, tz=""), r"^tz: '' is not an IANA"),
    ("tz region only", lambda p: replace(p, tz="Asia"), r"^tz: 'Asia' is not an IANA"),
    ("tz traversal", lambda p: replace(p, tz="../etc/passwd"), r"^tz:"),
    ("tz host", lambda p: replace(p, tz="localtime"), r"^tz: 'localtime' depends on the host"),
    ("naive start", lambda p: replace(p, starts_at=datetime(2021, 10, 4, 10)),
     r"^starts_at: needs a time zone offset"),
    ("start overflows UTC", lambda p: replace(
        p, starts_at=datetime.fromisoformat("9999-12-31T23:59:59-12:00")),
     r"^starts_at: 9999-12-31T23:59:59-12:00 is outside the years 2000–2100 \(in UTC or "
     r"in Asia/Seoul\)"),
    ("start underflows", lambda p: replace(
        p, starts_at=datetime.fromisoformat("0001-01-01T00:00:00+14:00")),
     r"^starts_at: 0001-01-01T00:00:00\+14:00 is outside the years 2000–2100"),
    ("start overflows the zone", lambda p: replace(
        p, starts_at=datetime(9999, 12, 31, 23, tzinfo=UTC)), r"^starts_at: .*2000–2100"),
    ("start 1999", lambda p: replace(p, starts_at=datetime(1999, 12, 31, 14, 59, tzinfo=UTC)),
     r"^starts_at: 1999-12-31T14:59:00\+00:00 is outside"),
    ("start 2101 in the zone", lambda p: replace(
        p, starts_at=datetime(2100, 12, 31, 15, tzinfo=UTC)), r"^starts_at: .*in Asia/Seoul"),
    ("too short", lambda p: replace(p, duration_min=4), r"^duration_min: 4 minutes is outside"),
    ("too long", lambda p: replace(p, duration_min=601), r"^duration_min: 601 minutes"),
    ("no title", lambda p: replace(p, title=" "), r"^title: is required"),
    ("long title", lambda p: replace(p, title="x" * 201), r"^title: is 201 characters"),
    ("no agenda", lambda p: replace(p, agenda=()), r"^agenda: has 0 items; 1–50"),
    ("big agenda", lambda p: replace(p, agenda=tuple(
        AgendaItem(f"i{n}", AgendaKind.URGENT, "x") for n in range(51))), r"^agenda: has 51"),
    ("duplicate id", _dup_agenda, r"^agenda\[3\]\.id: 'agreed-1' is already used by agenda\[0\]"),
    ("bad id", _bad_item(id="-x"), r"^agenda\[0\]\.id: '-x' is not an agenda id"),
    ("long id", _bad_item(id="a" * 33), r"^agenda\[0\]\.id:"),
    ("bad kind", _bad_item(kind="gossip"), r"^agenda\[0\]\.kind: 'gossip' is not one of"),
    ("item title", _bad_item(title=""), r"^agenda\[0\]\.title: is required"),
    ("item title long", _bad_item(title="x" * 301), r"^agenda\[0\]\.title: is 301"),
    ("missing party", lambda p: replace(p, delegations={"KOR": ("조명균",)}),
     r"^delegations: the delegations must name exactly the two parties KOR and PRK "
     r"\(missing PRK\)"),
    ("extra party", lambda p: replace(p, delegations={**p.delegations, "USA": ("x",)}),
     r"^delegations: .*not a party: USA"),
    ("empty delegation", lambda p: replace(p, delegations={**p.delegations, "PRK": ()}),
     r"^delegations\.PRK: PRK has 0 names; 1–30"),
    ("big delegation", lambda p: replace(p, delegations={
        **p.delegations, "KOR": tuple(f"d{i}" for i in range(31))}), r"^delegations\.KOR: KOR"),
    ("blank name", lambda p: replace(p, delegations={**p.delegations, "PRK": ("",)}),
     r"^delegations\.PRK\[0\]: is required"),
    ("long name", lambda p: replace(p, delegations={**p.delegations, "PRK": ("x" * 101,)}),
     r"^delegations\.PRK\[0\]: is 101 characters"),
    ("same name twice", lambda p: replace(p, delegations={**p.delegations, "PRK": ("a", "a")}),
     r"^delegations\.PRK: PRK lists a more than once"),
    ("long note", lambda p: replace(p, note="x" * 2001), r"^note: is 2001 characters"),
    ("version 0", lambda p: replace(p, version=0), r"^version:"),
    ("by outsider", lambda p: replace(p, by="USA"), r"^by: 'USA' is not a party"),
]


@pytest.mark.parametrize(("mutate", "message"), [(m, msg) for _, m, msg in BAD_PROPOSALS],
                         ids=[name for name, _, _ in BAD_PROPOSALS])
def test_invalid_proposals_are_refused_naming_the_field(
        mutate: Callable[[Proposal], Proposal], message: str) -> None:
    validate_proposal(v1(), PARTIES)
    with pytest.raises(TalksError, match=message):
        validate_proposal(mutate(v1()), PARTIES)


def test_limits_are_inclusive() -> None:
    for ok in (replace(v1(), duration_min=5), replace(v1(), duration_min=600),
               replace(v1(), title="x" * 200), replace(v1(), note="x" * 2000),
               replace(v1(), tz="UTC"), replace(v1(), tz="America/Argentina/Buenos_Aires"),
               replace(v1(), tz="UTC", starts_at=datetime(2000, 1, 1, tzinfo=UTC)),
               replace(v1(), tz="UTC", starts_at=datetime(2100, 12, 31, 23, 59, tzinfo=UTC))):
        validate_proposal(ok, PARTIES)


def test_a_start_out_of_range_is_refused_when_decoded() -> None:
    """A partner's proposal with an unshowable start is refused by the codec, so it is
    never stored (it used to be stored, then every listing failed)."""
    data = _via_json(talks_to(proposed()))
    data["proposals"][0]["starts_at"] = "9999-12-31T23:59:59-12:00"
    with pytest.raises(TalksError, match=r"^proposals\[0\]\.starts_at: .*2000–2100"):
        talks_from(data)


def test_local_start_is_wall_clock_time_in_the_talks_zone() -> None:
    p = replace(v1(), starts_at=datetime(2021, 10, 4, 1, 0, tzinfo=UTC), tz="Asia/Pyongyang")
    local = local_start(p)
    assert (local.hour, local.minute) == (10, 0)
    assert local.tzinfo == ZoneInfo("Asia/Pyongyang")
    assert local == p.starts_at
    # a zone with daylight saving: the same instant is 03:00 in Berlin in summer
    summer = local_start(replace(p, tz="Europe/Berlin"))
    assert summer.hour == 3


# --- codec ------------------------------------------------------------------------------


def _via_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data, ensure_ascii=False))


@pytest.mark.parametrize("make", [
    proposed, amended, accepted,
    lambda: decline(amended(), "KOR", "too soon"),
    lambda: cancel(accepted(), "PRK", "delegation ill"),
    lambda: end(accepted(), "PRK"),
    lambda: end(accepted(), "KOR", "Both delegations concluded."),
], ids=["proposed", "amended", "accepted", "declined", "cancelled", "ended", "ended-reason"])
def test_talks_round_trip(make: Callable[[], Talks]) -> None:
    t = make()
    back = talks_from(_via_json(talks_to(t)))
    assert back == t
    assert talks_to(back) == talks_to(t)


def _talks_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = _via_json(talks_to(accepted()))
    data.update(changes)
    return data


def test_talks_from_names_the_path_of_the_bad_field() -> None:
    data = _talks_data()
    data["proposals"][1]["agenda"][0]["kind"] = "gossip"
    with pytest.raises(TalksError, match=r"^proposals\[1\]\.agenda\[0\]\.kind: 'gossip' is not "
                                         "one of agreed, concerns, urgent"):
        talks_from(data)

    data = _talks_data()
    data["proposals"][0]["tz"] = "Asia/Seul"
    with pytest.raises(TalksError, match=r"^proposals\[0\]\.tz: 'Asia/Seul'"):
        talks_from(data)

    data = _talks_data()
    data["proposals"][1]["starts_at"] = "2021-10-05T10:00:00"
    with pytest.raises(TalksError, match=r"^proposals\[1\]\.starts_at: needs a time zone"):
        talks_from(data)

    data = _talks_data()
    data["proposals"][1]["starts_at"] = "next Tuesday"
    with pytest.raises(TalksError, match=r"^proposals\[1\]\.starts_at: 'next Tuesday' is not"):
        talks_from(data)

    data = _talks_data()
    del data["proposals"][0]["duration_min"]
    with pytest.raises(TalksError, match=r"^proposals\[0\]\.duration_min: is required"):
        talks_from(data)

    data = _talks_data()
    data["proposals"][0]["duration_min"] = "120"
    with pytest.raises(TalksError, match=r"^proposals\[0\]\.duration_min: expected int, got str"):
        talks_from(data)

    data = _talks_data()
    data["proposals"][1]["delegations"]["PRK"] = "리선권"
    with pytest.raises(TalksError, match=r"^proposals\[1\]\.delegations\.PRK: expected a list"):
        talks_from(data)

    with pytest.raises(TalksError, match=r"^parties: talks have exactly two parties"):
        talks_from(_talks_data(parties=["KOR"]))
    with pytest.raises(TalksError, match=r"^state: 'maybe' is not one of"):
        talks_from(_talks_data(state="maybe"))
    with pytest.raises(TalksError, match=r"^proposals: talks have at least one proposal"):
        talks_from(_talks_data(proposals=[]))
    with pytest.raises(TalksError, match=r"^talks\.id: is required"):
        talks_from({k: v for k, v in _talks_data().items() if k != "id"}, "talks")
    with pytest.raises(TalksError, match=r"^expected an object"):
        talks_from([])  # type: ignore[arg-type]


def test_talks_from_checks_the_chain_and_the_answer() -> None:
    data = _talks_data()
    data["proposals"][1]["by"] = "KOR"
    with pytest.raises(TalksError, match=r"^proposals\[1\]: KOR made version 1"):
        talks_from(data)

    data = _talks_data()
    data["proposals"][1]["version"] = 3
    with pytest.raises(TalksError, match=r"^proposals\[1\]\.version: .*version 2, not 3"):
        talks_from(data)

    with pytest.raises(TalksError, match=r"PRK made version 2"):
        talks_from(_talks_data(answered_by="PRK"))  # accepting its own amendment
    with pytest.raises(TalksError, match=r"^answered_by: accepted talks name the party"):
        talks_from(_talks_data(answered_by=None))
    with pytest.raises(TalksError, match=r"^proposed talks have no answer yet"):
        talks_from(_talks_data(state="proposed"))
    with pytest.raises(TalksError, match=r"^reason: declining talks needs a reason"):
        talks_from(_talks_data(state="declined", reason=""))
    with pytest.raises(TalksError, match=r"^USA is not a party"):
        talks_from(_talks_data(state="cancelled", answered_by="USA", reason="x"))


def test_proposal_from_without_parties_uses_the_delegations() -> None:
    assert proposal_from(_via_json(proposal_to(v2()))) == v2()
    data = _via_json(proposal_to(v2()))
    data["delegations"]["USA"] = ["x"]
    with pytest.raises(TalksError, match=r"^p\.delegations: the delegations name exactly two"):
        proposal_from(data, "p")


_NAME = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
_TEXT = st.text(st.characters(categories=["L", "N", "P", "Zs"]), min_size=1,
                max_size=40).filter(lambda s: s.strip() != "")
_ZONES = st.sampled_from(["Asia/Seoul", "Asia/Pyongyang", "UTC", "Europe/Berlin",
                          "America/New_York", "Asia/Kolkata"])
_OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=9)),
                            timezone(timedelta(hours=-5, minutes=-30)), SEOUL])


@st.composite
def proposals(draw: st.DrawFn) -> Proposal:
    ids = draw(st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", fullmatch=True),
                        min_size=1, max_size=6, unique=True))
    agenda = tuple(AgendaItem(i, draw(st.sampled_from(list(AgendaKind))), draw(_TEXT))
                   for i in ids)
    by = draw(st.sampled_from(PARTIES))
    return Proposal(
        version=draw(st.integers(1, 40)),
        by=by,
        title=draw(_TEXT),
        starts_at=draw(st.datetimes(min_value=datetime(2000, 1, 3),
                                    max_value=datetime(2099, 12, 29), timezones=_OFFSETS)),
        tz=draw(_ZONES),
        duration_min=draw(st.integers(5, 600)),
        delegations={p: tuple(draw(st.lists(_NAME, min_size=1, max_size=4, unique=True)))
                     for p in PARTIES},
        agenda=agenda,
        note=draw(st.one_of(st.just(""), _TEXT)),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proposals())
def test_generated_proposals_round_trip(p: Proposal) -> None:
    validate_proposal(p, PARTIES)
    back = proposal_from(_via_json(proposal_to(p)), parties=PARTIES)
    assert back == p
    assert proposal_to(back) == proposal_to(p)
    assert local_start(back) == p.starts_at


# --- minutes ----------------------------------------------------------------------------


def edited() -> Minutes:
    m = draft(accepted(), "KOR")
    m = edit(m, "KOR", outcomes={"agreed-1": "Both sides reaffirmed the declaration.",
                                 "urgent-1": "Vaccine shipments to be discussed in working "
                                             "level talks."})
    m = edit(m, "PRK", attendance={"PRK": ("리선권", "김영철")},
             outcomes={"concern-1": "The liaison office reopens on 1 November."},
             agreed=("통신연락선을 복원한다", "Working-level talks within 30 days"))
    return m


def signed_by_both() -> Minutes:
    m = sign(edited(), "KOR", "kor-node-2021", KOR_KEY, SIGNED_AT)
    return sign(m, "PRK", "prk-node-1", PRK_KEY, SIGNED_AT + timedelta(minutes=5))


def test_draft_comes_from_the_accepted_proposal() -> None:
    m = draft(accepted(), "PRK")
    assert m.revision == 1
    assert m.talks_id == "talks-2021-10"
    assert m.attendance == {"KOR": ("조명균", "천해성"), "PRK": ("리선권",)}
    assert m.outcomes == {"agreed-1": "", "concern-1": "", "urgent-1": "", "concern-2": ""}
    assert m.agreed == ()
    assert m.edited_by == "PRK"
    assert not m.signatures
    assert not sealed(m)
    for t in (proposed(), cancel(accepted(), "KOR", "x")):
        with pytest.raises(TalksError, match=f"are {t.state.value}.*only accepted or ended "
                                             "talks can be minuted"):
            draft(t, "KOR")


def test_minutes_edited_by_both_then_signed_by_both_are_sealed() -> None:
    m = edited()
    assert (m.revision, m.edited_by) == (3, "PRK")
    assert m.outcomes["concern-2"] == ""
    assert m.attendance["KOR"] == ("조명균", "천해성")

    m = sign(m, "KOR", "kor-node-2021", KOR_KEY, SIGNED_AT)
    assert not sealed(m)
    verify(m, "KOR", KOR_PUBLIC)
    with pytest.raises(TalksError, match="PRK has not signed revision 3"):
        verify(m, "PRK", PUBLIC)

    m = sign(m, "PRK", "prk-node-1", PRK_KEY, SIGNED_AT)
    assert sealed(m)
    verify(m, "KOR", PUBLIC)
    verify(m, "PRK", PRK_PUBLIC)
    for by in PARTIES:
        with pytest.raises(TalksError, match=r"^the minutes are signed by both sides and "
                                             "cannot change"):
            edit(m, by, agreed=("something else",))


def test_an_edit_after_one_signature_removes_it() -> None:
    m = sign(edited(), "KOR", "kor-node-2021", KOR_KEY, SIGNED_AT)
    assert set(m.signatures) == {"KOR"}
    changed = edit(m, "PRK", outcomes={"concern-2": "Not discussed."})
    assert changed.signatures == {}
    assert changed.revision == m.revision + 1
    with pytest.raises(TalksError, match="KOR has not signed revision 4"):
        verify(changed, "KOR", PUBLIC)
    # the old signature would not verify over the new text anyway
    forged = replace(changed, signatures=m.signatures)
    with pytest.raises(TalksError, match="does not verify"):
        verify(forged, "KOR", PUBLIC)


def test_re_signing_replaces_the_signature_without_changing_the_text() -> None:
    m = sign(edited(), "KOR", "kor-node-2021", KOR_KEY, SIGNED_AT)
    again = sign(m, "KOR", "kor-node-2021", KOR_KEY, SIGNED_AT + timedelta(hours=1))
    assert minutes_bytes(again) == minutes_bytes(m)
    assert again.signatures["KOR"].signed_at == SIGNED_AT + timedelta(hours=1)
    verify(again, "KOR", PUBLIC)


def test_sealed_minutes_are_not_signed_again() -> None:
    m = signed_by_both()
    for party, key_id, key in (("KOR", "kor-node-2021", KOR_KEY),
                               ("PRK", "prk-node-1", PRK_KEY)):
        with pytest.raises(TalksError, match=r"^the minutes are signed by both sides and "
                                             "cannot be signed again"):
            sign(m, party, key_id, key, SIGNED_AT + timedelta(hours=1))


def test_verify_needs_the_right_known_key() -> None:
    m = signed_by_both()
    with pytest.raises(TalksError, match="KOR's signature \\(key 'kor-node-2021'\\) does not "
                                         "verify over revision 3"):
        verify(m, "KOR", {"kor-node-2021": OTHER_KEY.public_key()})
    with pytest.raises(TalksError, match="with key 'prk-node-1', which is not among the known "
                                         "keys \\(kor-node-2021\\)"):
        verify(m, "PRK", KOR_PUBLIC)
    with pytest.raises(TalksError, match="known keys \\(none\\)"):
        verify(m, "PRK", {})
    # a signature made with another key under a known id
    wrong = sign(edited(), "PRK", "prk-node-1", OTHER_KEY, SIGNED_AT)
    with pytest.raises(TalksError, match="does not verify"):
        verify(wrong, "PRK", PUBLIC)
    # KOR's signature filed under PRK
    swapped = replace(m, signatures={**m.signatures, "PRK": m.signatures["KOR"]})
    with pytest.raises(TalksError, match="the signature filed under PRK is KOR's"):
        verify(swapped, "PRK", PUBLIC)


def test_sign_rules() -> None:
    with pytest.raises(TalksError, match="USA is not a party to the minutes"):
        sign(edited(), "USA", "usa-1", OTHER_KEY, SIGNED_AT)
    with pytest.raises(TalksError, match=r"^signed_at: needs a time zone"):
        sign(edited(), "KOR", "kor-node-2021", KOR_KEY, datetime(2021, 10, 4, 13))
    with pytest.raises(TalksError, match=r"^key_id:"):
        sign(edited(), "KOR", "", KOR_KEY, SIGNED_AT)


def test_edit_rules() -> None:
    m = edited()
    with pytest.raises(TalksError, match=r"^outcomes: 'concern-9' is not an item of the "
                                         "accepted agenda"):
        edit(m, "KOR", outcomes={"concern-9": "x"})
    with pytest.raises(TalksError, match=r"^outcomes\.urgent-1: is 4001 characters; at most 4000"):
        edit(m, "KOR", outcomes={"urgent-1": "x" * 4001})
    edit(m, "KOR", outcomes={"urgent-1": "x" * 4000})
    edit(m, "KOR", outcomes={"urgent-1": ""})  # an outcome may be cleared
    with pytest.raises(TalksError, match=r"^agreed: has 101 points; at most 100"):
        edit(m, "KOR", agreed=tuple(f"point {i}" for i in range(101)))
    with pytest.raises(TalksError, match=r"^agreed\[1\]: is 2001 characters"):
        edit(m, "KOR", agreed=("ok", "x" * 2001))
    with pytest.raises(TalksError, match=r"^agreed\[0\]: is required"):
        edit(m, "KOR", agreed=(" ",))
    with pytest.raises(TalksError, match=r"^attendance: 'USA' is not a party"):
        edit(m, "KOR", attendance={"USA": ("x",)})
    with pytest.raises(TalksError, match=r"^attendance\.PRK: PRK has 0 names"):
        edit(m, "KOR", attendance={"PRK": ()})
    with pytest.raises(TalksError, match="the edit changes nothing in revision 3"):
        edit(m, "KOR", agreed=m.agreed)
    with pytest.raises(TalksError, match="USA is not a party to the minutes"):
        edit(m, "USA", agreed=("x",))


def test_minutes_bytes_are_canonical() -> None:
    m = edited()
    data = minutes_bytes(m)
    assert data.startswith(b"liaison-minutes-v1\0{")
    assert "통신연락선을 복원한다".encode() in data  # UTF-8, not \\u escapes
    reordered = replace(m, attendance=dict(reversed(list(m.attendance.items()))),
                        outcomes=dict(reversed(list(m.outcomes.items()))))
    assert minutes_bytes(reordered) == data
    assert minutes_bytes(signed_by_both()) == data  # signatures are not part of the text
    body = json.loads(data.split(b"\0", 1)[1])
    assert set(body) == {"talks_id", "revision", "attendance", "outcomes", "agreed",
                         "edited_by"}
    assert data.split(b"\0", 1)[1] == json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_minutes_round_trip_and_still_verify() -> None:
    for m in (draft(accepted(), "KOR"), edited(), signed_by_both()):
        back = minutes_from(_via_json(minutes_to(m)))
        assert back == m
        assert minutes_bytes(back) == minutes_bytes(m)
    back = minutes_from(_via_json(minutes_to(signed_by_both())))
    assert sealed(back)
    verify(back, "KOR", PUBLIC)
    verify(back, "PRK", PUBLIC)


def _minutes_data() -> dict[str, Any]:
    data: dict[str, Any] = _via_json(minutes_to(signed_by_both()))
    return data


def test_minutes_from_names_the_path_of_the_bad_field() -> None:
    data = _minutes_data()
    data["signatures"]["KOR"]["value"] = "not base64!"
    with pytest.raises(TalksError, match=r"^m\.signatures\.KOR\.value: is not base64"):
        minutes_from(data, "m")
    data = _minutes_data()
    data["signatures"]["KOR"]["value"] = "AAAA"
    with pytest.raises(TalksError, match=r"^signatures\.KOR\.value: is 3 bytes; an Ed25519"):
        minutes_from(data)
    data = _minutes_data()
    data["signatures"]["KOR"]["party"] = "PRK"
    with pytest.raises(TalksError, match=r"^signatures\.KOR\.party: the signature filed "
                                         "under KOR is PRK's"):
        minutes_from(data)
    data = _minutes_data()
    data["signatures"]["USA"] = data["signatures"]["KOR"]
    with pytest.raises(TalksError, match=r"^signatures: 'USA' is not a party"):
        minutes_from(data)
    data = _minutes_data()
    data["signatures"]["PRK"]["signed_at"] = "2021-10-04T13:00:00"
    with pytest.raises(TalksError, match=r"^signatures\.PRK\.signed_at: needs a time zone"):
        minutes_from(data)
    data = _minutes_data()
    data["attendance"]["PRK"] = [""]
    with pytest.raises(TalksError, match=r"^attendance\.PRK\[0\]: is required"):
        minutes_from(data)
    data = _minutes_data()
    data["attendance"]["USA"] = ["x"]
    with pytest.raises(TalksError, match=r"^attendance: the attendance names exactly two"):
        minutes_from(data)
    data = _minutes_data()
    data["outcomes"]["bad id!"] = ""
    with pytest.raises(TalksError, match=r"^outcomes: 'bad id!' is not an agenda id"):
        minutes_from(data)
    data = _minutes_data()
    data["revision"] = 0
    with pytest.raises(TalksError, match=r"^revision: 0 is not a revision number"):
        minutes_from(data)
    data = _minutes_data()
    data["edited_by"] = "USA"
    with pytest.raises(TalksError, match=r"^edited_by: 'USA' is not a party"):
        minutes_from(data)
    data = _minutes_data()
    data["agreed"] = ["x" * 2001]
    with pytest.raises(TalksError, match=r"^agreed\[0\]: is 2001 characters"):
        minutes_from(data)


# --- tampering --------------------------------------------------------------------------


def _rename_first(m: Minutes) -> Minutes:
    prk = m.attendance["PRK"]
    return replace(m, attendance={**m.attendance, "PRK": ("리선건", *prk[1:])})


def _nfd_name(m: Minutes) -> Minutes:
    kor = m.attendance["KOR"]
    return replace(m, attendance={**m.attendance,
                                  "KOR": (unicodedata.normalize("NFD", kor[0]), *kor[1:])})


TAMPERINGS: list[tuple[str, Callable[[Minutes], Minutes]]] = [
    ("attendance name changed", _rename_first),
    ("attendance name in NFD", _nfd_name),
    ("attendance name added", lambda m: replace(m, attendance={
        **m.attendance, "KOR": (*m.attendance["KOR"], "서훈")})),
    ("attendance name removed", lambda m: replace(m, attendance={
        **m.attendance, "PRK": m.attendance["PRK"][:1]})),
    ("attendance order swapped", lambda m: replace(m, attendance={
        **m.attendance, "KOR": tuple(reversed(m.attendance["KOR"]))})),
    ("attendance sides swapped", lambda m: replace(m, attendance={
        "KOR": m.attendance["PRK"], "PRK": m.attendance["KOR"]})),
    ("outcome changed", lambda m: replace(m, outcomes={
        **m.outcomes, "concern-1": "The liaison office reopens on 1 December."})),
    ("empty outcome filled", lambda m: replace(m, outcomes={**m.outcomes, "concern-2": "."})),
    ("outcome removed", lambda m: replace(m, outcomes={
        k: v for k, v in m.outcomes.items() if k != "urgent-1"})),
    ("outcome added", lambda m: replace(m, outcomes={**m.outcomes, "urgent-2": "x"})),
    ("agreed point changed", lambda m: replace(m, agreed=(
        m.agreed[0], "Working-level talks within 60 days"))),
    ("agreed point added", lambda m: replace(m, agreed=(*m.agreed, "Family reunions"))),
    ("agreed point dropped", lambda m: replace(m, agreed=m.agreed[1:])),
    ("agreed points reordered", lambda m: replace(m, agreed=tuple(reversed(m.agreed)))),
    ("trailing space", lambda m: replace(m, agreed=(m.agreed[0] + " ", *m.agreed[1:]))),
    ("revision bumped", lambda m: replace(m, revision=m.revision + 1)),
    ("revision rolled back", lambda m: replace(m, revision=m.revision - 1)),
    ("talks id changed", lambda m: replace(m, talks_id="talks-2021-11")),
    ("editor changed", lambda m: replace(m, edited_by="KOR")),
]


def _rejected_by_both(m: Minutes) -> bool:
    """Both signatures fail to verify over the (changed) text."""
    messages = []
    for party in PARTIES:
        try:
            verify(m, party, PUBLIC)
        except TalksError as exc:
            messages.append(str(exc))
    return len(messages) == len(PARTIES) and all("does not verify" in s for s in messages)


def test_tampered_minutes_are_rejected() -> None:
    m = signed_by_both()
    assert sealed(m)
    for party in PARTIES:
        verify(m, party, PUBLIC)
    rejected = [name for name, mutate in TAMPERINGS if _rejected_by_both(mutate(m))]
    # each mutation really changed the text
    assert all(minutes_bytes(mutate(m)) != minutes_bytes(m) for _, mutate in TAMPERINGS)
    n = len(TAMPERINGS)
    print(f"tampered minutes rejected {len(rejected)} of {n}")
    assert rejected == [name for name, _ in TAMPERINGS]


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_changing_any_character_of_an_agreed_point_breaks_both_signatures(
        data: st.DataObject) -> None:
    m = signed_by_both()
    i = data.draw(st.integers(0, len(m.agreed) - 1), label="point")
    point = m.agreed[i]
    j = data.draw(st.integers(0, len(point) - 1), label="character")
    ch = data.draw(st.characters(exclude_characters=[point[j]], exclude_categories=["Cs"]),
                   label="replacement")
    changed = point[:j] + ch + point[j + 1:]
    tampered = replace(m, agreed=(*m.agreed[:i], changed, *m.agreed[i + 1:]))
    assert _rejected_by_both(tampered)


# --- both sides at once ------------------------------------------------------------------

KEYS = {"KOR": KOR_PUBLIC, "PRK": PRK_PUBLIC}


def test_two_edits_of_the_same_revision_do_not_swap_the_copies() -> None:
    """KOR and PRK both edit revision 3: each refuses the other's revision 4 (its own edit
    stands) instead of taking it, which used to leave each side with the other's text."""
    base = edited()
    kor = edit(base, "KOR", agreed=("KOR's wording",))
    prk = edit(base, "PRK", agreed=("PRK's wording",))
    assert kor.revision == prk.revision == 4
    for mine, theirs, sender in ((kor, prk, "PRK"), (prk, kor, "KOR")):
        with pytest.raises(TalksError, match=rf"^revision 4 of the minutes was edited here "
                                             rf"\(by {mine.edited_by}\) and by {sender} at "
                                             "the same time; ours stands"):
            receive_minutes(mine, theirs, sender, KEYS)
    # the next edit (revision 5, by KOR on its own text) is taken by PRK
    nxt = edit(kor, "KOR", outcomes={"concern-2": "Not discussed."})
    assert receive_minutes(prk, nxt, "KOR", KEYS) == nxt


def test_two_signatures_of_the_same_revision_are_merged() -> None:
    base = edited()
    kor = sign(base, "KOR", "kor-node-2021", KOR_KEY, SIGNED_AT)
    prk = sign(base, "PRK", "prk-node-1", PRK_KEY, SIGNED_AT)
    at_kor = receive_minutes(kor, prk, "PRK", KEYS)
    at_prk = receive_minutes(prk, kor, "KOR", KEYS)
    assert at_kor == at_prk and sealed(at_kor)
    assert at_kor.signatures["KOR"] == kor.signatures["KOR"]
    assert at_kor.signatures["PRK"] == prk.signatures["PRK"]
    # the same copy again changes nothing; an unsigned copy does not remove a signature
    assert receive_minutes(at_kor, prk, "PRK", KEYS) == at_kor
    assert receive_minutes(kor, base, "PRK", KEYS) == kor


def test_the_sender_cannot_file_a_signature_for_us_or_an_edit_in_our_name() -> None:
    base = edited()  # revision 3, edited by PRK
    prk_signed = sign(base, "PRK", "prk-node-1", PRK_KEY, SIGNED_AT)
    forged = replace(prk_signed, signatures={**prk_signed.signatures, "KOR": replace(
        prk_signed.signatures["PRK"], party="KOR", key_id="kor-node-2021")})
    with pytest.raises(TalksError, match=r"KOR's signature .* does not verify"):
        receive_minutes(base, forged, "PRK", KEYS)
    ours = edit(base, "KOR", agreed=("x",))  # revision 4 edited by KOR, sent by PRK
    with pytest.raises(TalksError, match=r"^edited_by: revision 4 of the minutes is edited "
                                         "by KOR; PRK can only send its own edits"):
        receive_minutes(base, ours, "PRK", KEYS)
    with pytest.raises(TalksError, match=r"revision 3 of the minutes is older than ours \(4\)"):
        receive_minutes(edit(base, "KOR", agreed=("y",)), prk_signed, "PRK", KEYS)
    with pytest.raises(TalksError, match=r"not among the known keys \(none\)"):
        receive_minutes(base, prk_signed, "PRK", {"KOR": KOR_PUBLIC})


def test_sealed_minutes_here_take_no_later_revision() -> None:
    done = signed_by_both()
    later = replace(edit(edited(), "PRK", agreed=("z",)), revision=done.revision + 1)
    with pytest.raises(TalksError, match="signed by both sides and cannot change"):
        receive_minutes(done, later, "PRK", KEYS)
    assert receive_minutes(done, done, "PRK", KEYS) == done


def test_minutes_must_fit_their_talks() -> None:
    t, m = accepted(), edited()
    check_minutes(t, m)
    with pytest.raises(TalksError, match=r"^talks_id: these are the minutes of talks 'x'"):
        check_minutes(t, replace(m, talks_id="x"))
    with pytest.raises(TalksError, match=r"^attendance: the attendance must name the parties "
                                         "KOR and PRK, not KOR, USA"):
        check_minutes(t, replace(m, attendance={"KOR": ("a",), "USA": ("b",)}))
    with pytest.raises(TalksError, match=r"^outcomes: urgent-9 not in the accepted agenda"):
        check_minutes(t, replace(m, outcomes={**m.outcomes, "urgent-9": "x"}))
    check_minutes(t, replace(m, outcomes={"agreed-1": "only one"}))  # a subset is fine
    with pytest.raises(TalksError, match="are proposed: only accepted or ended talks can be "
                                         "minuted"):
        check_minutes(proposed(), m)


def test_signature_type_is_plain_data() -> None:
    s = signed_by_both().signatures["KOR"]
    assert isinstance(s, Signature)
    assert (s.party, s.key_id, s.signed_at) == ("KOR", "kor-node-2021", SIGNED_AT)
    assert len(s.value) == 88  # base64 of 64 bytes


def test_a_relay_is_configured_by_url_and_refused_otherwise(tmp_path: Path) -> None:
    from liaison.config import Settings
    from liaison.node.composition import _relay
    got = _relay(Settings(data_dir=tmp_path, talks_relay="turn:10.1.2.3:3478, turns:r:5349",
                          talks_relay_username="u", talks_relay_credential="c"))
    assert got == {"urls": ["turn:10.1.2.3:3478", "turns:r:5349"], "username": "u",
                   "credential": "c"}
    assert _relay(Settings(data_dir=tmp_path)) is None
    with pytest.raises(ValueError, match="not a turn"):
        _relay(Settings(data_dir=tmp_path, talks_relay="http://relay"))
