"""No loss under crashes (the assurance issue, part 1): releases and track updates flow
KOR → JPN while the nodes are killed with SIGKILL at random moments and started again.

What is proven, with real node processes:

- **Releases, embedded stack (SQLite, in-process bus), sender and receiver killed.** N
  releases are queued at KOR in chunks; between chunks JPN (the receiver) and then KOR (the
  sender) are each SIGKILLed K times at random moments and restarted. Afterwards JPN's inbox
  holds each of the N messages exactly once, accepted, in KOR's sequence order (the order
  JPN applied them); JPN's ledger records each released item received exactly once (the
  release's effect, not only its inbox row); KOR holds a receipt for each of the N.
- **Track updates, embedded stack, receiver killed.** A sensor posts updates to KOR's API
  all along; every update the API accepted (HTTP 200) reaches JPN's watch officer's
  WebSocket exactly once through the K receiver SIGKILLs: KOR keeps its queue and sends
  again the frames JPN had not acknowledged. An update JPN took before the officer's
  WebSocket was open again is shown in the picture sent on reconnecting (each update is
  its own track, so the picture lists every one); the figure says how many. KOR's link
  discarded nothing as stale (every outage is far below ``STALE_S``), nothing overflowed,
  JPN refused nothing and dropped nothing for a slow subscriber.
  On this stack the track path is in memory by design: before each *sender* SIGKILL the
  sensor pauses and KOR's link is drained (every accepted update acknowledged by JPN), so
  the sender kills test the releases only. What a sender SIGKILL with updates still queued
  costs is shown, not asserted: with JPN down a burst is accepted, KOR's counters show it
  held in memory, and KOR is SIGKILLed.
- **Track updates, PostgreSQL + NATS JetStream stack, sender killed.** KOR answers an
  ingest only once its stream holds it; KOR is SIGKILLed K times at random moments (the last
  right after a burst was accepted) while the sensor posts (a batch whose answer was lost is
  posted again; the stream stores it once). Every accepted update reaches JPN's watch
  officer exactly once: the restarted KOR takes the link's lease (after ``leases.TTL``) and
  sends again from the last position it recorded as acknowledged; JPN drops the repeats
  by position (stored records older than ``STALE_S`` are skipped when resuming; the figure
  counts them, and none of the accepted updates may be missing).

Known finding, kept visible by a strict xfail (slow): on the stream stack, when KOR's link
is taken over (here: KOR SIGKILLed) *and* JPN restarts before the new link connects, the
updates of the last seconds before the takeover reach the watch officer twice. The new
link sends again from the position KOR last *recorded* (every ``leases.RENEW_S``), which
lags the position JPN acknowledged; JPN drops such repeats by position, but only while it
remembers the positions (in memory). Reproduced by
``test_stream_sender_and_receiver_killed_together_repeat_updates`` (``make soak``).

Figures: ``crash soak: releases ...``, ``crash soak: track updates ...`` (one line per
part). CI form: a few hundred releases and 2 kills of each kind, 2 sender kills on the
stream stack; ``make soak`` (``LIAISON_SOAK=1``, marked slow): 10,000 releases and 10 kills
of each kind, 8 sender kills on the stream stack.
``LIAISON_CRASH_SEED`` repeats the random moments of a run (its seed is printed).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ..integration.processes import NodeProcess, wait_for
from ..servers import create_database, drop_database
from .traffic import (
    NODE_ENV,
    TrackSender,
    WatchOfficer,
    connect_pair,
    embedded,
    enqueue_releases,
    link_to_jpn,
    received_releases,
    release_verdict,
    settle,
    track_rows,
    track_verdict,
)

SEED = int(os.environ.get("LIAISON_CRASH_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)
BURST = 300


@dataclass(frozen=True)
class Plan:
    releases: int
    kills: int  # SIGKILLs of each kind (sender, receiver)


CI = Plan(releases=400, kills=2)
LONG = Plan(releases=10_000, kills=10)
STREAM_CI_KILLS, STREAM_LONG_KILLS = 2, 8  # sender SIGKILLs on the stream stack


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """``check`` held before ``timeout``; no exception, so that the figure is printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return bool(check())


