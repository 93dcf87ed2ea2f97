"""Issue 17 point 7: the partner whose certificate delivers an envelope over mutual TLS
must be the envelope's signed sender. Three real nodes; USA, holding what JPN signed
(here: JPN's keys, as a replay or a theft would), delivers it to KOR over its own mutual
TLS connection: KOR refuses it with the reason and applies nothing. The same envelope
delivered with JPN's own certificate is taken."""

from __future__ import annotations

import itertools
import ssl
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from liaison.crypto.keys import verify_card
from liaison.federation.keystore import Keystore
from liaison.federation.tls import client_context
from liaison.services import federation
from liaison.services.context import Deps
from liaison.services.ports import OutboxMessage, Peer
from tests.twins import MemoryState, MemoryUnitOfWork

from .processes import NodeProcess

RFI = {"id": "Q-7", "topic": "DPRK/missile", "event": "launch", "priority": "urgent",
       "deadline": "2099-01-01T00:00:00+00:00", "purpose": "warning"}
IDS = itertools.count(1)


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[dict[str, NodeProcess]]:
    nodes = {p: NodeProcess(p, tmp_path) for p in ("KOR", "JPN", "USA")}
    try:
        prints = {p: n.init() for p, n in nodes.items()}
        for n in nodes.values():
            n.start()
            n.login()
        for p in ("JPN", "USA"):
            nodes["KOR"].trust(nodes[p], prints[p])
        yield nodes
    finally:
        for n in nodes.values():
            n.stop()


def keys(node: NodeProcess) -> Keystore:
    return Keystore.load(Path(node.data) / "keys")


def sealed_by(node: NodeProcess, to: NodeProcess) -> bytes:
    """An envelope ``node`` signs and seals for ``to`` with its real keys."""
    now = datetime.now(UTC)
    ring, theirs = keys(node), keys(to)
    card = asdict(theirs.card(to.party, to.url, now))
    peer = Peer(to.party, to.url, theirs.fingerprint, verify_card(card, theirs.fingerprint),
                now)
    deps = Deps(uow=lambda: MemoryUnitOfWork(MemoryState()), party=node.party,
                clock=lambda: datetime.now(UTC), ids=lambda: f"e{next(IDS)}", keyring=ring)
    message = OutboxMessage(f"m{next(IDS)}", to.party, next(IDS), "rfi", RFI, now, "pending")
    return federation.seal_batch(deps, peer, [message])[1]


def deliver(wire: bytes, over: NodeProcess, to: NodeProcess) -> httpx.Response:
    """``wire`` posted to ``to``'s inbox over a mutual TLS connection made with ``over``'s
    certificate."""
    cert, key = keys(over).tls_files
    ctx: ssl.SSLContext = client_context(cert, key, keys(to).tls_files[0].read_text())
    with httpx.Client(verify=ctx, timeout=30) as client:
        return client.post(f"https://127.0.0.1:{to.federation_port}/federation/v1/inbox",
                           content=wire)


def test_an_envelope_delivered_by_another_partner_is_refused(
        trio: dict[str, NodeProcess]) -> None:
    kor, jpn, usa = trio["KOR"], trio["JPN"], trio["USA"]
    wire = sealed_by(jpn, kor)
    refused = deliver(wire, usa, kor)
    assert refused.status_code == 400, refused.text
    assert "signed by JPN but was delivered with USA's TLS certificate" in refused.text
    assert actions(kor) == ["envelope.refused"]
    taken = deliver(wire, jpn, kor)
    assert taken.status_code == 200, taken.text
    assert actions(kor) == ["envelope.refused", "envelope.received"]
    received = next(r for r in kor.call("GET", "/api/audit?limit=1000")
                if r["action"] == "envelope.received")
    assert [m[1] for m in received["details"]["messages"]] == ["applied"]


def actions(node: NodeProcess) -> list[str]:
    return [r["action"] for r in node.call("GET", "/api/audit?limit=1000")
            if r["action"].startswith("envelope.")]
