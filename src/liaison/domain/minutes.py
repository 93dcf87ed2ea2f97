"""The minutes of talks: drafted from the accepted proposal, edited by both sides, sealed once
both have signed. Pure: no I/O.

Either side drafts the minutes from the accepted proposal (its delegations as the attendance,
one empty outcome per agenda item), both sides edit them, then each signs the canonical bytes
(``minutes_bytes``) with its node's Ed25519 key (``crypto.signed_minutes``). Once both have
signed, the minutes are sealed and cannot change (nor be signed again). ``merge_received``
decides what a side keeps of the other's copy when both edit or sign at the same time.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from liaison.domain.talks import (
    Talks,
    TalksError,
    TalksState,
    checked_text,
    delegate_names,
    need_state,
)

AGREED_MAX = 100  # agreed points in the minutes
AGREED_POINT_MAX = 2000
OUTCOME_MAX = 4000
SIGNATURE_BYTES = 64  # Ed25519
MINUTES_DOMAIN = b"liaison-minutes-v1\0"


@dataclass(frozen=True, slots=True)
class Signature:
    party: str
    key_id: str
    value: str  # base64 of the Ed25519 signature over ``minutes_bytes``
    signed_at: datetime  # not covered by the signature (it is about the signing, not the text)


@dataclass(frozen=True)
class Minutes:
    """The record of the talks. Its outcome keys are the accepted agenda's item ids, fixed
    when the draft is made; edits may change the texts but not the set of ids."""

    talks_id: str
    revision: int
    attendance: Mapping[str, tuple[str, ...]]  # party -> who attended
    outcomes: Mapping[str, str]  # agenda item id -> outcome text
    agreed: tuple[str, ...]  # agreed points
    edited_by: str
    signatures: Mapping[str, Signature] = field(default_factory=dict)  # party -> signature


def need_minutes(t: Talks) -> None:
    """Raise unless ``t`` may have minutes: accepted (the call open or ended)."""
    need_state(t, "minuted", TalksState.ACCEPTED, TalksState.ENDED)


def check_minutes(t: Talks, m: Minutes) -> None:
    """Raise unless ``m`` can be the minutes of ``t``: talks that may have minutes, the same
    id, an attendance of exactly the talks' parties and outcomes only for items of the
    accepted agenda."""
    need_minutes(t)
    if m.talks_id != t.id:
        raise TalksError(f"these are the minutes of talks {m.talks_id!r}, not {t.id}",
                         "talks_id")
    if set(m.attendance) != set(t.parties):
        raise TalksError(f"the attendance must name the parties {t.parties[0]} and "
                         f"{t.parties[1]}, not {', '.join(sorted(m.attendance))}",
                         "attendance")
    extra = sorted(set(m.outcomes) - {item.id for item in t.current.agenda})
    if extra:
        raise TalksError(f"{', '.join(extra)} not in the accepted agenda of talks {t.id} "
                         f"({', '.join(item.id for item in t.current.agenda)})", "outcomes")


def draft(t: Talks, by: str) -> Minutes:
    """Revision 1 of the minutes of accepted (or ended) talks: the accepted proposal's
    delegations as the attendance, an empty outcome per agenda item, no agreed points."""
    t.other(by)
    need_minutes(t)
    p = t.current
    return Minutes(
        talks_id=t.id,
        revision=1,
        attendance={party: tuple(p.delegations[party]) for party in t.parties},
        outcomes={item.id: "" for item in p.agenda},
        agreed=(),
        edited_by=by,
    )


def sealed(m: Minutes) -> bool:
    """Both parties of the attendance have signed."""
    return len(m.attendance) == 2 and all(p in m.signatures for p in m.attendance)


def _check_editor(m: Minutes, by: str, action: str) -> None:
    if by not in m.attendance:
        raise TalksError(f"{by} is not a party to the minutes of talks {m.talks_id} "
                         f"({' and '.join(m.attendance)}); it cannot {action} them")


def edit(m: Minutes, by: str, *, attendance: Mapping[str, tuple[str, ...]] | None = None,
         outcomes: Mapping[str, str] | None = None,
         agreed: tuple[str, ...] | None = None) -> Minutes:
    """The next revision, edited by ``by`` (either party).

    ``attendance`` replaces the names of the parties it lists; ``outcomes`` replaces the
    texts of the agenda ids it lists (only the ids of the draft, i.e. of the accepted
    agenda); ``agreed`` replaces all agreed points. An edit that changes nothing is refused.

    Signatures: sealed minutes (both sides signed) cannot change. If ONE side has signed,
    the edit removes its signature: it signed an earlier revision, and the new text must be
    signed again (the revision number is part of the signed bytes, so the old signature
    would not verify anyway).
    """
    _check_editor(m, by, "edit")
    if sealed(m):
        raise TalksError("the minutes are signed by both sides and cannot change "
                         f"(talks {m.talks_id}, revision {m.revision})")
    parties = _two(m)
    new_attendance = dict(m.attendance)
    if attendance is not None:
        if not isinstance(attendance, Mapping):
            raise TalksError("expected party -> names", "attendance")
        for party, names in attendance.items():
            if party not in parties:
                raise TalksError(f"{party!r} is not a party to these minutes "
                                 f"({parties[0]}, {parties[1]})", "attendance")
            new_attendance[party] = delegate_names(names, f"attendance.{party}", party)
    new_outcomes = dict(m.outcomes)
    if outcomes is not None:
        if not isinstance(outcomes, Mapping):
            raise TalksError("expected agenda id -> outcome text", "outcomes")
        for item_id, text in outcomes.items():
            if item_id not in m.outcomes:
                raise TalksError(f"{item_id!r} is not an item of the accepted agenda "
                                 f"({', '.join(m.outcomes)})", "outcomes")
            new_outcomes[item_id] = checked_text(text, f"outcomes.{item_id}",
                                                 max_len=OUTCOME_MAX, min_len=0)
    new_agreed = m.agreed if agreed is None else agreed_points(agreed, "agreed")
    if (new_attendance, new_outcomes, new_agreed) == (dict(m.attendance), dict(m.outcomes),
                                                     tuple(m.agreed)):
        raise TalksError(f"the edit changes nothing in revision {m.revision}")
    return Minutes(m.talks_id, m.revision + 1, new_attendance, new_outcomes, new_agreed,
                   by, {})


def _two(m: Minutes) -> tuple[str, str]:
    parties = tuple(m.attendance)
    if len(parties) != 2:
        raise TalksError("the minutes name exactly two parties", "attendance")
    return parties[0], parties[1]


def agreed_points(value: object, path: str) -> tuple[str, ...]:
    """``value`` as the agreed points of the minutes."""
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise TalksError(f"expected a list of agreed points, got {type(value).__name__}", path)
    if len(value) > AGREED_MAX:
        raise TalksError(f"has {len(value)} points; at most {AGREED_MAX}", path)
    return tuple(checked_text(v, f"{path}[{i}]", max_len=AGREED_POINT_MAX)
                 for i, v in enumerate(value))




# --- what both sides sign -----------------------------------------------------------------


def signed_fields(m: Minutes) -> dict[str, Any]:
    """Every field of ``m`` but the signatures, as plain data: the text both sides sign."""
    return {
        "talks_id": m.talks_id,
        "revision": m.revision,
        "attendance": {p: list(names) for p, names in m.attendance.items()},
        "outcomes": dict(m.outcomes),
        "agreed": list(m.agreed),
        "edited_by": m.edited_by,
    }


def minutes_bytes(m: Minutes) -> bytes:
    """The canonical bytes both sides sign: every field except the signatures, as JSON with
    sorted keys and no spaces, UTF-8 (non-ASCII kept as is), after a domain-separation
    prefix. Names keep their order; no Unicode normalization is applied."""
    text = json.dumps(signed_fields(m), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    return MINUTES_DOMAIN + text.encode("utf-8")


def signature_bytes(value: str, path: str) -> bytes:
    """The raw signature that ``value`` (base64) carries: ``TalksError`` at ``path`` unless
    it is base64 of exactly the length of an Ed25519 signature."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise TalksError("is not base64", path) from exc
    if len(raw) != SIGNATURE_BYTES:
        raise TalksError(f"is {len(raw)} bytes; an Ed25519 signature is {SIGNATURE_BYTES}",
                         path)
    return raw


