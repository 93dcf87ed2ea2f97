"""The CoT port over TLS with client certificates, as TAK servers run it: each sensor's
certificate names it, its input goes to its own feed, and a certificate that names no
sensor with a feed sends nothing in (issue 21, item 4). pytak is the sensor."""

from __future__ import annotations

import asyncio
import warnings
from configparser import ConfigParser
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytak
from tests.cot_certs import issue
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.domain.parties import default_parties
from liaison.domain.users import Clearance, Role, User
from liaison.services import tracks as track_service
from liaison.services.context import Deps
from liaison.tracks.cot_server import CotServer, sensor_tls
from liaison.tracks.hub import TrackHub
from liaison.tracks.links import PartnerLink

from factories import seed_agreements

NOW = datetime(2019, 11, 1, 12, tzinfo=UTC)
ADMIN = User("admin", "admin", frozenset({Role.ADMIN}), Clearance(10))
LABEL = {"policy": "USA", "classification": "SECRET", "originator": "USA",
         "created": "2019-10-31T00:00:00+00:00", "rel_to": ["USA", "KOR"]}


class NoSocketsHub(TrackHub):
    def _link(self, partner: str) -> PartnerLink:
        return self.links.setdefault(partner, self._new_link(partner))


def tak(port: int, root: Path, name: str) -> Any:
    config = ConfigParser()
    config["tak"] = {"COT_URL": f"tls://127.0.0.1:{port}",
                     "PYTAK_TLS_CLIENT_CERT": str(root / f"{name}.pem"),
                     "PYTAK_TLS_CLIENT_KEY": str(root / f"{name}.key"),
                     "PYTAK_TLS_CLIENT_CAFILE": str(root / "ca.pem"),
                     "PYTAK_TLS_DONT_CHECK_HOSTNAME": "1"}
    return config["tak"]


def track(uid: str) -> bytes:
    return bytes(pytak.serialize_cot(pytak.cot_event(
        lat=39.0, lon=125.7, ce=50, hae=1000, le=20, uid=uid, cot_type="a-h-A-M-F")))


async def exchange(root: Path) -> tuple[CotServer, TrackHub]:
    state = MemoryState()
    state.parties.update(default_parties())
    for a in seed_agreements():
        state.agreements[a.id] = a
    deps = Deps(uow=lambda: MemoryUnitOfWork(state), party="USA", clock=lambda: NOW,
                ids=lambda: "id")
    for feed in ("radar", "infrared"):
        track_service.register_feed(deps, ADMIN, {"name": feed, "title": feed,
                                                  "label": LABEL})
    ca = issue(root, "ca", None)
    for name in ("port", "radar-1", "ir-2", "stranger"):
        issue(root, name, ca)
    hub = NoSocketsHub(deps)
    await hub.start()
    server = CotServer(deps, hub, "", "", sensors={"radar-1": "radar", "ir-2": "infrared"})
    await server.start("127.0.0.1", 0, sensor_tls(root / "port.pem", root / "port.key",
                                                  root / "ca.pem"))
    try:
        writers = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pytak warns that the host name is unchecked
            for name in ("radar-1", "ir-2", "stranger"):
                _, writer = await pytak.protocol_factory(tak(server.port, root, name))
                sender = pytak.TXWorker(asyncio.Queue(), tak(server.port, root, name),
                                        writer)
                await sender.send_data(track(f"{name}-track"))
                writers.append(writer)
        async with asyncio.timeout(10):
            while server.stats.view()["events_in"] < 3:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        for writer in writers:
            writer.close()
        return server, hub
    finally:
        await server.stop()
        await hub.stop()


def test_each_sensor_certificate_feeds_its_own_feed(tmp_path: Path) -> None:
    server, hub = asyncio.run(exchange(tmp_path))
    fed = sorted((p.source, p.update.uid) for p in hub.current.values())
    assert fed == [("feed:infrared", "ir-2-track"), ("feed:radar", "radar-1-track")]
    view = server.stats.view()
    assert view["refused_in"] == 1
    assert "names no sensor with a feed" in view["last_error"]
