"""Forgeries: mutated envelopes, keys rotating with envelopes in flight, and mutual TLS
with wrong certificates (the assurance issue, parts 3 and 7).

What these tests prove:

- **Mutation fuzzing** (hypothesis). Mutants of valid batch envelopes are made by
  replacing each header field in turn (sender, recipient, envelope id, kind, agreement,
  created, expires, sender key id, recipient key id, version) with near and arbitrary JSON
  values; by altering the HPKE encapsulated key, ciphertext, tag and length prefix; by
  altering the signature and the payload under the encryption; by setting, flipping,
  cutting, inserting, deleting and appending bytes; and by re-encoding the header (the
  same data as other JSON bytes). Header, re-encoding and inner mutants are also
  re-encrypted to the recipient's public key, as anyone can (HPKE says nothing about the
  sender), so that the signature alone has to catch them. Every mutant is refused by the
  receiving node's inbox (``federation.receive``) with an ``EnvelopeError`` and changes
  neither its inbox, items nor audit log; every unmutated envelope (hypothesis-made
  batches from two partners, and the fuzzing's seeds) is accepted once and its signed
  receipt verifies at the sender. Figure:
  ``forgeries: rejected X of X mutated envelopes, valid accepted V of V``.
- **Keys rotating with envelopes in flight**, through ``liaison keys rotate`` and
  ``liaison keys revoke`` and a partner refreshing the card (the documented use case:
  old keys stay valid until their stated expiry, revoked ones never are). An envelope
  sealed before a rotation is accepted within the overlap, after the sender's signing key
  and after the receiver's encryption key rotated; it is refused once the overlap is over,
  as soon as the key is revoked (even within the overlap), and when an old card is
  replayed to bring a revoked key back. A new key is refused until the partner has the
  card that lists it.
- **Mutual TLS beyond the four basic refusals**, with real node processes: a certificate
  with a partner's exact subject from a wrong, self-made CA (also chained to the partner's
  real certificate), a forged copy of a partner's certificate, a real partner's
  certificate presented to a node that does not trust that partner, the node's own
  certificate, and plain HTTP are refused by the listener; a node's client pinned to a
  partner refuses an impostor server showing a same-subject certificate or another real
  partner's certificate. Figure: ``mtls: refused N of N bad handshakes``. A partner with a
  valid certificate cannot send envelopes in another partner's name: they are refused.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from liaison.cli.main import app as cli_app
from liaison.crypto.envelope import (
    MAGIC,
    SIGN_DOMAIN,
    SUITE,
    EnvelopeError,
    Header,
    payload_json,
    seal,
    utc,
)
from liaison.crypto.keys import verify_card, x25519_public
from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.federation.keystore import Keystore
from liaison.federation.tls import client_context
from liaison.services import federation
from liaison.services.context import Deps
from liaison.services.errors import Refused
from liaison.services.ports import OutboxMessage
from tests.twins import MemoryState, MemoryUnitOfWork

from ..integration.processes import NodeProcess

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
SOAK = os.environ.get("LIAISON_SOAK") == "1"
ADMIN = User("admin", "administrator", frozenset({Role.ADMIN}), Clearance(4))
ENC_LEN = 32  # an X25519 encapsulated key
SIG_LEN = 64
FIELDS = tuple(f.name for f in fields(Header))
PARTIES = ("KOR", "JPN", "USA", "CHN", "PRK", "kor", "", "KOR ", "KOR\u200b")
KINDS = ("receipt", "release", "tracks", "note", "BATCH", "batch ", "")


def accept(_uow: Any, _deps: Deps, _sender: str, _body: Any) -> str | None:
    """A message kind the receiver applies without condition: a forged envelope that got
    through would show up as accepted messages."""
    return None


APPLIERS = {"probe": accept}


# --- nodes ---------------------------------------------------------------------------


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


class Node:
    """A node over in-memory storage with its keys on disk, as ``liaison init`` makes
    them (``<data_dir>/keys``), so that the key commands of the CLI work on it."""

    def __init__(self, party: str, root: Path, clock: Clock) -> None:
        self.party, self.clock = party, clock
        self.data_dir = root / party.lower()
        self.keys = Keystore.create(self.data_dir / "keys", clock())
        self.state = MemoryState()
        counter = itertools.count()
        self.deps = Deps(uow=lambda: MemoryUnitOfWork(self.state), party=party, clock=clock,
                         ids=lambda: f"{party}-{next(counter)}", keyring=self.keys,
                         address=f"https://{party.lower()}.example")

    def card(self) -> dict[str, Any]:
        return asdict(self.keys.card(self.party, self.deps.address, self.clock()))

    def trust(self, other: Node, card: dict[str, Any] | None = None) -> None:
        """``liaison peer add``: the partner's card, checked against its fingerprint."""
        federation.add_peer(self.deps, ADMIN, other.party, other.deps.address,
                            other.keys.fingerprint, card or other.card())

    def restart(self) -> None:
        """Load the keys from disk again, as ``liaison serve`` does when it starts."""
        self.keys = Keystore.load(self.data_dir / "keys")
        self.deps = replace(self.deps, keyring=self.keys)

    def snapshot(self) -> tuple[int, int, int]:
        return len(self.state.inbox), len(self.state.audit), len(self.state.items)


