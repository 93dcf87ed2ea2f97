"""The CoT port with pytak as a sensor and as a TAK client (issue 21, item 4): a client's
own presence, ping and self-reports never become tracks, and an ingested event goes back
out as it came in, its label in the attributes TAK clients show and filter."""

from __future__ import annotations

import asyncio
from configparser import ConfigParser
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import pytak
import pytest
from defusedxml import ElementTree as SafeET  # type: ignore[import-untyped]
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.domain.parties import default_parties
from liaison.domain.users import Clearance, Role, User
from liaison.services import tracks as track_service
from liaison.services.context import Deps
from liaison.tracks.cot import CotError, parse_event, read_event, to_event
from liaison.tracks.cot_server import CotServer
from liaison.tracks.hub import TrackHub
from liaison.tracks.links import PartnerLink

from factories import seed_agreements

NOW = datetime(2019, 11, 1, 12, tzinfo=UTC)
ADMIN = User("admin", "admin", frozenset({Role.ADMIN}), Clearance(10))
WATCH = User("watch", "watch", frozenset({Role.ANALYST}), Clearance(10))
FEED: dict[str, Any] = {
    "name": "radar", "title": "radar", "topic": "DPRK/missile", "discipline": "MASINT",
    "label": {"policy": "USA", "classification": "SECRET", "originator": "USA",
              "created": "2019-10-31T00:00:00+00:00", "rel_to": ["USA", "KOR", "JPN"]}}


def sensor_event(**extra: Any) -> bytes:
    """A missile track as a pytak sensor sends it: unknown altitude, its own how, stale,
    circular and linear error."""
    fields: dict[str, Any] = {"lat": 39.1, "lon": 125.7, "ce": 120, "hae": 9999999,
                              "le": 35, "uid": "radar-7", "stale": 600,
                              "cot_type": "a-h-A-M-F", "how": "h-e", "callsign": "KN-23"}
    return bytes(pytak.serialize_cot(pytak.cot_event(**{**fields, **extra})))


def self_report() -> bytes:
    """A TAK client's post about itself, as ATAK and WinTAK send it."""
    detail = pytak.cot_detail(ET.Element("takv", {"platform": "WinTAK", "version": "5"}),
                              ET.Element("__group", {"name": "Cyan", "role": "Team Member"}))
    return bytes(pytak.serialize_cot(pytak.cot_event(
        lat=37.5, lon=127.0, uid="ANDROID-watch", cot_type="a-f-G-U-C", detail=detail,
        callsign="WATCH")))


def test_presence_ping_and_self_reports_are_a_clients_own_traffic() -> None:
    ping = (b'<event version="2.0" uid="p" type="t-x-c-t" how="h-g-i-g-o" '
            b'time="2019-11-01T12:00:00Z" start="2019-11-01T12:00:00Z" '
            b'stale="2019-11-01T12:00:20Z"><point lat="0" lon="0" hae="0" ce="9999999" '
            b'le="9999999"/><detail/></event>')
    for raw in (bytes(pytak.hello_event()), ping, ping.replace(b"t-x-c-t", b"t-x-c-t-r"),
                self_report()):
        event = read_event(raw[raw.find(b"<event"):])
        assert event.update is None and event.client, raw
        with pytest.raises(CotError, match="client's own event"):
            parse_event(raw[raw.find(b"<event"):])
    assert read_event(strip(sensor_event())).update is not None


def strip(raw: bytes) -> bytes:
    return raw[raw.find(b"<event"):]


def test_an_event_goes_out_as_it_came_in() -> None:
    sent = strip(sensor_event())
    event = read_event(sent)
    assert event.update is not None and event.detail is not None
    assert event.update.alt_m == 0.0  # the analytics never take 9999999 as metres
    out = SafeET.fromstring(to_event(event.update, detail=event.detail, sender_uid="radar-7",
                                 access=("SECRET", "", "JPN,KOR,USA")))
    came = SafeET.fromstring(sent)
    assert out.get("how") == "h-e"
    assert out.get("stale") == came.get("stale", "")[:23] + "Z"  # to the millisecond
    point = out.find("point")
    assert point is not None
    assert (point.get("hae"), point.get("ce"), point.get("le")) == ("9999999.0", "120.0",
                                                                  "35.0")
    assert (out.get("access"), out.get("caveat"), out.get("rel_to")) == (
        "SECRET", None, "JPN,KOR,USA")
    liaison = out.find("detail/liaison")
    assert liaison is not None and liaison.get("uid") == "radar-7"


