"""Fail closed: faults injected in the release engine, the database, the key store and the
transport release and deliver nothing (the assurance issue, part 7).

What these tests prove, on real SQLite storage, real key files and real sockets:

- **Release engine and label equivalence**: a fault raised anywhere on the way to a
  release (the compiled policy, a portion's verdict, the equivalence table, the engine
  past its own guard, the two-person conclusion, the facts, the content check, the
  partner's attachments, the item's wire form, the partner's TAXII collection after the
  message was queued) leaves the request unreleased (pending, or blocked with the
  engine's "fail closed" reason), queues no message, adds no ledger entry and writes no
  ``release.released`` audit record; the error names the fault.
- **Database**: a failing commit or query (outbox, ledger, audit, releases, items,
  agreements, TAXII) during a release has the same result; during a delivery, a failing
  query or commit at the receiver or at the sender before sending leaves the partner
  without the item or an inbox row and the sender's message pending. A fault after the
  partner committed (the sender settling the receipt) claims no delivery, and the next
  attempt is acknowledged as a duplicate, applied once.
- **Key store**: the sender's signing key deleted, unreadable, corrupt, of the wrong type
  or replaced by another key, its key list corrupt, its identity key missing; the
  receiver's encryption key deleted or corrupt; a stored partner card altered or listing
  no usable key: nothing reaches the partner, the message stays pending.
- **Transport** (the node's HTTP transport against misbehaving servers): connection
  refused, no answer (timeout), a reset, not HTTP, a partial body, 5xx, a redirect, an
  empty or garbage answer, a truncated receipt, a receipt for another envelope, a receipt
  forged in the partner's name, the envelope echoed back: nothing is marked delivered.
- **A running node** (real processes): with its signing key file corrupt, deleted or
  replaced, a release approved through the API is queued but nothing leaves, and the
  node's log says why; with an attachment's file damaged on disk, the approval is refused
  with a clear 409 and nothing is released. Once repaired, the release is delivered once.

Figure: ``fail closed: faults injected N, releases caused 0``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
import sqlalchemy as sa
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from liaison.config import Settings
from liaison.crypto.envelope import Header, payload_json, raw_public, read_header, seal, utc
from liaison.crypto.keys import private_pem, x25519_public
from liaison.domain.labels import Clearance
from liaison.domain.review import ReleaseRequest
from liaison.domain.users import Role, User
from liaison.federation.keystore import Keystore
from liaison.federation.transport import HttpTransport
from liaison.node.composition import open_storage
from liaison.services import agreements, federation, receiving, releases
from liaison.services.context import Deps
from liaison.services.items import create_item
from liaison.services.ports import Peer
from liaison.services.setup import initialise_node
from liaison.storage import tables
from liaison.storage.unit_of_work import SqlUnitOfWork

from ..integration.node_fixtures import PASSWORD, SEED
from ..integration.processes import NodeProcess, trusting_pair, wait_for

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def person(name: str, role: Role) -> User:
    return User(name, name, frozenset({role}), Clearance(4))


ADMIN, KIM = person("admin", Role.ADMIN), person("kim", Role.ANALYST)
LEE, PARK, CHOI = (person("lee", Role.RELEASE_OFFICER), person("park", Role.REVIEWER),
                   person("choi", Role.REVIEWER))


def label(level: str, rel_to: list[str]) -> dict[str, Any]:
    return {"policy": "KOR", "classification": level, "originator": "KOR",
            "created": "2026-01-05T00:00:00Z", "rel_to": rel_to}


ITEM: dict[str, Any] = {
    "id": "R1", "discipline": "IMINT", "topic": "DPRK/missile", "grade": "A2",
    "title": "TEL at Sunchon", "reported_at": "2026-01-05T00:00:00Z",
    "portions": [{"id": "p1", "content": "TEL sighted",
                  "label": label("군사II급비밀", ["JPN", "USA"])},
                 {"id": "p2", "content": "source", "label": label("군사I급비밀", ["USA"])}]}


class Injected(RuntimeError):
    """A fault injected by these tests."""


def db_error(where: str) -> sa.exc.OperationalError:
    return sa.exc.OperationalError(f"-- {where}", None,
                                   Exception(f"disk I/O error (injected at {where})"))


# --- the tally -----------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    fault: str
    error: str  # the error as it surfaced; "" when none did
    caused: bool  # anything released, queued, delivered or settled


@dataclass
class Tally:
    trials: list[Trial] = field(default_factory=list)

    def add(self, trials: list[Trial]) -> None:
        self.trials.extend(trials)


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    """Collects every trial of this module; prints the figure at the end."""
    found = Tally()
    yield found
    caused = sum(t.caused for t in found.trials)
    print(f"\nfail closed: faults injected {len(found.trials)}, releases caused {caused}")
    assert caused == 0, [t.fault for t in found.trials if t.caused]


def assert_closed(trials: list[Trial], surfaced: Callable[[Trial], bool]) -> None:
    """Every fault released nothing and surfaced an error ``surfaced`` recognises."""
    opened = [t.fault for t in trials if t.caused]
    silent = [f"{t.fault}: {t.error or 'no error'}" for t in trials if not surfaced(t)]
    assert opened == [], opened
    assert silent == [], silent


# --- nodes on SQLite with a faulty unit of work ----------------------------------------


@dataclass
class Faults:
    """Where units of work fail: ``commit`` or one repository method (``outbox.enqueue``);
    ``""`` for nowhere."""

    at: str = ""

    @contextmanager
    def armed(self, at: str) -> Iterator[None]:
        self.at = at
        try:
            yield
        finally:
            self.at = ""


class FaultyUnitOfWork(SqlUnitOfWork):
    """The node's own SQL unit of work, failing where ``faults`` says."""

    def __init__(self, engine: sa.Engine, faults: Faults) -> None:
        super().__init__(engine)
        self.faults = faults

    def __enter__(self) -> Self:
        super().__enter__()
        repo, _, method = self.faults.at.partition(".")
        if method:
            setattr(getattr(self, repo), method, _raising(self.faults.at))
        return self

    def commit(self) -> None:
        if self.faults.at == "commit":
            raise db_error("commit")
        super().commit()


