"""Node to node: partners, batches of messages in signed and encrypted envelopes, the inbox
(verify, dedupe, apply each message in its own savepoint) and signed receipts.

A batch envelope carries up to ``deps.outbox_batch`` outbox messages of one peer and one
lane (``domain.lanes``), in sequence order; one HPKE encryption and one signature cover the
batch (docs/rules.md#exactly-once). The receiver answers with a receipt envelope giving each
message's verdict: ``applied`` (older nodes say ``accepted``; both are read), ``duplicate`` (applied
before), ``refused`` with the reason (an authority or validity check said no: it will say
no again) or ``failed`` (an internal error here: the message's effects are rolled back to
its savepoint, the rest of the batch is applied and committed, the partner is told only
the error's class name, the log and the audit log get the details).

- ``partners``: the partners this node trusts (``add_peer``, ``list_peers``, ``get_peer``);
- ``envelopes``: the node's keyring, and opening an envelope from a partner;
- ``outbox``: sending, in order per partner and lane, and settling receipts;
- ``inbox``: receiving, exactly once, and answering with a receipt.

The names below are the federation service as the sender, the listeners and the tests
call it (``federation.receive``, ``federation.enqueue``); inside ``services``, import the
module that holds the name.
"""

from liaison.services.federation.envelopes import (
    ENVELOPE_LIFETIME,
    Outcome,
    Refresh,
    keyring,
    open_from_peer,
)
from liaison.services.federation.inbox import Applier, delivery_problem, receive
from liaison.services.federation.outbox import (
    DELIVERED,
    MAX_BATCH_BYTES,
    enqueue,
    message_size,
    next_batch,
    note_failure,
    seal_batch,
    settle_receipt,
)
from liaison.services.federation.partners import add_peer, get_peer, list_peers

__all__ = [
    "DELIVERED", "ENVELOPE_LIFETIME", "MAX_BATCH_BYTES", "Applier", "Outcome", "Refresh",
    "add_peer", "delivery_problem", "enqueue", "get_peer", "keyring", "list_peers",
    "message_size", "next_batch", "note_failure", "open_from_peer", "receive", "seal_batch",
    "settle_receipt",
]
