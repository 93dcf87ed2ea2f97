"""Plain-data (JSON) forms of talks and their minutes, both ways. Pure: no I/O.

Decoding reads fields with the kit of ``decoding`` and validates with the rules of
``talks`` and ``minutes``: every refusal is a ``TalksError`` naming the field
(``proposals[1].agenda[0].kind``), so a partner's or a person's input can be fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from liaison.domain.decoding import (
    CodecError,
    Data,
    enum_field,
    field_of,
    join,
    parse_datetime,
    strings,
)
from liaison.domain.minutes import (
    OUTCOME_MAX,
    Minutes,
    Signature,
    agreed_points,
    signature_bytes,
    signed_fields,
)
from liaison.domain.talks import (
    AGENDA_MAX,
    ID,
    AgendaItem,
    AgendaKind,
    Proposal,
    Talks,
    TalksError,
    TalksState,
    accept,
    amend,
    by_party,
    cancel,
    check_proposal,
    checked_text,
    decline,
    end,
    party_code,
    propose,
    record_id,
)

T = TypeVar("T")


@contextmanager
def _talks_errors() -> Iterator[None]:
    """A field the kit refuses is refused as talks refuse theirs: a ``TalksError``."""
    try:
        yield
    except CodecError as exc:
        raise TalksError(exc.message, exc.path) from exc


def _at(path: str, fn: Callable[[], T]) -> T:
    """Run ``fn``; put a ``TalksError`` without a path at ``path``."""
    try:
        return fn()
    except TalksError as exc:
        raise TalksError(exc.message, join(path, exc.path) if exc.path else path) from exc


# --- proposals and talks -------------------------------------------------------------------


def proposal_to(p: Proposal) -> dict[str, Any]:
    return {
        "version": p.version,
        "by": p.by,
        "title": p.title,
        "starts_at": p.starts_at.isoformat(),
        "tz": p.tz,
        "duration_min": p.duration_min,
        "delegations": {party: list(names) for party, names in p.delegations.items()},
        "agenda": [{"id": a.id, "kind": a.kind.value, "title": a.title} for a in p.agenda],
        "note": p.note,
    }


def proposal_from(data: Data, path: str = "",
                  parties: tuple[str, str] | None = None) -> Proposal:
    """A validated proposal. Without ``parties`` the two parties are the delegations' keys."""
    with _talks_errors():
        return _proposal_from(data, path, parties)


def _proposal_from(data: Data, path: str, parties: tuple[str, str] | None) -> Proposal:
    dp = join(path, "delegations")
    delegations: dict[str, tuple[str, ...]] = {}
    for party, names in field_of(data, "delegations", path, dict).items():
        party_code(party, dp)
        delegations[party] = tuple(strings(names, f"{dp}.{party}"))
    if parties is None:
        if len(delegations) != 2:
            raise TalksError(f"the delegations name exactly two parties, not "
                             f"{len(delegations)}", dp)
        a, b = delegations
        parties = (a, b)
    agenda_path = join(path, "agenda")
    agenda = []
    for i, item in enumerate(field_of(data, "agenda", path, list)):
        ip = f"{agenda_path}[{i}]"
        agenda.append(AgendaItem(id=field_of(item, "id", ip, str),
                                 kind=enum_field(AgendaKind, item, "kind", ip),
                                 title=field_of(item, "title", ip, str)))
    p = Proposal(
        version=field_of(data, "version", path, int),
        by=field_of(data, "by", path, str),
        title=field_of(data, "title", path, str),
        starts_at=parse_datetime(field_of(data, "starts_at", path, str),
                                 join(path, "starts_at"), keep_offset=True),
        tz=field_of(data, "tz", path, str),
        duration_min=field_of(data, "duration_min", path, int),
        delegations=delegations,
        agenda=tuple(agenda),
        note=field_of(data, "note", path, str, default=""),
    )
    check_proposal(p, parties, path)
    return p


def talks_to(t: Talks) -> dict[str, Any]:
    return {
        "id": t.id,
        "agreement_id": t.agreement_id,
        "parties": list(t.parties),
        "proposals": [proposal_to(p) for p in t.proposals],
        "state": t.state.value,
        "answered_by": t.answered_by,
        "reason": t.reason,
    }


def talks_from(data: Data, path: str = "") -> Talks:
    """Validated talks: the proposals must be the chain ``propose`` and ``amend`` make
    (versions 1, 2, ... alternating between the parties, proposer first), and the state,
    ``answered_by`` and ``reason`` must be an answer the rules allow."""
    with _talks_errors():
        return _talks_from(data, path)


def _talks_from(data: Data, path: str) -> Talks:
    raw_parties = strings(field_of(data, "parties", path, list), join(path, "parties"))
    if len(raw_parties) != 2:
        raise TalksError(f"talks have exactly two parties, not {len(raw_parties)}",
                         join(path, "parties"))
    parties = (party_code(raw_parties[0], join(path, "parties[0]")),
               party_code(raw_parties[1], join(path, "parties[1]")))
    raw_proposals = field_of(data, "proposals", path, list)
    if not raw_proposals:
        raise TalksError("talks have at least one proposal", join(path, "proposals"))
    proposals = [proposal_from(p, f"{join(path, 'proposals')}[{i}]", parties)
                 for i, p in enumerate(raw_proposals)]
    state = enum_field(TalksState, data, "state", path, default="proposed")
    answered_by = field_of(data, "answered_by", path, str, default=None)
    reason = field_of(data, "reason", path, str, default="")
    talks_id = record_id(field_of(data, "id", path, str), join(path, "id"))
    agreement_id = record_id(field_of(data, "agreement_id", path, str),
                             join(path, "agreement_id"))

    t = _at(join(path, "proposals[0]"),
            lambda: propose(talks_id, agreement_id, parties[0], parties[1], proposals[0]))
    for i, p in enumerate(proposals[1:], start=1):
        t = _at(f"{join(path, 'proposals')}[{i}]", partial(amend, t, p.by, p))
    return _answered(t, state, answered_by, reason, path)