def _raising(where: str) -> Callable[..., Any]:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise db_error(where)

    return fail


@dataclass
class Side:
    party: str
    engine: sa.Engine
    faults: Faults
    keys_dir: Path
    deps: Deps

    def restart(self) -> None:
        """Load the keys from disk again, as a restarted node does."""
        self.deps = replace(self.deps, keyring=Keystore.load(self.keys_dir))

    @property
    def keys(self) -> Keystore:
        assert isinstance(self.deps.keyring, Keystore)
        return self.deps.keyring

    def card(self) -> dict[str, Any]:
        return asdict(self.keys.card(self.party, self.deps.address, NOW))

    def key_file(self, kind: str) -> Path:
        return self.keys_dir / f"{self.keys.current(kind, NOW).id}.pem"


def build_side(root: Path, party: str) -> Side:
    settings = Settings(data_dir=root / party.lower())
    engine, plain = open_storage(settings)
    initialise_node(plain, party, "admin", PASSWORD, lambda: NOW)
    keys_dir = settings.data_dir / "keys"
    Keystore.create(keys_dir, NOW)
    faults = Faults()
    # a message the partner fails to apply is offered again at once, and never given up
    deps = Deps(uow=lambda: FaultyUnitOfWork(engine, faults), party=party,
                clock=lambda: NOW, keyring=Keystore.load(keys_dir),
                address=f"https://{party.lower()}.example", outbox_retry_s=0.0,
                outbox_failed_attempts=10**6)
    for data in yaml.safe_load(SEED.read_text())["agreements"]:
        agreements.add_agreement(deps, ADMIN, data)
    return Side(party, engine, faults, keys_dir, deps)


