"""Every kind of message a partner may send this node, and the function that applies it.

One table, handed by the node (``liaison.node.serving``) to the federation inbox, and used
by the tests that drive every kind (``tests/assurance/test_hostile_partner.py``): a kind
added here is a kind the hostile-partner harness must cover."""

from __future__ import annotations

from liaison.services import (
    agreements,
    areas,
    checkpoints,
    hotline,
    protection,
    receiving,
    requests,
    talks,
)
from liaison.services.federation import Applier

APPLIERS: dict[str, Applier] = {
    "release": receiving.apply_release, "note": agreements.apply_note, **requests.APPLIERS,
    **protection.APPLIERS, **hotline.APPLIERS, **areas.APPLIERS, **talks.APPLIERS,
    **checkpoints.APPLIERS}