def _answered(t: Talks, state: TalksState, answered_by: str | None, reason: str,
              path: str) -> Talks:
    """The talks ``t`` (the chain of proposals) after the answer the data records."""
    if state is TalksState.PROPOSED:
        if answered_by is not None or reason:
            raise TalksError("proposed talks have no answer yet (answered_by and reason "
                             "are empty)", path)
        return t
    if answered_by is None:
        raise TalksError(f"{state.value} talks name the party that answered",
                         join(path, "answered_by"))
    if state is TalksState.ACCEPTED:
        if reason:
            raise TalksError("accepted talks carry no reason", join(path, "reason"))
        return _at(path, partial(accept, t, answered_by, t.current.version))
    if state is TalksState.DECLINED:
        return _at(path, partial(decline, t, answered_by, reason))
    if state is TalksState.ENDED:
        accepted = _at(path, partial(accept, t, t.other(t.current.by), t.current.version))
        return _at(path, partial(end, accepted, answered_by, reason))
    return _at(path, partial(cancel, t, answered_by, reason))


# --- minutes -----------------------------------------------------------------------------


def minutes_to(m: Minutes) -> dict[str, Any]:
    return {
        **signed_fields(m),
        "signatures": {p: {"party": s.party, "key_id": s.key_id, "value": s.value,
                           "signed_at": s.signed_at.isoformat()}
                       for p, s in m.signatures.items()},
    }


def minutes_from(data: Data, path: str = "") -> Minutes:
    """Validated minutes. Structure and limits only: whether the outcome ids are the
    accepted agenda's and whether signatures verify is for ``check_minutes``, ``verify`` and
    the caller."""
    with _talks_errors():
        return _minutes_from(data, path)


def _minutes_from(data: Data, path: str) -> Minutes:
    talks_id = record_id(field_of(data, "talks_id", path, str), join(path, "talks_id"))
    revision = field_of(data, "revision", path, int)
    if revision < 1:
        raise TalksError(f"{revision} is not a revision number (1, 2, ...)",
                         join(path, "revision"))
    ap = join(path, "attendance")
    raw_att = field_of(data, "attendance", path, dict)
    if len(raw_att) != 2:
        raise TalksError(f"the attendance names exactly two parties, not {len(raw_att)}", ap)
    for party in raw_att:
        party_code(party, ap)
    a, b = raw_att
    attendance = by_party(raw_att, (a, b), ap, "the attendance")
    outcomes = _outcomes_from(field_of(data, "outcomes", path, dict), join(path, "outcomes"))
    agreed = agreed_points(field_of(data, "agreed", path, list, default=[]),
                           join(path, "agreed"))
    edited_by = field_of(data, "edited_by", path, str)
    if edited_by not in attendance:
        raise TalksError(f"{edited_by!r} is not a party to these minutes",
                         join(path, "edited_by"))
    signatures = _signatures_from(field_of(data, "signatures", path, dict, default={}),
                                  attendance, join(path, "signatures"))
    return Minutes(talks_id, revision, attendance, outcomes, agreed, edited_by, signatures)


def _outcomes_from(raw: dict[str, Any], op: str) -> dict[str, str]:
    if not 1 <= len(raw) <= AGENDA_MAX:
        raise TalksError(f"has {len(raw)} agenda items; 1–{AGENDA_MAX} are allowed", op)
    outcomes: dict[str, str] = {}
    for item_id, text in raw.items():
        if not ID.fullmatch(item_id):
            raise TalksError(f"{item_id!r} is not an agenda id", op)
        outcomes[item_id] = checked_text(text, f"{op}.{item_id}", max_len=OUTCOME_MAX,
                                         min_len=0)
    return outcomes


def _signatures_from(raw: dict[str, Any], attendance: Mapping[str, Any],
                     sp: str) -> dict[str, Signature]:
    signatures: dict[str, Signature] = {}
    for party, fields in raw.items():
        pp = f"{sp}.{party}"
        if party not in attendance:
            raise TalksError(f"{party!r} is not a party to these minutes", sp)
        signer = party_code(field_of(fields, "party", pp, str), join(pp, "party"))
        if signer != party:
            raise TalksError(f"the signature filed under {party} is {signer}'s",
                             join(pp, "party"))
        value = field_of(fields, "value", pp, str)
        signature_bytes(value, join(pp, "value"))
        signatures[party] = Signature(
            party=signer,
            key_id=record_id(field_of(fields, "key_id", pp, str), join(pp, "key_id")),
            value=value,
            signed_at=parse_datetime(field_of(fields, "signed_at", pp, str),
                                     join(pp, "signed_at"), keep_offset=True),
        )
    return signatures