@dataclass(frozen=True)
class Seen:
    """What a release or a delivery would change, at both ends."""

    released: int
    queued: int
    delivered: int
    ledger: int
    released_audit: int
    receipted_audit: int
    partner_items: int
    partner_inbox: int


Carry = Callable[[Peer, bytes], bytes]


@dataclass
class World:
    kor: Side
    jpn: Side

    def seen(self) -> Seen:
        with SqlUnitOfWork(self.kor.engine) as k, SqlUnitOfWork(self.jpn.engine) as j:
            actions = Counter(r.action for r in k.audit.list(limit=10**6))
            return Seen(len(k.releases.list(state="released", limit=10**6, offset=0)),
                        k.outbox.count(peer="JPN"), k.outbox.count(peer="JPN",
                                                                   state="delivered"),
                        len(k.ledger.list()), actions["release.released"],
                        actions["envelope.receipted"], j.items.count(), j.inbox.count())

    def loopback(self, _peer: Peer, wire: bytes) -> bytes:
        return federation.receive(self.jpn.deps, wire, {"release": receiving.apply_release})

    def deliver(self, carry: Carry | None = None) -> list[federation.Outcome]:
        """One round of the outbox sender: next batch, sealed, carried, receipt settled."""
        found = federation.next_batch(self.kor.deps, "JPN")
        assert found is not None, "nothing is pending for JPN"
        peer, messages = found
        header, wire = federation.seal_batch(self.kor.deps, peer, messages)
        answer = (carry or self.loopback)(peer, wire)
        return federation.settle_receipt(self.kor.deps, peer, header, messages, answer)

    def pending_request(self) -> str:
        """A release to JPN with one approval of the two it needs."""
        req = releases.request_release(self.kor.deps, LEE, "R1", "JPN", "early warning",
                                       NOW.date())
        releases.review(self.kor.deps, PARK, req.id, True, None, "")
        return req.id

    def final_approval(self, request_id: str) -> Callable[[], ReleaseRequest]:
        """The second approval, which releases when nothing is wrong."""
        return partial(releases.review, self.kor.deps, CHOI, request_id, True, None, "")

    def release_now(self) -> ReleaseRequest:
        return releases.review(self.kor.deps, CHOI, self.pending_request(), True, None, "")

    def trial(self, fault: str, attempt: Callable[[], object]) -> Trial:
        before = self.seen()
        try:
            result = attempt()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = _blocked(result)
        after = self.seen()
        if error.startswith(FAILED):  # its receipt is kept; the message stays pending
            after = replace(after, receipted_audit=before.receipted_audit)
        return Trial(fault, error, after != before)


FAILED = "failed at the partner"


def _blocked(result: object) -> str:
    if isinstance(result, ReleaseRequest) and result.state.value == "blocked":
        return f"blocked: {result.state_reason}"
    if isinstance(result, list) and any(getattr(o, "outcome", "") == "failed" for o in result):
        return f"{FAILED}: {'; '.join(o.reason for o in result)}"
    return ""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    kor, jpn = build_side(tmp_path, "KOR"), build_side(tmp_path, "JPN")
    for a, b in ((kor, jpn), (jpn, kor)):
        federation.add_peer(a.deps, ADMIN, b.party, b.deps.address, b.keys.fingerprint,
                            b.card())
    create_item(kor.deps, KIM, ITEM)
    try:
        yield World(kor, jpn)
    finally:
        kor.engine.dispose()
        jpn.engine.dispose()


# --- the release engine --------------------------------------------------------------