def chunks(total: int, parts: int) -> Iterator[tuple[int, int]]:
    size = total // parts
    for k in range(parts):
        yield k * size, size if k < parts - 1 else total - size * (parts - 1)


def pid_of(node: NodeProcess) -> Callable[[], int]:
    return lambda: node.proc.pid if node.proc is not None else 0


class Counters:
    """Counters of node processes that get killed: sampled before each kill, summed."""

    def __init__(self) -> None:
        self.kor: Counter[str] = Counter()
        self.jpn: Counter[str] = Counter()

    def note_kor(self, kor: NodeProcess) -> None:
        view = link_to_jpn(kor)
        self.kor.update({k: int(view.get(k, 0)) for k in (
            "resent_frames", "stale_discarded", "dropped_overflow", "withdrawn",
            "refused_by_partner")})

    def note_jpn(self, jpn: NodeProcess) -> None:
        stats = jpn.call("GET", "/api/tracks/stats")
        self.jpn.update({k: int(stats.get(k, 0)) for k in (
            "received_refused", "subscriber_dropped", "duplicates", "frames_duplicate")})

    def lost_on_the_way(self) -> dict[str, int]:
        return {k: v for k, v in {**self.kor, **self.jpn}.items()
                if v and k in ("stale_discarded", "dropped_overflow", "withdrawn",
                               "refused_by_partner", "received_refused",
                               "subscriber_dropped")}


def test_releases_through_sender_and_receiver_sigkills_tracks_through_receiver_sigkills(
        tmp_path: Path) -> None:
    run_embedded(tmp_path, CI)


@pytest.mark.slow
def test_soak_releases_and_tracks_through_many_sigkills(tmp_path: Path) -> None:
    """`make soak`: the long form."""
    run_embedded(tmp_path, LONG)


def test_stream_keeps_accepted_track_updates_through_sender_sigkills(
        tmp_path: Path, postgres_server: str, nats_url: str) -> None:
    run_stream(tmp_path, postgres_server, nats_url, STREAM_CI_KILLS)


@pytest.mark.slow
def test_soak_stream_keeps_track_updates_through_many_sender_sigkills(
        tmp_path: Path, postgres_server: str, nats_url: str) -> None:
    """`make soak`: the long form."""
    run_stream(tmp_path, postgres_server, nats_url, STREAM_LONG_KILLS)


class RepeatsShown(Exception):
    """The watch officer was shown updates twice (the known finding below)."""


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=RepeatsShown, reason=(
    "known finding: a partner that restarts forgets the stream positions it had; the "
    "link's new holder sends again from the last recorded position (every leases.RENEW_S "
    "behind what was acknowledged) and the watch officer sees those updates twice"))
def test_stream_sender_and_receiver_killed_together_repeat_updates(
        tmp_path: Path, postgres_server: str, nats_url: str) -> None:
    """KOR (stream stack) and JPN SIGKILLed together, a second after KOR recorded the
    position JPN acknowledged; JPN comes back first."""
    database = create_database(postgres_server)
    kor = NodeProcess("KOR", tmp_path, database_url=database, bus_url=nats_url)
    jpn = embedded(NodeProcess("JPN", tmp_path, database_url="-"))
    sender = TrackSender(kor, "R", retry_same=True, interval_s=0.05)
    officer = WatchOfficer(jpn, pid_of(jpn))
    engine = sa.create_engine(database)
    try:
        connect_pair(kor, jpn, NODE_ENV)

        def recorded() -> int:
            with engine.connect() as conn:
                return int(conn.execute(sa.text(
                    "select position from leases where name = 'tracks-link:JPN'"))
                    .scalar() or 0)

        wait_for(lambda: kor.call("GET", "/api/workers")["leases"].get("tracks-link:JPN"),
                 30, "KOR's track link running")
        officer.start()
        sender.start()
        time.sleep(3.0)
        before = recorded()
        wait_for(lambda: recorded() > before, 10, "KOR recording JPN's acknowledgements")
        time.sleep(1.0)  # acknowledged by JPN, not yet recorded by KOR
        kor.kill()
        jpn.kill()
        jpn.start(NODE_ENV)
        kor.start(NODE_ENV)
        time.sleep(1.0)
        sender.stop()
        wait_until(lambda: officer.has_all(sender.accepted), 90)
        settle(1.5)
        tracks = track_verdict(sender, officer)
    finally:
        sender.stop()
        officer.stop()
        kor.stop()
        jpn.stop()
        engine.dispose()
        drop_database(postgres_server, database)
    print(f"\ncrash soak (PostgreSQL + NATS), known finding: KOR and JPN SIGKILLed together: "
          f"{tracks.figure}")
    assert tracks.missing == []
    if tracks.duplicates:
        raise RepeatsShown(f"{tracks.duplicates} updates shown twice")


