"""The NATS fixture gives a server that speaks the protocol, with JetStream on."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit


def test_nats_answers_info_and_pong(nats_url: str) -> None:
    parts = urlsplit(nats_url)
    with socket.create_connection((parts.hostname, parts.port or 4222), timeout=5) as conn:
        stream = conn.makefile("rwb")
        verb, _, body = stream.readline().partition(b" ")
        assert verb == b"INFO"
        assert json.loads(body)["jetstream"] is True
        stream.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
        stream.flush()
        assert stream.readline() == b"PONG\r\n"
