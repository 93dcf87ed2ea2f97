"""Who may record what on an agreement: the authority rule for a partner's ``note``.

Pure: given the agreement as this node records it, the sending party, the proposed event
and this node's date, ``note_refusal`` answers ``None`` (allowed) or the reason for
refusing. Each check is numbered after the practice it follows (docs/rules.md#own-acts,
docs/rules.md#term-and-renewal and docs/rules.md#notice-2019); the first that fails gives the
reason. A refused note changes nothing.

``act_refusal`` holds the checks that apply to every recorded act, our administrator's
included: an act on a notice names the party that gave it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from liaison.domain.agreement_lifecycle import (
    IN_FORCE_STATES,
    LifecycleRules,
    Status,
    notice_givers,
    notified,
    status_at,
)
from liaison.domain.agreements import Agreement, AgreementEvent, EventKind

# Two ministries' clocks and days differ: time zones span UTC-12 to UTC+14, so a note
# written on the sender's day may be dated our tomorrow. One day covers that and a
# little clock drift; anything later is a date in the future, refused.
CLOCK_SKEW = timedelta(days=1)
MAX_NOTE_CHARS = 2000  # the note's text: a sentence or a paragraph, never a document
ON_NOTICE = frozenset({EventKind.NOTICE_SUSPENDED, EventKind.NOTICE_REACTIVATED,
                       EventKind.NOTICE_WITHDRAWN})
# In an arrangement of several parties a party may record only what binds itself alone:
# its notification of entry into force and its own withdrawal (docs/rules.md#own-acts: one
# party's act binds only itself unless the text says otherwise).
MULTILATERAL_KINDS = frozenset({EventKind.ENTERED_INTO_FORCE, EventKind.NOTIFIED,
                                EventKind.WITHDRAWN})


def as_recorded(event: AgreementEvent) -> AgreementEvent:
    """A party's note of entry into force is recorded as what it is: that party's
    notification (docs/rules.md#term-and-renewal), which changes our status only with ours."""
    if event.kind is EventKind.ENTERED_INTO_FORCE:
        return replace(event, kind=EventKind.NOTIFIED)
    return event


def note_refusal(agreement: Agreement, sender: str, us: str, event: AgreementEvent,
                 today: date, rules: LifecycleRules | None = None) -> str | None:
    """``None`` when ``sender`` may record ``event`` on ``agreement`` at our node."""
    rules, event = rules or LifecycleRules(), as_recorded(event)
    for check in (_parties, _own_act, _kind_for_role, _dated, _in_order, _text):
        reason = check(agreement, sender, us, event, today)
        if reason:
            return reason
    return (_not_ended(agreement, event, rules)
            or _entry_into_force(agreement, sender, event, rules)
            or act_refusal(agreement, event, rules))


ENDED = frozenset({Status.TERMINATED, Status.EXPIRED, Status.WITHDRAWN})


def _not_ended(a: Agreement, e: AgreementEvent, rules: LifecycleRules) -> str | None:
    # 7. Termination is final (docs/rules.md#after-termination): nothing a
    #    partner records after the end can change anything, so nothing is recorded.
    status = status_at(a, e.on, rules)
    if status.state in ENDED:
        return f"{a.id} has ended ({status.explanation}): nothing more to record on {e.on}"
    return None


def _parties(a: Agreement, sender: str, us: str, e: AgreementEvent, today: date) -> str | None:
    # 1. No partner touches an agreement between other parties: both the sender and this
    #    node are parties to it (docs/rules.md#own-acts).
    if sender not in a.parties or us not in a.parties:
        return f"{sender} is not a party to {a.id} with {us}: it cannot change it"
    return None


def _own_act(a: Agreement, sender: str, us: str, e: AgreementEvent, today: date) -> str | None:
    # 2. A partner records only its own acts (docs/rules.md#own-acts): the act names the
    #    sender as the party that acted.
    if e.by != sender:
        return f"a note from {sender} can only record {sender}'s own act, not {e.by or 'a fact'}"
    return None


def _kind_for_role(a: Agreement, sender: str, us: str, e: AgreementEvent,
                   today: date) -> str | None:
    # 3a. Signature is a joint act at the signing, recorded by each side's administrator:
    #     a note does not sign for anyone.
    if e.kind is EventKind.SIGNED:
        return f"a signature of {a.id} is recorded by our administrator, not by a note"
    # 3b. In an arrangement of several parties, one party's act binds only itself. (In a
    #     bilateral agreement a party's notice or termination ends the exchange for both:
    #     it can only stop transfers, never start them.)
    if a.multilateral and e.kind not in MULTILATERAL_KINDS:
        return (f"{a.id} binds {len(a.parties)} parties: {sender}'s note can record only its "
                f"notification or its own withdrawal, which bind {sender} alone")
    return None


def _dated(a: Agreement, sender: str, us: str, e: AgreementEvent, today: date) -> str | None:
    # 4. A partner's act is dated no earlier than the agreement's signature and no later
    #    than our clock plus a small skew (docs/rules.md#own-acts).
    signed = a.signed_on
    if signed is None:
        return f"{a.id} has no signature recorded here: nothing to act on yet"
    if e.on < signed:
        return f"dated {e.on}, before {a.id} was signed ({signed})"
    if e.on > today + CLOCK_SKEW:
        return f"dated {e.on}, in the future (our date is {today})"
    return None


def _in_order(a: Agreement, sender: str, us: str, e: AgreementEvent,
              today: date) -> str | None:
    # 5. A party's own acts come in the order it made them; only its own record orders
    #    them, so a partner's statement never blocks ours, nor ours its.
    own = [x for x in a.events if x.by == sender]
    if own and e.on < own[-1].on:
        return f"dated {e.on}, before {sender}'s last recorded act ({own[-1].kind} on {own[-1].on})"
    return None


def _text(a: Agreement, sender: str, us: str, e: AgreementEvent, today: date) -> str | None:
    # 6. Everything stored is bounded: the note's text is short.
    if len(e.note) > MAX_NOTE_CHARS:
        return f"note text longer than {MAX_NOTE_CHARS} characters"
    return None


def _entry_into_force(a: Agreement, sender: str, e: AgreementEvent,
                      rules: LifecycleRules) -> str | None:
    # 8. Entry into force takes both sides (docs/rules.md#term-and-renewal):
    #    the sender notifies once, and only while the agreement is not yet in force; its
    #    note is its notification, never ours.
    if e.kind is not EventKind.NOTIFIED:
        return None
    if status_at(a, e.on, rules).state in IN_FORCE_STATES:
        return f"{a.id} is already in force on {e.on}: a notification changes nothing"
    if sender in notified(a, e.on, rules):
        return f"{sender}'s notification of entry into force is already recorded"
    return None


def act_refusal(agreement: Agreement, event: AgreementEvent,
                rules: LifecycleRules | None = None) -> str | None:
    """Checks for every act with a party, our administrator's included."""
    # 9. Only the party that gave a notice may suspend, reactivate or withdraw it
    #    (docs/rules.md#own-acts). An act without a party is our
    #    administrator's record and applies to the notice in effect.
    if event.kind not in ON_NOTICE or event.by is None:
        return None
    givers = notice_givers(agreement, event.on, rules)
    if event.by in givers:
        return None
    if event.kind is EventKind.NOTICE_REACTIVATED and not givers:
        return None  # counts as a notice given that day (docs/rules.md#notice-2019)
    if not givers:
        return f"no notice of termination of {agreement.id} is in effect on {event.on}"
    others = ", ".join(sorted(g or "an unnamed party" for g in givers))
    return (f"only the party that gave a notice may {event.kind.split('_')[1].lower()} it: "
            f"the notice in effect on {event.on} was given by {others}, not {event.by}")