MESSAGE_IDS = itertools.count()


def batch(sender: Node, to: Node, payloads: list[dict[str, Any]],
          agreement: str = "") -> tuple[Header, bytes]:
    """A batch envelope sealed by the sender's own use case (``seal_batch``)."""
    messages = [OutboxMessage(f"m{next(MESSAGE_IDS)}", to.party, i + 1, "probe", p,
                              sender.clock(), "pending") for i, p in enumerate(payloads)]
    return federation.seal_batch(sender.deps, sender.state.peers[to.party], messages,
                                 agreement)


def verdict(receiver: Node, wire: bytes) -> str:
    """``refused`` when the inbox raises ``EnvelopeError`` and nothing changed."""
    before = receiver.snapshot()
    try:
        federation.receive(receiver.deps, wire, APPLIERS)
    except EnvelopeError as exc:
        return "refused" if receiver.snapshot() == before else f"refused after changes: {exc}"
    except Exception as exc:
        return f"crashed with {type(exc).__name__}: {exc}"
    return "ACCEPTED"


def refusal(receiver: Node, wire: bytes) -> str:
    """The inbox's reason for refusing ``wire``; ``""`` when it was accepted."""
    try:
        federation.receive(receiver.deps, wire, APPLIERS)
    except EnvelopeError as exc:
        return str(exc)
    return ""


def delivered(sender: Node, receiver: Node, header: Header, wire: bytes, n: int) -> bool:
    """Accepted: every message applied once, and the receipt verifies at the sender."""
    before = len(receiver.state.inbox)
    receipt = federation.receive(receiver.deps, wire, APPLIERS)
    head, body = federation.open_from_peer(sender.deps, receipt, sender.state.peers)
    answer = json.loads(body)
    return (head.kind == "receipt" and answer["envelope_id"] == header.envelope_id
            and [r["outcome"] for r in answer["results"]] == ["applied"] * n
            and len(receiver.state.inbox) == before + n)


# --- envelope anatomy ----------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """A valid envelope taken apart: header bytes, HPKE encapsulated key, AEAD ciphertext
    with its tag, and the plaintext (payload and signature) as the recipient sees it."""

    header: Header
    wire: bytes
    head: bytes
    enc: bytes
    sealed: bytes
    plain: bytes

    @property
    def payload(self) -> bytes:
        return self.plain[:-SIG_LEN]

    @property
    def signature(self) -> bytes:
        return self.plain[-SIG_LEN:]


def frame(head: bytes, ciphertext: bytes) -> bytes:
    return MAGIC + struct.pack(">I", len(head)) + head + ciphertext


def canonical(data: dict[str, Any]) -> bytes:
    """Canonical JSON bytes; a lone surrogate, which has no UTF-8 form, is written as its
    JSON escape (as an attacker can)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


@dataclass
class World:
    """The three nodes, the seeds, every key id in play, and the counts."""

    kor: Node
    jpn: Node
    usa: Node
    samples: tuple[Sample, ...] = ()
    key_ids: tuple[str, ...] = ()
    tally: Counter[str] = field(default_factory=Counter)

    @property
    def recipient_key(self) -> X25519PublicKey:
        return x25519_public(self.jpn.keys.current("encryption", NOW))

    def encrypt(self, plain: bytes, head: bytes) -> bytes:
        """What any attacker can do: encrypt to the recipient's public key."""
        return SUITE.encrypt(plain, self.recipient_key, info=head)

    def take_apart(self, header: Header, wire: bytes) -> Sample:
        (n,) = struct.unpack(">I", wire[4:8])
        head, ciphertext = wire[8:8 + n], wire[8 + n:]
        private = self.jpn.keys.decryptor(header.recipient_key, NOW)
        assert private is not None
        plain = SUITE.decrypt(ciphertext, private, info=head)
        return Sample(header, wire, head, ciphertext[:ENC_LEN], ciphertext[ENC_LEN:], plain)


@pytest.fixture
def world(tmp_path: Path) -> World:
    """JPN, the receiver, trusts KOR and USA; four seed envelopes to mutate."""
    clock = Clock(NOW)
    kor, jpn, usa = (Node(p, tmp_path, clock) for p in ("KOR", "JPN", "USA"))
    for a, b in ((jpn, kor), (jpn, usa), (kor, jpn), (usa, jpn)):
        a.trust(b)
    w = World(kor, jpn, usa)
    seeds = [batch(kor, jpn, [{"text": "TEL sighted"}], "KOR-JPN-GSOMIA"),
             batch(kor, jpn, [{"text": "a" * 300}, {"n": 2}, {"text": "군사II급비밀"}]),
             batch(kor, jpn, [{"text": "non-ASCII agreement"}], "한일 GSOMIA"),
             batch(usa, jpn, [{"text": "from the USA"}], "USA-JPN")]
    w.samples = tuple(w.take_apart(h, wire) for h, wire in seeds)
    w.key_ids = tuple(sorted(k for n in (kor, jpn, usa) for k in (
        n.keys.current("signing", NOW).id, n.keys.current("encryption", NOW).id,
        n.keys.fingerprint)))
    return w