POLICY_FAULTS = {
    "the compiled policy raises": "liaison.domain.release.ReleasePolicy.for_partner",
    "a portion's verdict raises": "liaison.domain.release_rules.portion_verdict",
    "label equivalence raises (translate)":
        "liaison.domain.agreements.EquivalenceTable.translate",
    "label equivalence raises (common name)":
        "liaison.domain.agreements.EquivalenceTable.common_name",
    "the engine raises past its own guard": "liaison.services.releases.decide",
    "the two-person conclusion raises": "liaison.services.releases.conclude",
    "the release facts cannot be loaded": "liaison.services.releases.facts",
    "the content check raises": "liaison.services.content.check",
    "the partner's attachments raise": "liaison.services.attachments.for_partner",
    "the item's wire form raises": "liaison.services.releases.item_to",
    "the TAXII collection raises after the message was queued":
        "liaison.services.taxii.publish_release",
}


def test_faults_in_the_release_engine_release_nothing(
        world: World, tally: Tally, monkeypatch: pytest.MonkeyPatch) -> None:
    trials = []
    for fault, target in POLICY_FAULTS.items():
        request_id = world.pending_request()

        def boom(*_args: Any, fault: str = fault, **_kwargs: Any) -> Any:
            raise Injected(f"injected: {fault}")

        with monkeypatch.context() as patch:
            patch.setattr(target, boom)
            trials.append(world.trial(fault, world.final_approval(request_id)))
        state = releases.get_request(world.kor.deps, LEE, request_id).state.value
        assert state in ("pending", "blocked"), (fault, state)
    tally.add(trials)
    assert_closed(trials, lambda t: "injected" in t.error)
    assert any(t.error.startswith("blocked") and "fail closed" in t.error for t in trials)
    assert world.release_now().state.value == "released"  # the world itself works


# --- the database --------------------------------------------------------------------

AT_RELEASE = ("commit", "releases.get", "releases.update", "items.get", "agreements.get",
              "agreements.list", "consents.list", "ledger.list", "ledger.add",
              "outbox.enqueue", "audit.append", "taxii.add")
AT_RECEIVER = ("commit", "peers.list", "inbox.seen_many", "inbox.add", "items.add",
               "agreements.get", "ledger.add", "audit.append")
AT_SENDER = ("peers.get", "outbox.pending")


def test_database_faults_during_a_release_release_nothing(world: World,
                                                          tally: Tally) -> None:
    trials = []
    for at in AT_RELEASE:
        request_id = world.pending_request()
        with world.kor.faults.armed(at):
            trials.append(world.trial(f"database fault at release: {at}",
                                      world.final_approval(request_id)))
        request = releases.get_request(world.kor.deps, LEE, request_id)
        assert (request.state.value, request.approvals) == ("pending", 1), at
    tally.add(trials)
    assert_closed(trials, lambda t: "injected at" in t.error)
    assert world.release_now().state.value == "released"


def test_database_faults_during_a_delivery_deliver_nothing(world: World,
                                                           tally: Tally) -> None:
    world.release_now()
    trials = []
    for side, points in ((world.jpn, AT_RECEIVER), (world.kor, AT_SENDER)):
        for at in points:
            with side.faults.armed(at):
                trials.append(world.trial(f"database fault at {side.party}: {at}",
                                          world.deliver))
    tally.add(trials)
    # a fault inside the applier fails that message alone (its savepoint): the partner
    # answers "failed" and the sender keeps it pending; elsewhere the envelope fails
    assert_closed(trials, lambda t: "injected at" in t.error or t.error.startswith(FAILED))
    assert [o.outcome for o in world.deliver()] == ["applied"]
    assert (world.seen().delivered, world.seen().partner_items) == (1, 1)


def test_a_fault_after_the_partners_commit_claims_nothing_and_is_applied_once(
        world: World) -> None:
    """The receipt cannot be recorded: the message stays pending; the next attempt is
    acknowledged as a duplicate and the partner holds one copy."""
    world.release_now()
    for at in ("outbox.settle_all", "commit"):
        with world.kor.faults.armed(at), pytest.raises(sa.exc.OperationalError):
            world.deliver()
        seen = world.seen()
        assert (seen.delivered, seen.receipted_audit) == (0, 0), at
        assert (seen.partner_items, seen.partner_inbox) == (1, 1), at
    assert [o.outcome for o in world.deliver()] == ["duplicate"]
    assert (world.seen().delivered, world.seen().partner_items) == (1, 1)