def run_embedded(tmp_path: Path, plan: Plan) -> None:
    rng = random.Random(SEED)
    kor = embedded(NodeProcess("KOR", tmp_path, database_url="-"))
    jpn = embedded(NodeProcess("JPN", tmp_path, database_url="-"))
    sender = TrackSender(kor, "U")
    officer = WatchOfficer(jpn, pid_of(jpn))
    counters = Counters()
    queued: list[tuple[str, int]] = []
    parts = chunks(plan.releases, 2 * plan.kills + 1)
    started = time.monotonic()
    try:
        connect_pair(kor, jpn, NODE_ENV)
        officer.start()
        sender.start()
        for _ in range(plan.kills):
            queued += enqueue_releases(kor, "CS", *next(parts))
            time.sleep(rng.uniform(0.1, 1.0))  # the receiver, at a random moment
            counters.note_jpn(jpn)
            jpn.kill()
            time.sleep(rng.uniform(0.2, 1.0))
            jpn.start(NODE_ENV)
            queued += enqueue_releases(kor, "CS", *next(parts))
            sender.pause()  # the embedded track queue is in memory: drain it first
            wait_for(lambda: (v := link_to_jpn(kor)) and v["queue"] == 0
                     and v["in_flight_frames"] == 0, 60, "KOR's track link drained")
            counters.note_kor(kor)
            time.sleep(rng.uniform(0.1, 1.0))  # the sender, at a random moment
            kor.kill()
            time.sleep(rng.uniform(0.2, 1.0))
            kor.start(NODE_ENV)
            sender.resume()
        queued += enqueue_releases(kor, "CS", *next(parts))
        time.sleep(1.0)
        sender.stop()
        delivered = wait_until(lambda: len(received_releases(jpn, "CS").inbox)
                               >= len(queued), 240)
        wait_until(lambda: kor.call("GET", "/api/outbox")["JPN"]["delivered"]
                   >= len(queued), 60 if delivered else 1)
        wait_until(lambda: officer.has_all(sender.accepted), 90)
        settle(1.5)  # late repeats would show now
        counters.note_kor(kor)
        counters.note_jpn(jpn)
        settled = int(kor.call("GET", "/api/outbox")["JPN"]["delivered"])
        releases, problems = release_verdict(queued, received_releases(jpn, "CS"), settled)
        tracks = track_verdict(sender, officer)
        took = time.monotonic() - started
        queued_burst, frames_burst = held_at_sender_kill(kor, jpn)
    finally:
        sender.stop()
        officer.stop()
        kor.stop()
        jpn.stop()
    kills = f"{plan.kills} sender and {plan.kills} receiver SIGKILLs"
    print(f"\ncrash soak: {releases}, through {kills} (seed {SEED}, {took:.1f} s)")
    print(f"crash soak: {tracks.figure}, through {plan.kills} receiver SIGKILLs "
          f"({tracks.pictured} of them shown in the picture on reconnecting; KOR resent "
          f"{counters.kor['resent_frames']} frames; embedded stack: the {plan.kills} sender "
          f"SIGKILLs came with KOR's link drained, its track queue being in memory)")
    print(f"crash soak, embedded stack by design: with JPN down, a burst of {BURST} updates "
          f"was accepted (HTTP 200) and held in KOR's memory ({queued_burst} updates queued, "
          f"{frames_burst} frame(s) not acknowledged) when KOR was SIGKILLed: lost, as only the "
          f"PostgreSQL + NATS stack stores an ingest before answering")
    assert not problems, problems
    assert tracks.missing == [], (f"{len(tracks.missing)} accepted updates never reached "
                                  f"the officer, e.g. {tracks.missing[:5]}; {counters.kor}, "
                                  f"{counters.jpn}, sender: {sender.last_error}, officer: "
                                  f"{officer.last_error}")
    assert tracks.duplicates == 0
    assert counters.lost_on_the_way() == {}
    assert sender.given_up == [], f"ingest calls without an answer: {sender.last_error}"
    assert not sender.failure and not officer.failure, (sender.failure, officer.failure)