# --- mutation strategies -------------------------------------------------------------


def json_values() -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers()
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=24))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                        max_leaves=6)


@st.composite
def edited(draw: st.DrawFn, text: str) -> str:
    """``text`` with one character inserted, replaced or deleted."""
    at = draw(st.integers(0, len(text)))
    char = draw(st.characters())
    how = draw(st.sampled_from(("insert", "replace", "delete")))
    if how == "insert" or at == len(text):
        return text[:at] + char + text[at:]
    return text[:at] + (char if how == "replace" else "") + text[at + 1:]


@st.composite
def times(draw: st.DrawFn, original: str) -> str:
    """Other instants, the same instant written another way, or no time zone."""
    at = datetime.fromisoformat(original)
    shifted = at + timedelta(seconds=draw(st.integers(-40 * 86400, 40 * 86400)))
    zone = timezone(timedelta(minutes=draw(st.sampled_from((0, 540, -300, 1439)))))
    return draw(st.sampled_from((shifted.astimezone(zone).isoformat(),
                                 at.astimezone(zone).isoformat(),
                                 original.replace("+00:00", "Z"),
                                 original[:19], original[:10])))


def field_values(name: str, original: Any, w: World) -> st.SearchStrategy[Any]:
    near: st.SearchStrategy[Any]
    if name == "version":
        near = st.sampled_from((0, 2, -1, 2**40, "1", 1.0, 1.5, True, None))
    elif name in ("created", "expires"):
        near = times(original)
    elif name in ("sender_key", "recipient_key"):
        near = st.sampled_from(w.key_ids)
    elif name in ("sender", "recipient"):
        near = st.sampled_from(PARTIES)
    elif name == "kind":
        near = st.sampled_from(KINDS)
    else:
        near = st.sampled_from(("", "x", original * 2))
    if isinstance(original, str):
        near = near | edited(original) | st.just(original + "\ud800")
    return near | json_values()


@st.composite
def header_mutants(draw: st.DrawFn, w: World) -> tuple[str, bytes]:
    """One header field replaced; the header stays canonical JSON."""
    sample = draw(st.sampled_from(w.samples))
    name = draw(st.sampled_from(FIELDS))
    data = asdict(sample.header)
    data[name] = draw(field_values(name, data[name], w))
    head = canonical(data)
    assume(head != sample.head)
    return _maybe_reencrypted(draw, w, sample, f"header {name}", head)


def _maybe_reencrypted(draw: st.DrawFn, w: World, sample: Sample, what: str,
                       head: bytes) -> tuple[str, bytes]:
    if draw(st.booleans()):
        return f"{what}, re-encrypted", frame(head, w.encrypt(sample.plain, head))
    return what, frame(head, sample.enc + sample.sealed)


INNER = ("flip a signature bit", "flip a payload bit", "signature by another key",
         "signature of another envelope", "payload of another envelope", "cut",
         "extend", "replace", "payload re-encoded")


@st.composite
def inner_mutants(draw: st.DrawFn, w: World) -> tuple[str, bytes]:
    """Signature or payload altered under the encryption, re-encrypted to the recipient
    with the original header."""
    sample = draw(st.sampled_from(w.samples))
    how = draw(st.sampled_from(INNER))
    payload, signature = sample.payload, sample.signature
    if how == "flip a signature bit":
        signature = _flip(signature, draw(st.integers(0, SIG_LEN * 8 - 1)))
    elif how == "flip a payload bit":
        payload = _flip(payload, draw(st.integers(0, len(payload) * 8 - 1)))
    elif how == "signature by another key":
        signer = draw(st.sampled_from(_other_signers(w)))
        signature = signer.sign(SIGN_DOMAIN + struct.pack(">I", len(sample.head))
                                + sample.head + payload)
    elif how in ("signature of another envelope", "payload of another envelope"):
        other = draw(st.sampled_from([s for s in w.samples if s is not sample]))
        if how.startswith("signature"):
            signature = other.signature
        else:
            payload = other.payload
    elif how == "payload re-encoded":
        payload = json.dumps(json.loads(payload), indent=draw(st.sampled_from((None, 1))),
                             ensure_ascii=draw(st.booleans())).encode()
    plain = payload + signature
    if how == "cut":
        k = draw(st.integers(1, len(plain)))
        plain = plain[k:] if draw(st.booleans()) else plain[:-k]
    elif how == "extend":
        extra = draw(st.binary(min_size=1, max_size=64))
        plain = extra + plain if draw(st.booleans()) else plain + extra
    elif how == "replace":
        plain = draw(st.binary(max_size=200))
    assume(plain != sample.plain)
    return f"inner: {how}", frame(sample.head, w.encrypt(plain, sample.head))


def _flip(data: bytes, bit: int) -> bytes:
    i = bit // 8
    return data[:i] + bytes([data[i] ^ (1 << (bit % 8))]) + data[i + 1:]


def _other_signers(w: World) -> list[Ed25519PrivateKey]:
    """USA's and JPN's signing keys, KOR's identity key (not a signing key), a stranger."""
    return [w.usa.keys.signer(NOW)[1], w.jpn.keys.signer(NOW)[1], w.kor.keys.identity,
            Ed25519PrivateKey.generate()]