# --- the key store -------------------------------------------------------------------


@contextmanager
def damaged(path: Path, how: str, content: bytes = b"") -> Iterator[None]:
    """``path`` deleted, made a directory (unreadable as a file) or overwritten; put
    back afterwards."""
    original = path.read_bytes()
    if how == "deleted":
        path.unlink()
    elif how == "directory":
        path.unlink()
        path.mkdir()
    else:
        path.write_bytes(content)
    try:
        yield
    finally:
        if path.is_dir():
            path.rmdir()
        path.write_bytes(original)


def key_file_faults(w: World) -> dict[str, tuple[Side, Path, str, bytes]]:
    sign, enc = w.kor.key_file("signing"), w.jpn.key_file("encryption")
    stranger = private_pem(Ed25519PrivateKey.generate())
    return {
        "KOR's signing key deleted": (w.kor, sign, "deleted", b""),
        "KOR's signing key unreadable": (w.kor, sign, "directory", b""),
        "KOR's signing key corrupt": (w.kor, sign, "overwritten", b"-----BEGIN junk"),
        "KOR's signing key of the wrong type": (
            w.kor, sign, "overwritten", private_pem(X25519PrivateKey.generate())),
        "KOR's signing key replaced by another key": (w.kor, sign, "overwritten",
                                                      stranger),
        "KOR's key list corrupt": (w.kor, w.kor.keys_dir / "keys.json", "overwritten",
                                   b"{not json"),
        "KOR's identity key deleted": (w.kor, w.kor.keys_dir / "identity.pem", "deleted",
                                       b""),
        "JPN's encryption key deleted": (w.jpn, enc, "deleted", b""),
        "JPN's encryption key corrupt": (w.jpn, enc, "overwritten", stranger[:40]),
    }


def test_key_store_faults_send_nothing(world: World, tally: Tally) -> None:
    world.release_now()
    trials = []
    for fault, (side, path, how, content) in key_file_faults(world).items():
        with damaged(path, how, content):

            def attempt(side: Side = side) -> object:
                side.restart()  # what the node has on disk from now on
                return world.deliver()

            trials.append(world.trial(fault, attempt))
        side.restart()
    trials += partner_card_faults(world)
    tally.add(trials)
    assert_closed(trials, lambda t: t.error != "")
    errors = " | ".join(t.error for t in trials)
    for expected in ("is missing", "Is a directory", "expected an Ed25519 private key",
                     "is damaged", "restore the keys directory from its backup",
                     "signature does not verify", "the card's signature does not verify",
                     "no usable encryption key: refresh its card"):
        assert expected in errors, expected
    assert [o.outcome for o in world.deliver()] == ["applied"]


def partner_card_faults(w: World) -> list[Trial]:
    """KOR's stored card of JPN altered at rest; then a genuine card with no usable
    encryption key (JPN revoked it)."""
    trials = []
    with SqlUnitOfWork(w.kor.engine) as u:
        peer = u.peers.get("JPN")
        assert peer is not None
    card = asdict(peer.card)
    other = x25519_public_b64()
    card["encryption_keys"][-1]["public"] = other
    with w.kor.engine.begin() as conn:
        conn.execute(sa.update(tables.peers).where(tables.peers.c.party == "JPN")
                     .values(card=card))
    trials.append(w.trial("JPN's card altered in KOR's database", w.deliver))
    with w.kor.engine.begin() as conn:
        conn.execute(sa.update(tables.peers).where(tables.peers.c.party == "JPN")
                     .values(card=asdict(peer.card)))
    w.jpn.keys.revoke(w.jpn.keys.current("encryption", NOW).id)
    refresh(w)
    trials.append(w.trial("JPN's card lists no usable encryption key", w.deliver))
    w.jpn.keys.rotate(NOW, timedelta(days=1))
    w.jpn.restart()
    refresh(w)
    return trials


