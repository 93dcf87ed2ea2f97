"""Issue 17: a hostile partner with real keys, sealing valid envelopes, cannot send our
deliveries elsewhere (a card's address is https or refused; the transport fails closed)
nor make our audit verification fail with an answer to a checkpoint we never sent.
(Its hotline traffic: tests/unit/test_hotline_hostile.py.)"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.federation.keystore import Keystore
from liaison.federation.transport import HttpTransport, TransportError
from liaison.services import checkpoints, federation
from liaison.services.context import Deps
from liaison.services.errors import Refused
from liaison.services.ports import OutboxMessage, Peer
from tests.twins import MemoryState, MemoryUnitOfWork

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ADMIN = User("admin", "", frozenset({Role.ADMIN}), Clearance(4))
IDS = itertools.count()


class Node:
    def __init__(self, party: str, root: Path, address: str = "") -> None:
        self.party = party
        self.keys = Keystore.create(root / party.lower() / "keys", NOW)
        self.state = MemoryState()
        self.deps = Deps(uow=lambda: MemoryUnitOfWork(self.state), party=party,
                         clock=lambda: NOW, ids=lambda: f"{party}-{next(IDS)}",
                         keyring=self.keys,
                         address=address or f"https://{party.lower()}.example")

    def card(self, address: str | None = None) -> dict[str, Any]:
        return asdict(self.keys.card(self.party, address or self.deps.address, NOW))

    def trust(self, other: Node) -> Peer:
        return federation.add_peer(self.deps, ADMIN, other.party, other.deps.address,
                                   other.keys.fingerprint, other.card())

    def send(self, to: Node, kind: str, payload: dict[str, Any]) -> list[str]:
        """Seal ``payload`` as this node would (its real keys) and deliver it to ``to``;
        the reasons ``to`` gave."""
        message = OutboxMessage(f"h{next(IDS)}", to.party, next(IDS) + 1, kind, payload,
                                NOW, "pending")
        _, wire = federation.seal_batch(self.deps, self.state.peers[to.party], [message])
        return deliver(to, wire)

    def flush(self, to: Node) -> list[str]:
        """Deliver this node's queue for ``to`` as its sender would."""
        got = federation.next_batch(self.deps, to.party)
        assert got is not None
        _, wire = federation.seal_batch(self.deps, got[0], got[1])
        return deliver(to, wire)


def deliver(to: Node, wire: bytes) -> list[str]:
    """``to`` receives ``wire``; the reasons it refused messages for, as audited."""
    federation.receive(to.deps, wire, checkpoints.APPLIERS)
    received = [r for r in to.state.audit if r.action == "envelope.received"][-1]
    return [reason for _, outcome, reason in received.details["messages"]
            if outcome == "refused"]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Node, Node]:
    kor, jpn = Node("KOR", tmp_path), Node("JPN", tmp_path)
    kor.trust(jpn)
    jpn.trust(kor)
    return kor, jpn


# --- "Send our deliveries anywhere" -----------------------------------------------------

@pytest.mark.parametrize("address", [
    "http://jpn.example", "http://jpn.example:8443", "https://user:pw@jpn.example",
    "https://jpn.example/elsewhere", "https://jpn.example?to=x", "https://jpn.example#x",
    "ftp://jpn.example", "jpn.example", "https://", "https://jpn.example:99999",
])
def test_a_card_whose_address_is_not_https_host_port_is_refused(
        tmp_path: Path, address: str) -> None:
    kor, jpn = Node("KOR", tmp_path), Node("JPN", tmp_path)
    with pytest.raises(Refused, match="federation address"):
        federation.add_peer(kor.deps, ADMIN, "JPN", "https://jpn.example",
                            jpn.keys.fingerprint, jpn.card(address))
    assert kor.state.peers == {}


def test_an_https_card_is_taken_in_one_form(tmp_path: Path) -> None:
    kor, jpn = Node("KOR", tmp_path), Node("JPN", tmp_path)
    peer = federation.add_peer(kor.deps, ADMIN, "JPN", "https://ignored.example",
                               jpn.keys.fingerprint, jpn.card("https://jpn.example:8443/"))
    assert peer.address == "https://jpn.example:8443"


@pytest.fixture
def plain_http() -> Iterator[tuple[str, list[str]]]:
    """A plain-HTTP listener that takes anything posted to it."""
    got: list[str] = []

    class Take(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Take)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", got
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_transport_never_sends_to_an_address_that_is_not_https(
        pair: tuple[Node, Node], plain_http: tuple[str, list[str]]) -> None:
    """An http address already in the database (from before cards were checked) is
    refused at sending: fail closed, nothing reaches it."""
    kor, _ = pair
    url, got = plain_http
    peer = kor.state.peers["JPN"]
    stored = Peer(peer.party, url, peer.fingerprint, peer.card, peer.added_at)

    async def once() -> bytes:
        transport = HttpTransport(None, timeout=2.0)
        try:
            return await transport.send(stored, b"sealed envelope")
        finally:
            await transport.close()

    with pytest.raises(TransportError, match="https"):
        asyncio.run(once())
    assert got == []


# --- "An unsolicited refused countersignature" ------------------------------------------

def _verified(kor: Node) -> dict[str, Any]:
    return checkpoints.verify(kor.deps, ADMIN)


def _refusal(size: int, root: str, head: str, at: datetime) -> dict[str, Any]:
    return {"size": size, "root": root, "head_hash": head, "at": at.isoformat(),
            "consistent": False, "reason": "your history was rewritten"}


def test_an_unsolicited_refusal_never_fails_our_verification(
        pair: tuple[Node, Node]) -> None:
    kor, jpn = pair
    assert _verified(kor)["ok"] is True
    refused = jpn.send(kor, checkpoints.REPLY, _refusal(7, "a" * 64, "b" * 64, NOW))
    assert refused and "no checkpoint" in refused[0]
    assert _verified(kor) == {"countersigned": 0, "ok": True, "problems": [],
                              "witnesses": []}
    assert [r for r in kor.state.audit if r.action == "audit.countersign.refused"]


def test_a_mismatched_or_second_answer_is_refused(pair: tuple[Node, Node]) -> None:
    kor, jpn = pair
    sent = checkpoints.send(kor.deps, None)
    at = datetime.fromisoformat(sent["at"])
    other = jpn.send(kor, checkpoints.REPLY,
                     _refusal(sent["size"], "c" * 64, sent["head_hash"], at))
    assert other and "no checkpoint" in other[0]
    assert _verified(kor)["ok"] is True
    kor.flush(jpn)  # the honest witness countersigns
    jpn.flush(kor)
    assert _verified(kor) == {"countersigned": 1, "ok": True, "problems": [],
                              "witnesses": ["JPN"]}
    late = jpn.send(kor, checkpoints.REPLY,
                    _refusal(sent["size"], sent["root"], sent["head_hash"], at))
    assert late and "answered already" in late[0]
    assert _verified(kor)["ok"] is True