BYTE_OPS = ("set bytes", "flip a bit", "truncate", "extend", "insert", "delete",
            "replace a slice")


@st.composite
def byte_mutants(draw: st.DrawFn, w: World) -> tuple[str, bytes]:
    """Random byte-level changes anywhere in the wire form."""
    wire = draw(st.sampled_from(w.samples)).wire
    how = draw(st.sampled_from(BYTE_OPS))
    at = draw(st.integers(0, len(wire) - 1))
    blob = draw(st.binary(min_size=1, max_size=48))
    if how == "set bytes":
        out = bytearray(wire)
        for i in draw(st.lists(st.integers(0, len(wire) - 1), min_size=1, max_size=6)):
            out[i] = draw(st.integers(0, 255))
        mutant = bytes(out)
    elif how == "flip a bit":
        mutant = _flip(wire, at * 8 + draw(st.integers(0, 7)))
    elif how == "truncate":
        mutant = wire[:at]
    elif how == "extend":
        mutant = wire + blob
    elif how == "insert":
        mutant = wire[:at] + blob + wire[at:]
    elif how == "delete":
        mutant = wire[:at] + wire[at + draw(st.integers(1, len(wire) - at)):]
    else:
        mutant = wire[:at] + blob + wire[at + len(blob):]
    assume(mutant != wire)
    return f"bytes: {how}", mutant


PARTS = ("encapsulated key", "small-order encapsulated key", "tag",
         "encapsulated key of another envelope", "ciphertext of another envelope",
         "length prefix")
SMALL_ORDER = (bytes(32), b"\x01" + bytes(31), b"\xff" * 32)


@st.composite
def part_mutants(draw: st.DrawFn, w: World) -> tuple[str, bytes]:
    """The HPKE parts replaced: encapsulated key, tag, whole ciphertext; the length."""
    sample = draw(st.sampled_from(w.samples))
    enc, sealed, head = sample.enc, sample.sealed, sample.head
    how = draw(st.sampled_from(PARTS))
    other = draw(st.sampled_from([s for s in w.samples if s is not sample]))
    if how == "encapsulated key":
        enc = draw(st.binary(min_size=ENC_LEN, max_size=ENC_LEN))
    elif how == "small-order encapsulated key":
        enc = draw(st.sampled_from(SMALL_ORDER))
    elif how == "tag":
        sealed = sealed[:-16] + draw(st.binary(min_size=16, max_size=16))
    elif how == "encapsulated key of another envelope":
        enc = other.enc
    elif how == "ciphertext of another envelope":
        enc, sealed = other.enc, other.sealed
    else:
        n = draw(st.integers(0, 2**32 - 1) | st.integers(len(head) - 40, len(head) + 40)
                 .filter(lambda v: v >= 0))
        assume(n != len(head))
        return f"parts: {how}", MAGIC + struct.pack(">I", n) + head + enc + sealed
    mutant = frame(head, enc + sealed)
    assume(mutant != sample.wire)
    return f"parts: {how}", mutant


REENCODINGS = ("spaces", "key order", "ASCII escapes", "indented", "padding",
               "duplicate key", "escaped character", "number form")


@st.composite
def reencoded_mutants(draw: st.DrawFn, w: World) -> tuple[str, bytes]:
    """The same header data written as other JSON bytes: not canonical, refused."""
    sample = draw(st.sampled_from(w.samples))
    data = json.loads(sample.head)
    how = draw(st.sampled_from(REENCODINGS))
    head = _reencode(draw, how, data, sample.head)
    assume(head != sample.head)
    return _maybe_reencrypted(draw, w, sample, f"re-encoded: {how}", head)


def _reencode(draw: st.DrawFn, how: str, data: dict[str, Any], head: bytes) -> bytes:
    if how == "spaces":
        return json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    if how == "key order":
        keys = draw(st.permutations(sorted(data)))
        return json.dumps({k: data[k] for k in keys}, separators=(",", ":"),
                          ensure_ascii=False).encode()
    if how == "ASCII escapes":
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    if how == "indented":
        return json.dumps(data, sort_keys=True, indent=draw(st.integers(0, 2)),
                          ensure_ascii=False).encode()
    if how == "padding":
        pad = draw(st.sampled_from((b" ", b"\n", b"\t", b"\r\n", "\ufeff".encode())))
        return pad + head if draw(st.booleans()) else head + pad
    if how == "duplicate key":
        name = draw(st.sampled_from(sorted(data)))
        first = json.dumps(draw(json_values())).encode()
        return b'{"' + name.encode() + b'":' + first + b"," + head[1:]
    if how == "number form":
        form = draw(st.sampled_from(("1.0", "1e0", "1E0", "10e-1", "01", "+1", "1 ")))
        return head.replace(b'"version":1', b'"version":' + form.encode())
    name = draw(st.sampled_from([k for k in sorted(data) if data[k]
                                 and isinstance(data[k], str)]))
    value: str = data[name]
    i = draw(st.integers(0, len(value) - 1))
    escaped = json.dumps(value, ensure_ascii=False)[1:-1]
    plain = json.dumps(value[:i], ensure_ascii=False)[1:-1]
    rest = json.dumps(value[i + 1:], ensure_ascii=False)[1:-1]
    written = f'"{name}":"{plain}\\u{ord(value[i]):04x}{rest}"'
    return head.replace(f'"{name}":"{escaped}"'.encode(), written.encode())


