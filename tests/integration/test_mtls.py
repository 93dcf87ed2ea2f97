"""Node-to-node transport: mutual TLS 1.3, each partner pinned to the certificate in its
signed card. Every bad handshake is refused; a pinned partner gets through."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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


def test_only_pinned_partners_complete_the_handshake(
        pair: tuple[NodeProcess, NodeProcess, dict[str, str]], tmp_path: Path) -> None:
    kor, jpn, _ = pair
    keys = Path(kor.data) / "keys"
    server_pem = (Path(jpn.data) / "keys" / "tls.crt").read_bytes()
    now = datetime.now(UTC)
    stranger = write_pair(tmp_path, "stranger", *self_signed("XXX", [], now))
    expired_key, expired_cert = self_signed("KOR", [], now - timedelta(days=800))
    expired = write_pair(tmp_path, "expired", expired_key, expired_cert)
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
