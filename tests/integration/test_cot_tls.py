"""The CoT port of a real node process over TLS with client certificates, configured by
its settings (``LIAISON_COT_TLS_*``, ``LIAISON_COT_SENSORS``), with the third-party
``pytak`` at both ends: a sensor's events become tracks of the feed its certificate maps
to; a certificate mapping to no feed, one from another CA and a connection without a
certificate put nothing in; a TAK client receives the stream with the classification
in the attributes TAK clients show (issue 21, item 4)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import warnings
from collections.abc import Iterator
from configparser import ConfigParser
from pathlib import Path
from typing import Any

import pytak
import pytest

from ..cot_certs import issue
from .node_fixtures import PASSWORD
from .processes import NodeProcess, free_port, wait_for

FEED = {"name": "sbirs", "title": "US space-based infrared, East Asia",
        "topic": "DPRK/missile", "discipline": "MASINT",
        "label": {"policy": "USA", "classification": "SECRET", "originator": "USA",
                  "created": "2019-10-31T00:00:00+00:00", "rel_to": ["USA", "KOR"]}}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    certs = tmp_path / "certs"
    certs.mkdir()
    ca = issue(certs, "ca", None)
    for name in ("port", "radar-1", "stranger", "watch-1"):
        issue(certs, name, ca)
    other = tmp_path / "other"
    other.mkdir()
    issue(other, "radar-1", issue(other, "ca", None))  # the sensor's name, another CA
    usa = NodeProcess("USA", tmp_path)
    usa.cot_port = free_port()  # type: ignore[attr-defined]
    try:
        usa.init()
        usa.start({"LIAISON_COT_PORT": str(usa.cot_port),  # type: ignore[attr-defined]
                   "LIAISON_COT_TLS_CERT": str(certs / "port.pem"),
                   "LIAISON_COT_TLS_KEY": str(certs / "port.key"),
                   "LIAISON_COT_SENSOR_CA": str(certs / "ca.pem"),
                   "LIAISON_COT_SENSORS": "radar-1=sbirs, ghost=unregistered",
                   "LIAISON_COT_USER": "watch"})
        usa.login()
        usa.call("POST", "/api/users", json={"username": "watch", "roles": ["watch_officer"],
                                             "clearance": "SECRET", "password": PASSWORD})
        usa.call("POST", "/api/tracks/feeds", json=FEED)
        yield usa
    finally:
        usa.stop()


def tak_config(port: int, certs: Path, name: str) -> Any:
    config = ConfigParser()
    config["tak"] = {"COT_URL": f"tls://127.0.0.1:{port}",
                     "PYTAK_TLS_CLIENT_CERT": str(certs / f"{name}.pem"),
                     "PYTAK_TLS_CLIENT_KEY": str(certs / f"{name}.key"),
                     "PYTAK_TLS_CLIENT_CAFILE": str(certs.parent / "certs" / "ca.pem"),
                     "PYTAK_TLS_DONT_CHECK_HOSTNAME": "1"}
    return config["tak"]


def track(uid: str) -> bytes:
    return bytes(pytak.serialize_cot(pytak.cot_event(
        lat=39.0, lon=125.7, ce=50, hae=1000, le=20, uid=uid, cot_type="a-h-A-M-F")))


class Collect(pytak.RXWorker):  # type: ignore[misc]
    async def handle_data(self, data: bytes) -> None:
        await self.queue.put(data)


async def send_as(port: int, certs: Path, name: str, uid: str) -> Any:
    """pytak as the sensor ``name``: one track event; its writer (None: refused)."""
    try:
        _, writer = await pytak.protocol_factory(tak_config(port, certs, name))
        sender = pytak.TXWorker(asyncio.Queue(), tak_config(port, certs, name), writer)
        await sender.send_data(track(uid))
        return writer
    except (OSError, ssl.SSLError):
        return None


async def send_without_certificate(port: int, root: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(root / "certs" / "ca.pem"))
    ctx.check_hostname = False
    with contextlib.suppress(OSError, ssl.SSLError):
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        writer.write(track("anonymous-track"))
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()


async def tak_exchange(usa: NodeProcess, root: Path) -> list[bytes]:
    """A TAK client listens; the sensor, a stranger, a certificate from another CA and a
    connection without one send a track each; what the TAK client received."""
    port, certs = usa.cot_port, root / "certs"  # type: ignore[attr-defined]
    rx_reader, rx_writer = await pytak.protocol_factory(tak_config(port, certs, "watch-1"))
    async with asyncio.timeout(30):
        while (await asyncio.to_thread(usa.call, "GET", "/api/tracks/stats"))[
                "subscribers"] < 1:
            await asyncio.sleep(0.05)
    received: asyncio.Queue[bytes] = asyncio.Queue()
    listener = Collect(received, tak_config(port, certs, "watch-1"), rx_reader)
    await send_without_certificate(port, root)
    writers = [await send_as(port, root / "other", "radar-1", "impostor-track"),
               await send_as(port, certs, "stranger", "stranger-track"),
               await send_as(port, certs, "radar-1", "radar-1-track")]
    got: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while not any(b"radar-1-track" in e for e in got):
                await listener.run_once()
                while not received.empty():
                    got.append(received.get_nowait())
    finally:
        for w in (rx_writer, *writers):
            if w is not None:
                w.close()
    return got


def test_a_sensor_certificate_feeds_its_feed_and_tak_clients_see_the_label(
        node: NodeProcess, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytak warns that the host name is unchecked
        got = asyncio.run(tak_exchange(node, tmp_path))
    [event] = [e for e in got if b"radar-1-track" in e]
    assert b'access="SECRET"' in event and b'rel_to="KOR,USA"' in event
    assert b"<remarks>(S//REL TO USA, KOR)</remarks>" in event
    cot = wait_for(lambda: (c := node.call("GET", "/api/tracks/stats")["cot"])
                   ["events_in"] >= 2 and c, what="both certified senders' events counted")
    assert cot["events_in"] == 2 and cot["refused_in"] == 1
    assert "names no sensor with a feed" in cot["last_error"]
    tracks = node.call("GET", "/api/tracks")
    assert [t["uid"] for t in tracks] == ["radar-1-track"]


def test_serve_fails_with_the_setting_to_fix_when_the_certificate_is_bad(
        tmp_path: Path) -> None:
    (tmp_path / "port.pem").write_text("not a certificate")
    usa = NodeProcess("USA", tmp_path)
    usa.init()
    command, _ = usa.serve_command()
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, **usa.backend_env, "COLUMNS": "200",
                                 "LIAISON_COT_PORT": str(free_port()),
                                 "LIAISON_COT_TLS_CERT": str(tmp_path / "port.pem"),
                                 "LIAISON_COT_TLS_KEY": str(tmp_path / "port.key"),
                                 "LIAISON_COT_SENSOR_CA": str(tmp_path / "ca.pem")})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "LIAISON_COT_TLS_CERT=" in result.stdout + result.stderr