FAMILIES: dict[str, Callable[[World], st.SearchStrategy[tuple[str, bytes]]]] = {
    "header": header_mutants, "inner": inner_mutants, "bytes": byte_mutants,
    "parts": part_mutants, "re-encoded": reencoded_mutants}
FAST = {"header": 400, "inner": 200, "bytes": 300, "parts": 150, "re-encoded": 150,
        "valid": 40}


# --- the fuzzing ---------------------------------------------------------------------


def run_family(w: World, name: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(st.data())
    def mutants_are_refused(data: st.DataObject) -> None:
        what, wire = data.draw(FAMILIES[name](w), label="mutant")
        outcome = verdict(w.jpn, wire)
        assert outcome == "refused", f"{what}: {outcome}"
        w.tally["mutants"] += 1
        w.tally[what.split(",")[0]] += 1

    mutants_are_refused()


PAYLOADS = st.dictionaries(st.sampled_from(("text", "n", "list")),
                           st.text(max_size=60) | st.integers() | st.lists(st.integers(),
                                                                           max_size=4),
                           max_size=3)


def run_valid(w: World, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(sender=st.sampled_from(("KOR", "USA")),
           payloads=st.lists(PAYLOADS, min_size=1, max_size=4),
           agreement=st.text(max_size=20))
    def valid_envelopes_are_accepted(sender: str, payloads: list[dict[str, Any]],
                                     agreement: str) -> None:
        node = w.kor if sender == "KOR" else w.usa
        header, wire = batch(node, w.jpn, payloads, agreement)
        assert delivered(node, w.jpn, header, wire, len(payloads))
        w.tally["valid"] += 1

    valid_envelopes_are_accepted()


def campaign(w: World, scale: int) -> None:
    for name in FAMILIES:
        run_family(w, name, FAST[name] * scale)
    run_valid(w, FAST["valid"] * min(scale, 10))  # the receiver's state grows with each
    for sample in w.samples:  # the seeds themselves, unmutated, after all the mutants
        n = len(json.loads(sample.payload)["messages"])
        assert delivered(w.kor if sample.header.sender == "KOR" else w.usa, w.jpn,
                         sample.header, sample.wire, n)
        w.tally["valid"] += 1
    rejected, valid = w.tally["mutants"], w.tally["valid"]
    print(f"forgeries: rejected {rejected} of {rejected} mutated envelopes, "
          f"valid accepted {valid} of {valid}")
    kinds = sorted((k, v) for k, v in w.tally.items() if k not in ("mutants", "valid"))
    print("forgeries by mutation: " + "; ".join(f"{k} {v}" for k, v in kinds))


def test_every_mutant_is_refused_and_every_valid_envelope_accepted(world: World) -> None:
    campaign(world, 20 if SOAK else 1)


@pytest.mark.slow
def test_mutation_fuzzing_soak(world: World) -> None:
    """The long form (``make soak``): fifty times the mutants, ten times the valid
    envelopes."""
    campaign(world, 50)


# --- keys rotating with envelopes in flight ------------------------------------------


def keys_cli(node: Node, *args: str) -> None:
    """``liaison keys ...`` on the node's data directory, then a restart of the node."""
    result = CliRunner().invoke(cli_app, ["keys", *args, "--data-dir", str(node.data_dir)])
    assert result.exit_code == 0, result.output
    node.restart()


def pair(root: Path) -> tuple[Node, Node, Clock]:
    clock = Clock(datetime.now(UTC))  # the key commands date keys by the real clock
    kor, jpn = Node("KOR", root, clock), Node("JPN", root, clock)
    kor.trust(jpn)
    jpn.trust(kor)
    return kor, jpn, clock


def in_flight(kor: Node, jpn: Node, n: int) -> list[bytes]:
    return [batch(kor, jpn, [{"text": f"in flight {i}"}])[1] for i in range(n)]


@dataclass
class Rotation:
    """Each case's expectation (``accepted`` or a part of the refusal's reason) and
    whether the inbox met it."""

    cases: dict[str, tuple[str, bool]] = field(default_factory=dict)

    def check(self, case: str, receiver: Node, wire: bytes, expect: str) -> bool:
        got = refusal(receiver, wire) or "accepted"
        met = got == expect if expect == "accepted" else expect in got
        self.cases[case] = (expect, met)
        return met


def test_sender_rotation_keeps_envelopes_in_flight_until_the_overlap_ends(
        tmp_path: Path, rotation: Rotation) -> None:
    kor, jpn, clock = pair(tmp_path)
    start, (early, late) = clock.now, in_flight(kor, jpn, 2)
    old_key = kor.keys.current("signing", start).id
    keys_cli(kor, "rotate", "--overlap-days", "1")
    clock.now = start + timedelta(hours=1)
    _, fresh = batch(kor, jpn, [{"text": "after the rotation"}])
    assert rotation.check("new key before the partner has the new card", jpn, fresh,
                          "unknown or revoked")
    jpn.trust(kor)  # the partner refreshes the card
    assert rotation.check("new key once the partner has the card", jpn, fresh, "accepted")
    assert rotation.check("old signing key within the overlap", jpn, early, "accepted")
    clock.now = start + timedelta(days=1, hours=1)
    assert rotation.check("old signing key after the overlap", jpn, late,
                          f"KOR's key {old_key} is unknown or revoked")


def test_receiver_rotation_keeps_envelopes_in_flight_until_the_overlap_ends(
        tmp_path: Path, rotation: Rotation) -> None:
    kor, jpn, clock = pair(tmp_path)
    start, (early, late) = clock.now, in_flight(kor, jpn, 2)
    keys_cli(jpn, "rotate", "--overlap-days", "1")
    kor.trust(jpn)
    clock.now = start + timedelta(hours=1)
    header, fresh = batch(kor, jpn, [{"text": "to the new key"}])
    assert header.recipient_key == jpn.keys.current("encryption", clock.now).id
    assert rotation.check("to the receiver's new key", jpn, fresh, "accepted")
    assert rotation.check("to the receiver's old key within the overlap", jpn, early,
                          "accepted")
    clock.now = start + timedelta(days=1, hours=1)
    assert rotation.check("to the receiver's old key after the overlap", jpn, late,
                          "retired key")


def test_a_revoked_key_is_refused_even_within_the_overlap_and_stays_revoked(
        tmp_path: Path, rotation: Rotation) -> None:
    """A compromised key: rotate, revoke the old one; the partner refreshes the card."""
    kor, jpn, clock = pair(tmp_path)
    start, wires = clock.now, in_flight(kor, jpn, 2)
    old_id, old_key = kor.keys.signer(start)
    keys_cli(kor, "rotate", "--overlap-days", "7")
    before_revocation = kor.card()
    keys_cli(kor, "revoke", old_id)
    jpn.trust(kor)
    clock.now = start + timedelta(hours=1)
    assert rotation.check("revoked signing key, in flight", jpn, wires[0],
                          "unknown or revoked")
    assert rotation.check("revoked signing key, a new forgery", jpn,
                          forged_with(kor, jpn, old_id, old_key), "unknown or revoked")
    with pytest.raises(Refused, match="revoked"):  # a replayed old card
        jpn.trust(kor, before_revocation)
    assert rotation.check("revoked signing key, after an old card was replayed", jpn,
                          wires[1], "unknown or revoked")


def test_an_old_card_cannot_undo_a_rotation(tmp_path: Path, rotation: Rotation) -> None:
    """A card older than the one trusted is refused: it would lift the old keys' expiry."""
    kor, jpn, clock = pair(tmp_path)
    start, (late,) = clock.now, in_flight(kor, jpn, 1)
    original = kor.card()
    keys_cli(kor, "rotate", "--overlap-days", "1")
    clock.now = start + timedelta(minutes=1)
    jpn.trust(kor)
    with pytest.raises(Refused, match="before the one already trusted"):
        jpn.trust(kor, original)
    clock.now = start + timedelta(days=1, hours=1)
    assert rotation.check("old signing key after the overlap, old card replayed", jpn, late,
                          "unknown or revoked")


def test_a_revoked_encryption_key_of_the_receiver_is_refused(
        tmp_path: Path, rotation: Rotation) -> None:
    kor, jpn, clock = pair(tmp_path)
    (wire,) = in_flight(kor, jpn, 1)
    old = jpn.keys.current("encryption", clock.now).id
    keys_cli(jpn, "rotate", "--overlap-days", "7")
    keys_cli(jpn, "revoke", old)
    assert rotation.check("to the receiver's revoked key", jpn, wire, "retired key")


def forged_with(kor: Node, jpn: Node, key_id: str, key: Ed25519PrivateKey) -> bytes:
    """A new envelope in KOR's name signed with KOR's stolen, revoked key."""
    now = kor.clock()
    enc = jpn.keys.current("encryption", now)
    header = Header("KOR", "JPN", "forged", "batch", "", utc(now),
                    utc(now + timedelta(days=1)), key_id, enc.id)
    body = payload_json({"messages": [{"id": "forged", "seq": 1, "kind": "probe",
                                       "payload": {}}]})
    return seal(header, body, key, x25519_public(enc))


@pytest.fixture(scope="module")
def rotation() -> Iterator[Rotation]:
    """Collects the rotation cases of this module and prints their figure at the end."""
    found = Rotation()
    yield found
    met = [c for c, (_, ok) in found.cases.items() if ok]
    accepted = sum(found.cases[c][0] == "accepted" for c in met)
    print(f"\nrotation: as documented in {len(met)} of {len(found.cases)} cases: "
          f"{accepted} accepted (overlap, current keys), {len(met) - accepted} refused "
          f"(overlap over, revoked, key not yet on the card, old card replayed)")
    assert len(met) == len(found.cases), [c for c, (_, ok) in found.cases.items() if not ok]


# --- mutual TLS ----------------------------------------------------------------------


def handshake(port: int, ctx: ssl.SSLContext) -> bool:
    """True when the server completes the handshake and answers an HTTP request."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw) as tls:
            tls.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return tls.recv(100).startswith(b"HTTP/1.1")
    except (ssl.SSLError, OSError):
        return False


def plain_http(port: int) -> bool:
    """True when the listener answers HTTP without TLS."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return raw.recv(100).startswith(b"HTTP/1.1")
    except OSError:
        return False


def client(cert: Path, key: Path, server_pem: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cadata=server_pem)
    ctx.load_cert_chain(cert, key)
    return ctx


@dataclass(frozen=True)
class Credential:
    cert: Path  # PEM chain: the leaf first
    key: Path


def write(directory: Path, name: str, key: ec.EllipticCurvePrivateKey,
          chain: list[x509.Certificate]) -> Credential:
    (directory / f"{name}.crt").write_bytes(b"".join(c.public_bytes(
        serialization.Encoding.PEM) for c in chain))
    (directory / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return Credential(directory / f"{name}.crt", directory / f"{name}.key")


def forged_copy(real: x509.Certificate) -> tuple[ec.EllipticCurvePrivateKey,
                                                  x509.Certificate]:
    """The real certificate's subject, issuer, serial, validity and extensions, signed
    by a key of the attacker's."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(real.subject)
               .issuer_name(real.issuer).public_key(key.public_key())
               .serial_number(real.serial_number)
               .not_valid_before(real.not_valid_before_utc)
               .not_valid_after(real.not_valid_after_utc))
    for ext in real.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    return key, builder.sign(key, hashes.SHA256())


def issued_under(subject: x509.Name, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
                 key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256()))


def wrong_ca(directory: Path, name: str, real: x509.Certificate,
             chain_to_real: bool) -> Credential:
    """A leaf with the partner's exact subject from a self-made CA that also carries the
    partner's subject; sent with that CA, or with the partner's real certificate."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), \
        ec.generate_private_key(ec.SECP256R1())
    ca = issued_under(real.subject, real.subject, ca_key, ca_key, ca=True)
    leaf = issued_under(real.subject, real.subject, ca_key, leaf_key, ca=False)
    return write(directory, name, leaf_key, [leaf, real if chain_to_real else ca])


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@contextmanager
def impostor(cred: Credential) -> Iterator[int]:
    """A TLS 1.3 server on loopback presenting ``cred``, for clients to refuse."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cred.cert, cred.key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(5)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(100)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


@dataclass
class Trio:
    kor: NodeProcess
    jpn: NodeProcess
    usa: NodeProcess
    prints: dict[str, str]

    def tls(self, node: NodeProcess) -> Credential:
        keys = Path(node.data) / "keys"
        return Credential(keys / "tls.crt", keys / "tls.key")

    def pem(self, node: NodeProcess) -> str:
        return self.tls(node).cert.read_text()


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    """Three node processes: JPN trusts KOR and USA; KOR and USA trust JPN only."""
    root = tmp_path_factory.mktemp("trio")
    nodes = [NodeProcess(p, root) for p in ("KOR", "JPN", "USA")]
    kor, jpn, usa = nodes
    try:
        with ThreadPoolExecutor(len(nodes)) as pool:  # independent processes: side by side
            prints = dict(zip(("KOR", "JPN", "USA"), pool.map(NodeProcess.init, nodes),
                              strict=True))
            list(pool.map(NodeProcess.start, nodes))
        for n in nodes:
            n.login()
        for a, b in ((jpn, kor), (jpn, usa), (kor, jpn), (usa, jpn)):
            a.trust(b, prints[b.party])
        yield Trio(kor, jpn, usa, prints)
    finally:
        for n in nodes:
            n.stop()


def server_side_cases(t: Trio, tmp: Path) -> dict[str, tuple[NodeProcess, Credential]]:
    """(listener, client credential) pairs that must be refused."""
    kor_cert = load_cert(t.tls(t.kor).cert)
    forged_key, forged = forged_copy(kor_cert)
    return {
        "KOR's subject from a wrong CA": (t.jpn, wrong_ca(tmp, "ca", kor_cert, False)),
        "KOR's subject from a wrong CA, chained to KOR's real certificate":
            (t.jpn, wrong_ca(tmp, "chained", kor_cert, True)),
        "a forged copy of KOR's certificate": (t.jpn, write(tmp, "copy", forged_key,
                                                            [forged])),
        "USA's real certificate at KOR (USA is JPN's partner, not KOR's)":
            (t.kor, t.tls(t.usa)),
        "KOR's real certificate at USA": (t.usa, t.tls(t.kor)),
        "JPN's own certificate at JPN": (t.jpn, t.tls(t.jpn)),
    }


def client_side_cases(t: Trio, tmp: Path) -> dict[str, Credential]:
    """Impostors at JPN's address that KOR's client, pinned to JPN's card, must refuse."""
    jpn_cert = load_cert(t.tls(t.jpn).cert)
    forged_key, forged = forged_copy(jpn_cert)
    return {"an impostor with a forged copy of JPN's certificate":
            write(tmp, "jpn-copy", forged_key, [forged]),
            "an impostor with JPN's subject from a wrong CA":
            wrong_ca(tmp, "jpn-ca", jpn_cert, False),
            "USA's real certificate answering at JPN's address": t.tls(t.usa)}


def test_mtls_refuses_wrong_ca_and_other_partners_certificates(trio: Trio,
                                                               tmp_path: Path) -> None:
    t = trio
    refused: dict[str, bool] = {}
    for name, (node, cred) in server_side_cases(t, tmp_path).items():
        refused[name] = not handshake(node.federation_port,
                                      client(cred.cert, cred.key, t.pem(node)))
    refused["plain HTTP to JPN's federation port"] = not plain_http(t.jpn.federation_port)
    kor = t.tls(t.kor)
    pinned = client_context(kor.cert, kor.key, t.pem(t.jpn))
    for name, cred in client_side_cases(t, tmp_path).items():
        with impostor(cred) as port:
            refused[name] = not handshake(port, pinned)
    print(f"mtls: refused {sum(refused.values())} of {len(refused)} bad handshakes")
    assert all(refused.values()), [n for n, ok in refused.items() if not ok]
    for partner in (t.kor, t.usa):  # the pinned partners get through
        cred = t.tls(partner)
        assert handshake(t.jpn.federation_port, client(cred.cert, cred.key, t.pem(t.jpn)))
    assert handshake(t.jpn.federation_port, pinned)


def test_a_partners_certificate_cannot_carry_envelopes_in_another_partners_name(
        trio: Trio) -> None:
    """KOR's valid TLS identity, envelopes KOR made claiming to come from USA: refused,
    whether KOR signs them under its own key id (no such key on USA's card) or under USA's
    key id (the signature fails). Both are the signature check; whether the TLS identity
    itself is bound to the sender is the next test's (a known finding)."""
    t = trio
    keys = Keystore.load(Path(t.kor.data) / "keys")
    jpn_card = verify_card(httpx.get(t.jpn.url + "/federation/v1/card").json(),
                           t.prints["JPN"])
    usa_card = verify_card(httpx.get(t.usa.url + "/federation/v1/card").json(),
                           t.prints["USA"])
    now = datetime.now(UTC)
    kor_key_id, kor_key = keys.signer(now)
    usa_key_id = usa_card.signing_keys[-1].id
    enc = jpn_card.encryption_keys[-1]

    def envelope(sender: str, key_id: str) -> bytes:
        header = Header(sender, "JPN", f"{sender}-{key_id[:6]}", "batch", "", utc(now),
                        utc(now + timedelta(hours=1)), key_id, enc.id)
        body = payload_json({"messages": [{"id": f"x-{key_id}", "seq": 1, "kind": "note",
                                           "payload": {}}]})
        return seal(header, body, kor_key, x25519_public(enc))

    cred = t.tls(t.kor)
    url = f"https://127.0.0.1:{t.jpn.federation_port}/federation/v1/inbox"
    with httpx.Client(verify=client_context(cred.cert, cred.key, jpn_card.tls_cert),
                      timeout=10) as http:
        answers = {name: http.post(url, content=wire) for name, wire in {
            "as USA with KOR's key id": envelope("USA", kor_key_id),
            "as USA with USA's key id": envelope("USA", usa_key_id),
        }.items()}
        own = http.post(url, content=envelope("KOR", kor_key_id))
    refused = {n: r.status_code == 400 and r.json()["error"]["code"] == "envelope_refused"
               for n, r in answers.items()}
    print(f"mtls: envelopes in another partner's name refused {sum(refused.values())} of "
          f"{len(refused)}")
    assert all(refused.values()), {n: r.text for n, r in answers.items()}
    assert own.status_code == 200  # the same channel carries KOR's own envelopes
    audit = t.jpn.call("GET", "/api/audit", params={"limit": 1000})
    senders = {r["details"].get("sender") for r in audit
               if r["action"] == "envelope.received"}
    assert senders == {"KOR"}


def test_a_partner_cannot_relay_another_partners_genuine_envelope(trio: Trio) -> None:
    """An envelope USA really signed and sealed to JPN, carried over KOR's TLS identity."""
    t = trio
    usa_keys = Keystore.load(Path(t.usa.data) / "keys")
    jpn_card = verify_card(httpx.get(t.jpn.url + "/federation/v1/card").json(),
                           t.prints["JPN"])
    now = datetime.now(UTC)
    key_id, key = usa_keys.signer(now)
    enc = jpn_card.encryption_keys[-1]
    header = Header("USA", "JPN", "USA-relayed", "batch", "", utc(now),
                    utc(now + timedelta(hours=1)), key_id, enc.id)
    body = payload_json({"messages": [{"id": "relayed", "seq": 1, "kind": "note",
                                       "payload": {}}]})
    wire = seal(header, body, key, x25519_public(enc))
    cred = t.tls(t.kor)
    url = f"https://127.0.0.1:{t.jpn.federation_port}/federation/v1/inbox"
    with httpx.Client(verify=client_context(cred.cert, cred.key, jpn_card.tls_cert),
                      timeout=10) as http:
        answer = http.post(url, content=wire)
    assert answer.status_code == 400, "USA's envelope carried by KOR was accepted"
