"""Node-to-node transport: mutual TLS 1.3, each partner pinned to the certificate in its
signed card. Every bad handshake is refused; a pinned partner gets through."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from liaison.crypto.tls import self_signed

from .processes import NodeProcess


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess, dict[str, str]]]:
    kor, jpn = NodeProcess("KOR", tmp_path), NodeProcess("JPN", tmp_path)
    try:
        prints = {n.party: n.init() for n in (kor, jpn)}
        for node in (kor, jpn):
            node.start()
            node.login()
        jpn.trust(kor, prints["KOR"])
        yield kor, jpn, prints
    finally:
        for node in (kor, jpn):
            node.stop()


def handshake(port: int, ctx: ssl.SSLContext) -> bool:
    """True when the server accepts the handshake and answers an HTTP request."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw) as tls:
            tls.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return tls.recv(100).startswith(b"HTTP/1.1")
    except (ssl.SSLError, OSError):
        return False


def client(cert: Path | None, key: Path | None, server_pem: bytes,
           version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = version
    ctx.load_verify_locations(cadata=server_pem.decode())
    if cert and key:
        ctx.load_cert_chain(cert, key)
    return ctx


def write_pair(tmp: Path, name: str, key_pem: bytes, cert_pem: bytes) -> tuple[Path, Path]:
    (tmp / f"{name}.crt").write_bytes(cert_pem)
    (tmp / f"{name}.key").write_bytes(key_pem)
    return tmp / f"{name}.crt", tmp / f"{name}.key"


def issued_by(issuer_key_pem: bytes, issuer_cert_pem: bytes, not_before: datetime,
              not_after: datetime) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) of a client certificate for a fresh key, signed with the
    issuer's key under the issuer's name: it chains to the issuer's pinned certificate, so
    its dates are all a verifier can refuse it for."""
    issuer = x509.load_pem_x509_certificate(issuer_cert_pem)
    issuer_key = serialization.load_pem_private_key(issuer_key_pem, None)
    assert isinstance(issuer_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, "liaison node KOR, client")]))
            .issuer_name(issuer.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(issuer_key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def test_only_pinned_partners_complete_the_handshake(
        pair: tuple[NodeProcess, NodeProcess, dict[str, str]], tmp_path: Path) -> None:
    kor, jpn, _ = pair
    keys = Path(kor.data) / "keys"
    server_pem = (Path(jpn.data) / "keys" / "tls.crt").read_bytes()
    now = datetime.now(UTC)
    stranger = write_pair(tmp_path, "stranger", *self_signed("XXX", [], now))
    # expired, but chained to KOR's pinned certificate: only the expiry check refuses it
    # (the same certificate with current dates gets through, below)
    pinned_key, pinned_cert = (keys / "tls.key").read_bytes(), (keys / "tls.crt").read_bytes()
    expired = write_pair(tmp_path, "expired", *issued_by(
        pinned_key, pinned_cert, now - timedelta(days=30), now - timedelta(days=1)))
    current = write_pair(tmp_path, "current", *issued_by(
        pinned_key, pinned_cert, now - timedelta(days=1), now + timedelta(days=30)))
    bad = {
        "no client certificate": client(None, None, server_pem),
        "unknown self-signed certificate": client(*stranger, server_pem),
        "expired certificate": client(*expired, server_pem),
        "TLS 1.2": client(keys / "tls.crt", keys / "tls.key", server_pem,
                          ssl.TLSVersion.TLSv1_2),
    }
    refused = {name: not handshake(jpn.federation_port, ctx) for name, ctx in bad.items()}
    print(f"refused {sum(refused.values())} of {len(refused)} bad handshakes")
    assert all(refused.values()), refused
    pinned = client(keys / "tls.crt", keys / "tls.key", server_pem)
    assert handshake(jpn.federation_port, pinned)
    assert handshake(jpn.federation_port, client(*current, server_pem)), \
        "the expired case's certificate with current dates should get through"
    other = (Path(kor.data) / "keys" / "tls.crt").read_bytes()
    wrong_server = client(keys / "tls.crt", keys / "tls.key", other)
    assert not handshake(jpn.federation_port, wrong_server)  # a client pins the server too


def test_the_api_port_has_no_inbox(pair: tuple[NodeProcess, NodeProcess,
                                               dict[str, str]]) -> None:
    """Envelopes are accepted only on the mutual-TLS listener."""
    import httpx

    _, jpn, _ = pair
    r = httpx.post(jpn.url + "/federation/v1/inbox", content=b"LSN1")
    assert r.status_code in (404, 405)