def x25519_public_b64() -> str:
    return base64.b64encode(raw_public(X25519PrivateKey.generate().public_key())).decode()


def refresh(w: World) -> None:
    """KOR takes JPN's current card (``liaison peer add`` again)."""
    later = replace(w.kor.deps, clock=lambda: NOW + timedelta(seconds=1))
    federation.add_peer(later, ADMIN, "JPN", w.jpn.deps.address, w.jpn.keys.fingerprint,
                        asdict(w.jpn.keys.card("JPN", w.jpn.deps.address,
                                               NOW + timedelta(seconds=1))))


# --- the transport -------------------------------------------------------------------

Behaviour = Callable[[socket.socket, bytes, threading.Event], None]


def read_request(conn: socket.socket) -> bytes:
    """The body of one HTTP request (headers read up to Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return body


@contextmanager
def misbehaving(behave: Behaviour) -> Iterator[str]:
    """A loopback HTTP server answering every request with ``behave``; its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                with suppress(OSError):
                    behave(conn, read_request(conn), stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PlainHttpTransport(HttpTransport):
    """The node's HTTP transport with its https-only check and TLS pinning taken out,
    so that these faults reach the receipt handling over a plain local socket (the real
    transport refuses any address but https: tests/assurance/test_hostile_lines.py)."""

    @staticmethod
    def _address(peer: Peer) -> str:
        return peer.address

    def _for(self, peer: Peer) -> httpx.AsyncClient:
        return self.client


def over_http(url: str) -> Carry:
    """The node's own HTTP transport, sending to ``url`` instead of the partner."""

    def carry(peer: Peer, wire: bytes) -> bytes:
        async def once() -> bytes:
            transport = PlainHttpTransport(None, timeout=0.5)
            try:
                return await transport.send(replace(peer, address=url), wire)
            finally:
                await transport.close()

        return asyncio.run(once())

    return carry


def answer(status: str, body: bytes | Callable[[bytes], bytes],
           headers: str = "") -> Behaviour:
    def send(conn: socket.socket, request: bytes, _stop: threading.Event) -> None:
        data = body(request) if callable(body) else body
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(data)}\r\n{headers}"
                     f"Connection: close\r\n\r\n".encode() + data)

    return send


def silent(_conn: socket.socket, _request: bytes, stop: threading.Event) -> None:
    stop.wait(5)


def reset(conn: socket.socket, _request: bytes, _stop: threading.Event) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def raw(data: bytes) -> Behaviour:
    def send(conn: socket.socket, _request: bytes, _stop: threading.Event) -> None:
        conn.sendall(data)

    return send


def receipt(w: World, ids: list[str], envelope_id: str | None = None,
            signer: Ed25519PrivateKey | None = None) -> Callable[[bytes], bytes]:
    """A receipt in JPN's name accepting ``ids``, for the envelope in the request unless
    ``envelope_id`` says otherwise, signed by JPN's key unless ``signer`` is given."""

    def make(request: bytes) -> bytes:
        sent, _, _ = read_header(request)
        key_id, key = w.jpn.keys.signer(NOW)
        enc = w.kor.keys.current("encryption", NOW)
        header = Header("JPN", "KOR", "a-receipt", "receipt", "", utc(NOW),
                        utc(NOW + timedelta(hours=1)), key_id, enc.id)
        body = payload_json({"envelope_id": envelope_id or sent.envelope_id,
                             "results": [{"id": i, "outcome": "accepted", "reason": ""}
                                         for i in ids]})
        return seal(header, body, signer or key, x25519_public(enc))

    return make


