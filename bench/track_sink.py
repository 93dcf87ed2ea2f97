"""Light partner sinks for ``bench_tracks.py``: each does on receipt of a track-link frame
what a partner node does before it would show the updates (``TrackHub._open_frame`` and
``_apply_group``) and nothing more: mutual TLS pinned to the sender's card; the link's key
frame decrypted (HPKE) and its Ed25519 signature verified with the sender's card key,
addressed to this sink and of kind "tracks"; each later frame opened under the session
key it carried (``tracks.frames``: ChaCha20-Poly1305), numbered (repeats dropped), every
row decoded and validated; then the acknowledgement the sender waits for. No database, no picture,
no subscribers: what is timed is the sender's fan-out, not 33 nodes sharing the cores.

One process holds several sinks (``--parties QAA,QAB``), each with its own keys, card and
TLS listener. It prints one JSON line per sink (party, card URL, fingerprint), then
serves until killed. ``GET /bench/take`` on a sink's card port answers the latencies
recorded since the last take (ms: the wall clock once the frame is verified and checked,
minus each update's time).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from liaison.crypto.envelope import EnvelopeError, open_envelope
from liaison.crypto.keys import Card, ed25519_public, verify_card
from liaison.domain.labels import LabelError
from liaison.domain.tracks import validate_update
from liaison.federation.keystore import Keystore
from liaison.federation.tls import server_context
from liaison.tracks.frames import FrameError, is_session_frame, open_frame, read_frame
from liaison.tracks.rows import update_from_row


class Sink:
    def __init__(self, party: str, root: Path, sender: Card) -> None:
        self.party, self.sender = party, sender
        self.keys = Keystore.create(root / party, datetime.now(UTC))
        self.latencies: list[float] = []
        self.frames = self.refused = 0
        self.address = ""
        self.session: tuple[int, ChaCha20Poly1305] | None = None

    def card(self) -> dict[str, Any]:
        return asdict(self.keys.card(self.party, self.address, datetime.now(UTC)))

    def open(self, wire: bytes) -> tuple[int, int, list[Any]]:
        """What a partner checks before it applies a frame (``TrackHub._open_frame``):
        the key frame as an envelope, then frames under its session key; ``EnvelopeError``
        or ``FrameError`` if forged. A key frame answers ``seq`` 0 with no groups."""
        if is_session_frame(wire):
            sender, recipient, epoch, seq = read_frame(wire)
            if (sender != self.sender.party or recipient != self.party
                    or self.session is None or self.session[0] != epoch):
                raise FrameError("no session for this link")
            body = json.loads(open_frame(self.session[1], wire))
            if (int(body["epoch"]), int(body["seq"])) != (epoch, seq):
                raise FrameError("the frame's numbers differ inside and out")
            return epoch, seq, list(body["groups"])
        now = datetime.now(UTC)

        def verifier(sender: str, key_id: str) -> Any:
            if sender != self.sender.party:
                return None
            info = next((k for k in self.sender.signing_keys if k.id == key_id), None)
            return ed25519_public(info) if info and info.usable(now) else None

        header, payload = open_envelope(wire, lambda k: self.keys.decryptor(k, now),
                                        verifier, now)
        if header.recipient != self.party or header.kind != "tracks":
            raise EnvelopeError(f"a {header.kind!r} envelope for {header.recipient}")
        body = json.loads(payload)
        if "session_key" in body:
            key = base64.b64decode(body["session_key"], validate=True)
            self.session = (int(body["epoch"]), ChaCha20Poly1305(key))
            return int(body["epoch"]), 0, []
        return int(body["epoch"]), int(body["seq"]), list(body["groups"])

    async def link(self, ws: ServerConnection) -> None:
        last = (0, 0)
        try:
            async for wire in ws:
                try:
                    epoch, seq, groups = self.open(bytes(wire) if not isinstance(wire, str)
                                                   else wire.encode())
                except (EnvelopeError, FrameError, ValueError, KeyError, TypeError) as exc:
                    self.refused += 1
                    await ws.close(1008, f"frame refused: {exc}"[:120])
                    return
                if seq == 0:  # the key frame
                    await ws.send(json.dumps({"ack": 0, "session": True}))
                    continue
                if (epoch, seq) <= last:
                    await ws.send(json.dumps({"ack": seq, "duplicate": True}))
                    continue
                last = (epoch, seq)
                sent_at, refused = self.check(groups)
                now = time.time()  # verified, decrypted and checked: a partner has it
                self.latencies.extend((now - t) * 1000 for t in sent_at)
                self.frames += 1
                await ws.send(json.dumps({"ack": seq, "refused": refused, "reason": ""}))
        except ConnectionClosed:
            return

    def check(self, groups: list[Any]) -> tuple[list[float], int]:
        """Each row decoded and validated as a partner does; the update times, refusals."""
        times, refused = [], 0
        for group in groups:
            for row in group["updates"]:
                try:
                    update = update_from_row(row)
                    validate_update(update)
                except (LabelError, ValueError, TypeError, IndexError):
                    refused += 1
                    continue
                times.append(update.time.timestamp())
        return times, refused

    def control(self, _conn: ServerConnection, request: Request) -> Response:
        if request.path.startswith("/bench/take"):
            taken, self.latencies = self.latencies, []
            body = {"latencies": taken, "frames": self.frames, "refused": self.refused}
        elif request.path.startswith("/federation/v1/card"):
            body = self.card()
        else:
            return Response(HTTPStatus.NOT_FOUND, "Not Found", Headers(), b"")
        data = json.dumps(body).encode()
        return Response(HTTPStatus.OK, "OK", Headers([("Content-Type", "application/json"),
                                                      ("Content-Length", str(len(data)))]),
                        data)


async def run(parties: list[str], root: Path, sender_url: str, fingerprint: str) -> None:
    sender = verify_card(httpx.get(sender_url + "/federation/v1/card", timeout=30).json(),
                         fingerprint)
    servers = []
    for party in parties:
        sink = Sink(party, root, sender)
        cert, key = sink.keys.tls_files
        tls = await serve(sink.link, "127.0.0.1", 0, compression=None, max_size=16 << 20,
                          ssl=server_context(cert, key, [sender.tls_cert]))
        sink.address = f"https://127.0.0.1:{_port(tls)}"
        plain = await serve(sink.link, "127.0.0.1", 0, process_request=sink.control)
        servers += [tls, plain]
        print(json.dumps({"party": party, "url": f"http://127.0.0.1:{_port(plain)}",
                          "fingerprint": sink.keys.fingerprint}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def _port(server: Any) -> int:
    return int(next(iter(server.sockets)).getsockname()[1])


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--parties", required=True)
    args.add_argument("--root", required=True)
    args.add_argument("--sender-url", required=True)
    args.add_argument("--sender-fingerprint", required=True)
    a = args.parse_args()
    asyncio.run(run(a.parties.split(","), Path(a.root), a.sender_url, a.sender_fingerprint))
    return 0


if __name__ == "__main__":
    sys.exit(main())