def held_at_sender_kill(kor: NodeProcess, jpn: NodeProcess) -> tuple[int, int]:
    """The design limit of the embedded track path, shown: with JPN down, a burst is
    accepted and waits in KOR's memory (the link's queue, or frames not acknowledged);
    KOR is then SIGKILLed, and nothing on this stack keeps them. What KOR held."""
    jpn.kill()
    rows = track_rows("B", 0, BURST)
    with httpx.Client(timeout=60) as client:
        assert TrackSender(kor, "B").post(client, rows)
    view = link_to_jpn(kor)
    kor.kill()
    return int(view.get("queue", 0)), int(view.get("in_flight_frames", 0))


def run_stream(tmp_path: Path, postgres_server: str, nats_url: str, kills: int) -> None:
    rng = random.Random(SEED)
    database = create_database(postgres_server)
    kor = NodeProcess("KOR", tmp_path, database_url=database, bus_url=nats_url)
    jpn = embedded(NodeProcess("JPN", tmp_path, database_url="-"))
    sender = TrackSender(kor, "S", retry_same=True)
    officer = WatchOfficer(jpn, pid_of(jpn))
    counters = Counters()
    burst: list[str] = []
    started = time.monotonic()
    try:
        connect_pair(kor, jpn, NODE_ENV)
        wait_for(lambda: kor.call("GET", "/api/workers")["leases"].get("tracks-link:JPN"),
                 30, "KOR's track link running")
        officer.start()
        sender.start()
        for k in range(kills):
            time.sleep(rng.uniform(1.0, 3.0))  # a random moment, updates flowing
            counters.note_kor(kor)
            if k == kills - 1:  # the last: right after a burst was accepted
                sender.pause()
                rows = track_rows("SB", 0, BURST)
                with httpx.Client(timeout=60) as client:
                    assert sender.post(client, rows)
                kor.kill()
                sender.take(rows)
                burst = [r["uid"] for r in rows]
            else:
                kor.kill()
            time.sleep(rng.uniform(0.2, 1.0))
            kor.start(NODE_ENV)
            sender.resume()
        time.sleep(2.0)
        sender.stop()
        wait_until(lambda: officer.has_all(sender.accepted), 120)
        settle(1.5)
        counters.note_kor(kor)
        counters.note_jpn(jpn)
        tracks = track_verdict(sender, officer)
        took = time.monotonic() - started
    finally:
        sender.stop()
        officer.stop()
        kor.stop()
        jpn.stop()
        drop_database(postgres_server, database)
    print(f"\ncrash soak (PostgreSQL + NATS): {tracks.figure}, through {kills} sender "
          f"SIGKILLs, the last right after a burst of {len(burst)} was accepted "
          f"({sender.retries} ingest calls posted again after a kill; JPN dropped "
          f"{counters.jpn['duplicates']} repeats by position; KOR skipped "
          f"{counters.kor['stale_discarded']} stored updates older than STALE_S when "
          f"resuming; seed {SEED}, {took:.1f} s)")
    assert tracks.missing == [], (f"{len(tracks.missing)} accepted updates never reached "
                                  f"the officer, e.g. {tracks.missing[:5]}; {counters.kor}, "
                                  f"{counters.jpn}, sender: {sender.last_error}")
    assert tracks.duplicates == 0
    # a resuming link skips stored records older than STALE_S; with nothing missing,
    # those were repeats of what JPN already had (the recorded position lags)
    assert {k: v for k, v in counters.lost_on_the_way().items()
            if k != "stale_discarded"} == {}
    assert not sender.failure and not officer.failure, (sender.failure, officer.failure)
