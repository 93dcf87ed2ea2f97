"""Talks between governments: proposals and answers, the live call's record (presence,
WebRTC signals, chat) and the minutes both sides sign — all carried node to node like every
message, under an MOU in force that opens talks.

Each side's delegates only ever talk to their own node: a signal for a remote delegate is
stored here, sent to the partner's node over the signed, encrypted channel, stored there
and pushed to that delegate's page.

Who may do what: the node's ``delegate`` role (its talks team) lists, views, proposes,
answers and keeps the minutes; only the people its party's delegation of the accepted
proposal names join the call. Everything but calling talks off (cancel, end) needs the MOU
in force today, here and on the partner's node. Every refusal changes nothing.

Where things live: ``negotiation`` (propose and answer), ``minutes_book`` (draft, edit, sign
and verify the minutes), ``call`` (joining, live events, the roster), ``shared`` (the MOU,
loading, storing and sending, the view). Import this package (``services.talks``), which
names the entry points below (what the API and the partner message table call).
"""

from __future__ import annotations

from liaison.services.talks.call import (
    FLAGS,
    apply_live,
    live_event,
    live_events,
    live_state,
    may_join,
    participant_id,
    record_of,
    roster,
    session_ends,
)
from liaison.services.talks.minutes_book import apply_minutes, minutes, verify_minutes
from liaison.services.talks.negotiation import answer, apply_talks, list_talks, propose, view
from liaison.services.talks.shared import view_of

__all__ = [
    "APPLIERS", "FLAGS", "answer", "apply_live", "apply_minutes", "apply_talks", "list_talks",
    "live_event", "live_events", "live_state", "may_join", "minutes", "participant_id",
    "propose", "record_of", "roster", "session_ends", "verify_minutes", "view", "view_of",
]

APPLIERS = {"talks": apply_talks, "talks_minutes": apply_minutes, "talks_live": apply_live}
