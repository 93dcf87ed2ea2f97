"""Hotline channels under an MOU: messages with precedence, acknowledgements, check calls,
severance — each carried node to node as a signed message (see ``domain.hotline``).

- ``line``: the acts on a line (open, send, acknowledge, check calls, sever, re-open) and
  the scheduler's passes (``place_due_calls``, ``sweep``);
- ``transcript``: what a watch officer reads (``view``, ``transcript``, ``Watch``);
- ``appliers``: the partner's traffic, applied here (``APPLIERS``).

The names below are the channel's service as the API, the node and the tests call it
(``hotline.send``, ``hotline.view``); inside ``services``, import the module that holds
the name.
"""

from liaison.services.hotline.appliers import (
    APPLIERS,
    apply_ack,
    apply_reopen,
    apply_sever,
    apply_traffic,
)
from liaison.services.hotline.line import (
    RULES,
    acknowledge,
    channels,
    check_call,
    open_channel,
    place_due_calls,
    reopen,
    schedule_of,
    send,
    sever,
    sweep,
)
from liaison.services.hotline.transcript import MAX_PAGE, PAGE, Watch, position, transcript, view

__all__ = [
    "APPLIERS", "MAX_PAGE", "PAGE", "RULES", "Watch", "acknowledge", "apply_ack",
    "apply_reopen", "apply_sever", "apply_traffic", "channels", "check_call", "open_channel",
    "place_due_calls", "position", "reopen", "schedule_of", "send", "sever", "sweep",
    "transcript", "view",
]