def transport_faults(w: World, ids: list[str]) -> dict[str, Behaviour | None]:
    def cut(request: bytes) -> bytes:
        return receipt(w, ids)(request)[:-20]

    return {
        "connection refused": None,
        "no answer (timeout)": silent,
        "connection reset": reset,
        "not HTTP": raw(b"\x15\x03\x03\x00\x02\x02\x28"),
        "a partial body": raw(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\nLSN1"),
        "HTTP 500": answer("500 Internal Server Error", b'{"error": {"code": "internal"}}'),
        "HTTP 400": answer("400 Bad Request", b'{"error": {"code": "envelope_refused"}}'),
        "a redirect": answer("302 Found", b"", "Location: http://127.0.0.1:9/\r\n"),
        "an empty answer": answer("200 OK", b""),
        "a garbage answer": answer("200 OK", os.urandom(300)),
        "a truncated receipt": answer("200 OK", cut),
        "a receipt for another envelope": answer("200 OK", receipt(w, ids, "an-earlier-one")),
        "a receipt forged in JPN's name": answer("200 OK", receipt(
            w, ids, signer=Ed25519PrivateKey.generate())),
        "the envelope echoed back": answer("200 OK", lambda request: request),
    }


def test_transport_faults_settle_nothing(world: World, tally: Tally) -> None:
    world.release_now()
    with SqlUnitOfWork(world.kor.engine) as u:
        ids = [m.id for m in u.outbox.pending("JPN", 10)]
    trials = []
    for fault, behave in transport_faults(world, ids).items():
        if behave is None:
            url = f"http://127.0.0.1:{closed_port()}"
            trials.append(world.trial(f"transport: {fault}",
                                      partial(world.deliver, over_http(url))))
            continue
        with misbehaving(behave) as url:
            trials.append(world.trial(f"transport: {fault}",
                                      partial(world.deliver, over_http(url))))
    tally.add(trials)
    assert_closed(trials, lambda t: t.error.startswith(("TransportError", "EnvelopeError")))
    assert [o.outcome for o in world.deliver()] == ["applied"]


# --- a running node ------------------------------------------------------------------

STAFF = {"kim": ["analyst"], "lee": ["release_officer"], "park": ["reviewer"],
         "choi": ["reviewer"]}
LOGIN_ENV = {"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000"}


@dataclass
class Running:
    kor: NodeProcess
    jpn: NodeProcess
    tokens: dict[str, str] = field(default_factory=dict)

    def failures(self) -> list[str]:
        """The sender's logged delivery failures so far."""
        lines = [line for log in sorted(Path(self.kor.data).glob("serve*.log"))
                 for line in log.read_text(errors="replace").splitlines()]
        return [line for line in lines if "delivery to JPN failed" in line]

    def at_partner(self, item_id: str) -> bool:
        return self.jpn.call_raw("GET", f"/api/items/{item_id}@KOR").status_code == 200

    def outbox(self) -> dict[str, int]:
        """The message counts (the lanes and alerts beside them left out)."""
        counts = self.kor.call("GET", "/api/outbox")["JPN"]
        return {k: int(counts[k]) for k in ("pending", "delivered", "refused")}

    def pending_request(self, item: dict[str, Any]) -> str:
        self.kor.call("POST", "/api/items", self.tokens["kim"], json=item)
        req = self.kor.call("POST", "/api/releases", self.tokens["lee"], json={
            "item_id": item["id"], "recipient": "JPN", "purpose": "early warning"})
        self.kor.call("POST", f"/api/releases/{req['id']}/reviews", self.tokens["park"],
                      json={"approve": True})
        return str(req["id"])

    def approve(self, request_id: str) -> httpx.Response:
        return self.kor.call_raw("POST", f"/api/releases/{request_id}/reviews",
                                 self.tokens["choi"], json={"approve": True})


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with trusting_pair(tmp_path, "KOR", "JPN") as (kor, jpn):
        for name, roles in STAFF.items():
            kor.call("POST", "/api/users", json={"username": name, "roles": roles,
                                                 "clearance": "군사I급비밀",
                                                 "password": PASSWORD})
        node = Running(kor, jpn)
        node.tokens = {n: kor.login(n) for n in STAFF}
        yield node


def signing_key_faults(r: Running) -> list[Trial]:
    """The key file damaged before the first envelope is signed; a release approved
    through the API is queued; nothing reaches JPN; the log says why."""
    keys = Path(r.kor.data) / "keys"
    current = json.loads((keys / "keys.json").read_text())["signing"][-1]["id"]
    path = keys / f"{current}.pem"
    original = path.read_bytes()
    faults = {"a running node's signing key corrupt": (b"-----BEGIN junk", "is damaged"),
              "a running node's signing key deleted": (None, "is missing"),
              "a running node's signing key replaced by another key": (
                  private_pem(Ed25519PrivateKey.generate()), "signature does not verify")}
    trials, request_id = [], ""
    for fault, (content, says) in faults.items():
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)
        if not request_id:
            request_id = r.pending_request({**ITEM, "id": "K1"})
            assert r.approve(request_id).json()["state"] == "released"
        line = wait_for(lambda says=says: next((f for f in r.failures() if says in f), None),
                        timeout=40, what=f"a logged failure: {fault}")
        out = r.outbox()
        trials.append(Trial(fault, line, r.at_partner("K1") or out["delivered"] > 0
                            or out["pending"] != 1))
    path.write_bytes(original)
    r.kor.stop()  # the replaced key was loaded and is held in memory: restart
    r.kor.start(env=LOGIN_ENV)
    wait_for(lambda: r.at_partner("K1"), what="the release, once the key is repaired")
    wait_for(lambda: r.outbox() == {"pending": 0, "delivered": 1, "refused": 0},
             what="the receipt settling the release at KOR")  # it follows the delivery
    return trials