def test_a_bad_how_is_refused_with_the_reason() -> None:
    with pytest.raises(CotError, match="not a CoT how"):
        read_event(strip(sensor_event(how="<script>")))


def test_without_what_came_in_the_event_is_as_before() -> None:
    update = parse_event(strip(sensor_event()))
    out = SafeET.fromstring(to_event(update))
    assert out.get("how") == "m-g" and out.get("access") is None
    stale = datetime.fromisoformat(out.get("stale", "").replace("Z", "+00:00"))
    assert abs(stale - update.time - timedelta(seconds=60)) < timedelta(milliseconds=1)


# --- the port, with pytak on both sides ------------------------------------------------


class NoSocketsHub(TrackHub):
    """The real hub; partner links are never started (no partner in these tests)."""

    def _link(self, partner: str) -> PartnerLink:
        return self.links.setdefault(partner, self._new_link(partner))


def tak(port: int) -> Any:
    config = ConfigParser()
    config["tak"] = {"COT_URL": f"tcp://127.0.0.1:{port}"}
    return config["tak"]


async def read_until(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    got: list[bytes] = []
    async with asyncio.timeout(10):
        while len(got) < count:
            got.append(strip(await reader.readuntil(b"</event>")))
    return got


async def port_exchange() -> tuple[CotServer, TrackHub, bytes, list[bytes]]:
    state = MemoryState()
    state.parties.update(default_parties())
    for a in seed_agreements():
        state.agreements[a.id] = a
    state.users["watch"] = (WATCH, None)
    deps = Deps(uow=lambda: MemoryUnitOfWork(state), party="USA", clock=lambda: NOW,
                ids=lambda: "id")
    track_service.register_feed(deps, ADMIN, FEED)
    hub = NoSocketsHub(deps)
    await hub.start()
    server = CotServer(deps, hub, "radar", "watch")
    await server.start("127.0.0.1", 0)
    try:
        client_reader, client_writer = await pytak.protocol_factory(tak(server.port))
        async with asyncio.timeout(10):
            while not hub.subscribers:
                await asyncio.sleep(0.01)
        client = pytak.TXWorker(asyncio.Queue(), tak(server.port), client_writer)
        for own in (bytes(pytak.hello_event()), self_report(),
                    sensor_event(uid="from-the-client")):
            await client.send_data(own)  # the client's own traffic, then a position
        _, sensor_writer = await pytak.protocol_factory(tak(server.port))
        sensor = pytak.TXWorker(asyncio.Queue(), tak(server.port), sensor_writer)
        await sensor.send_data(bytes(pytak.hello_event()))
        sent = sensor_event(access="SECRET", caveat="", relto="USA,KOR")
        await sensor.send_data(sent)
        got = await read_until(client_reader, 1)
        async with asyncio.timeout(10):
            while server.stats.view()["client_events"] < 4:
                await asyncio.sleep(0.01)
        for w in (client_writer, sensor_writer):
            w.close()
        return server, hub, strip(sent), got
    finally:
        await server.stop()
        await hub.stop()


def test_pytak_sensor_in_tak_client_out_over_the_port() -> None:
    server, hub, sent, got = asyncio.run(port_exchange())
    stats = server.stats.view()
    # hello from both, the client's self-report, and what it sent after reporting itself
    assert stats["client_events"] == 4 and stats["events_in"] == 1
    assert [p.update.uid for p in hub.current.values()] == ["radar-7"]
    out = SafeET.fromstring(got[0])
    point = out.find("point")
    assert point is not None and point.get("hae") == "9999999.0"
    assert (out.get("how"), point.get("le"), point.get("ce")) == ("h-e", "35.0", "120.0")
    came = SafeET.fromstring(sent)
    assert out.get("stale") == came.get("stale", "")[:23] + "Z" != out.get("time")
    assert (out.get("access"), out.get("rel_to")) == ("SECRET", "JPN,KOR,USA")
    remarks = out.find("detail/remarks")
    assert remarks is not None and "REL TO" in (remarks.text or "")
    liaison = out.find("detail/liaison")
    assert liaison is not None and liaison.get("uid") == "radar-7"
    assert out.get("uid", "").startswith("liaison-")