def need_signer(m: Minutes, party: str) -> None:
    """Raise unless ``party`` may sign ``m`` now: a party to the minutes, which are not yet
    sealed (sealed minutes are not signed again: both copies must stay the same)."""
    _check_editor(m, party, "sign")
    if sealed(m):
        raise TalksError("the minutes are signed by both sides and cannot be signed again "
                         f"(talks {m.talks_id}, revision {m.revision})")


def merge_received(local: Minutes | None, incoming: Minutes, sender: str) -> Minutes:
    """What this side keeps when ``sender`` sends its copy ``incoming`` of the minutes (this
    side's copy is ``local``), once every signature on ``incoming`` has verified
    (``crypto.signed_minutes.receive_minutes`` checks them first):

    * none here, or an older revision here: ``incoming`` replaces it, if ``sender`` made it
      (``edited_by``) and ours is not sealed;
    * the same revision with the same text: the signatures are merged (our own signature as
      we hold it, the sender's as it sends it), so two signatures made at the same time
      both count;
    * the same revision with another text (both sides edited the same revision at the same
      time), or an older revision: refused; our copy stands, and whoever edits next makes a
      revision both sides take.
    """
    if local is not None and incoming.revision <= local.revision:
        if incoming.revision < local.revision:
            raise TalksError(f"revision {incoming.revision} of the minutes is older than "
                             f"ours ({local.revision}); ours stands")
        if minutes_bytes(incoming) != minutes_bytes(local):
            raise TalksError(f"revision {incoming.revision} of the minutes was edited here "
                             f"(by {local.edited_by}) and by {sender} at the same time; "
                             "ours stands: reload and edit again")
        theirs = {p: s for p, s in incoming.signatures.items()
                  if p == sender or p not in local.signatures}
        return replace(local, signatures={**local.signatures, **theirs})
    if incoming.edited_by != sender:
        raise TalksError(f"revision {incoming.revision} of the minutes is edited by "
                         f"{incoming.edited_by}; {sender} can only send its own edits",
                         "edited_by")
    if local is not None and sealed(local):
        raise TalksError("the minutes here are signed by both sides and cannot change "
                         f"(revision {local.revision})")
    return incoming