def attachment_faults(r: Running) -> list[Trial]:
    """An attachment's file damaged on disk: the final approval is refused (409) and
    nothing is released."""
    up = httpx.post(f"{r.kor.url}/api/attachments", content=b"field report " * 200,
                    headers={"Authorization": f"Bearer {r.tokens['kim']}",
                             "Content-Type": "text/plain"}, timeout=30)
    assert up.status_code == 201, up.text
    item = {**ITEM, "id": "K2", "portions": [
        ITEM["portions"][0], {"id": "p3", "content": "the report",
                              "label": label("군사II급비밀", ["JPN"]),
                              "attachment": {"sha256": up.json()["sha256"]}}]}
    request_id = r.pending_request(item)
    (blob,) = [f for f in (Path(r.kor.data) / "blobs").rglob("*") if f.is_file()]
    original = blob.read_bytes()
    damage = {"flipped byte": original[:100] + bytes([original[100] ^ 1]) + original[101:],
              "truncated": original[:-10], "deleted": None}
    before, trials = r.outbox(), []
    for how, content in damage.items():
        if content is None:
            blob.unlink()
        else:
            blob.write_bytes(content)
        answer = r.approve(request_id)
        message = f"{answer.status_code} {answer.text}"
        state = r.kor.call("GET", f"/api/releases/{request_id}", r.tokens["lee"])["state"]
        trials.append(Trial(f"an attachment file {how} at release", message,
                            state != "pending" or r.outbox() != before
                            or r.at_partner("K2")))
        blob.write_bytes(original)
    assert r.approve(request_id).json()["state"] == "released"
    wait_for(lambda: r.at_partner("K2"), what="the release, once the file is repaired")
    return trials


def test_a_running_node_with_damaged_files_releases_and_sends_nothing(
        running: Running, tally: Tally) -> None:
    trials = signing_key_faults(running)
    file_trials = attachment_faults(running)
    tally.add(trials + file_trials)
    assert_closed(trials, lambda t: "delivery to JPN failed" in t.error)
    assert_closed(file_trials, lambda t: t.error.startswith("409")
                  and "nothing is released" in t.error)
