"""Partitions (the assurance issue, part 2): KOR and JPN run in network namespaces of their
own, joined by a veth pair; nftables rules drop everything each receives from the other
for 1 to 10 s, again and again, while releases and track updates flow KOR → JPN.

What is proven, with real node processes on a real (virtual) network:

- **Releases**: N releases queued at KOR in chunks across the partitions (the last chunk
  during the last one) are, after the last heal, in JPN's inbox exactly once each,
  accepted, in KOR's order; JPN's ledger records each item received exactly once; KOR holds
  a receipt for each. The figure gives the drain time: from the last heal until the last
  release was in JPN's inbox.
- **Track updates**: a sensor posts to KOR's API all along, during the partitions and for
  a few seconds after the last heal. No update reaches JPN's watch officer's WebSocket
  twice, and none is lost unaccounted: every update the API accepted (HTTP 200) is shown
  to the officer, or counted by KOR's link as discarded for staleness (it waited longer
  than ``STALE_S`` in KOR's queue, by design). Every update accepted after the last heal
  arrives. In the CI form (short partitions) nothing may go stale: N of N arrive. The
  figure gives the drain time from the last heal.
- The partitions bit: the drop rules' counters show the packets they dropped.

The network: namespaces ``lsn-<run>-kor`` and ``lsn-<run>-jpn``, a veth pair between them
(10.77.X.1/24 and 10.77.X.2/24, X chosen per run, each node listening on its own address
and stating ``https://<address>:<port>`` as its federation address); the test reaches each
node's API from the root namespace over a second veth pair per namespace (10.78.X.0/30 and
10.78.X.4/30, with a host route to the node's address), which the partitions leave alone:
a rule drops only what comes from the other node's address. Every name carries the run's
tag; namespaces, links and tables are removed in a ``finally``.

A finding of the long form: through 1–10 s partitions with about a second between them,
KOR's track link can stay on a stalled TCP connection long after a heal (its WebSocket
keepalive ping waits behind the blocked send buffer, so it cannot time out, while TCP's
retransmission backoff grows towards two minutes); what waits in its queue meanwhile goes
stale and is discarded. The long form reports such discards in its figure without failing
on them, but fails when frames are still unacknowledged after the drain or an update
accepted after the heal is missing. One run (heavily loaded machine) delivered 15 of 6,245
accepted updates: 5,465 discarded as stale, 153 frames still unacknowledged 180 s after
the last heal; other runs of the same plan delivered everything.

The test skips, saying why, without root, without ``ip`` or ``nft``, or where a namespace
with an nftables table cannot be made; with ``LIAISON_TEST_REQUIRE_SERVERS=1`` (CI) it fails
instead. CI form: 3 partitions of 1–3 s; ``make soak``
(``LIAISON_SOAK=1``, marked slow): 20 partitions of 1–10 s.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..capabilities import missing
from ..integration.processes import CLI, NodeProcess
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
    track_verdict,
)

SEED = int(os.environ.get("LIAISON_PARTITION_SEED", "0")) or \
    random.SystemRandom().randrange(1, 10**6)


@dataclass(frozen=True)
class Plan:
    partitions: int
    shortest_s: float
    longest_s: float
    releases: int
    after_s: float  # updates keep coming this long after the last heal
    none_stale: bool  # no update may be discarded as stale (short partitions)


CI = Plan(partitions=3, shortest_s=1.0, longest_s=3.0, releases=300, after_s=2.0,
          none_stale=True)
LONG = Plan(partitions=20, shortest_s=1.0, longest_s=10.0, releases=5_000, after_s=5.0,
            none_stale=False)


def ip(*args: str, netns: str = "", check: bool = True,
       stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    command = [*prefix, *args] if args[0] == "nft" else [*prefix, "ip", *args]
    result = subprocess.run(command, capture_output=True, text=True, input=stdin,
                            check=False, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    return result


def netns_problem() -> str | None:
    """Why this machine cannot run the test, or ``None``."""
    if os.geteuid() != 0:
        return "partitions need root (network namespaces, veth pairs, nftables)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"partitions need the `{tool}` command (package {package})"
    probe = f"lsn-{secrets.token_hex(3)}-probe"
    try:
        ip("netns", "add", probe)
    except RuntimeError as exc:
        return f"cannot create a network namespace here: {exc}"
    try:
        ip("nft", "add", "table", "inet", "lsnprobe", netns=probe)
    except RuntimeError as exc:
        return f"cannot use nftables in a network namespace here: {exc}"
    finally:
        ip("netns", "del", probe, check=False)
    return None


@dataclass
class Network:
    """Two namespaces joined by a veth pair, each also reachable from the root namespace;
    ``cut`` drops what each node receives from the other, ``heal`` lets it through."""

    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    octet: int = 0
    made: list[str] = field(default_factory=list)  # namespaces
    root_links: list[str] = field(default_factory=list)
    cut_now: bool = False
    dropped: int = 0

    @property
    def table(self) -> str:
        return f"lsn{self.tag}"

    def ns(self, party: str) -> str:
        return f"lsn-{self.tag}-{party.lower()}"

    def address(self, party: str) -> str:
        return f"10.77.{self.octet}.{1 if party == 'KOR' else 2}"

    def create(self) -> None:
        used = ip("-4", "addr").stdout + ip("-4", "route").stdout
        free = [x for x in range(16, 240) if f"10.77.{x}." not in used
                and f"10.78.{x}." not in used]
        self.octet = random.SystemRandom().choice(free)
        link = {"KOR": f"lsn{self.tag}k", "JPN": f"lsn{self.tag}j"}
        for party in ("KOR", "JPN"):
            ip("netns", "add", self.ns(party))
            self.made.append(self.ns(party))
            ip("link", "set", "lo", "up", netns=self.ns(party))
        ip("link", "add", link["KOR"], "type", "veth", "peer", "name", link["JPN"])
        self.root_links.append(link["KOR"])  # until it is moved into KOR's namespace
        for n, party in enumerate(("KOR", "JPN")):
            ns = self.ns(party)
            ip("link", "set", link[party], "netns", ns)
            ip("addr", "add", f"{self.address(party)}/24", "dev", link[party], netns=ns)
            ip("link", "set", link[party], "up", netns=ns)
            # the test's way in: a /30 from the root namespace and a host route
            root_end, ns_end = f"lsn{self.tag}r{party[0].lower()}", \
                f"lsn{self.tag}n{party[0].lower()}"
            base = 4 * n
            ip("link", "add", root_end, "type", "veth", "peer", "name", ns_end)
            self.root_links.append(root_end)
            ip("link", "set", ns_end, "netns", ns)
            ip("addr", "add", f"10.78.{self.octet}.{base + 1}/30", "dev", root_end)
            ip("link", "set", root_end, "up")
            ip("addr", "add", f"10.78.{self.octet}.{base + 2}/30", "dev", ns_end, netns=ns)
            ip("link", "set", ns_end, "up", netns=ns)
            ip("route", "add", f"{self.address(party)}/32", "via",
               f"10.78.{self.octet}.{base + 2}", "dev", root_end)

    def cut(self) -> None:
        for party, other in (("KOR", "JPN"), ("JPN", "KOR")):
            ip("nft", "-f", "-", netns=self.ns(party), stdin=(
                f"table inet {self.table} {{\n"
                f"  chain input {{\n"
                f"    type filter hook input priority 0; policy accept;\n"
                f"    ip saddr {self.address(other)} counter drop\n"
                f"  }}\n"
                f"}}\n"))
        self.cut_now = True

    def heal(self) -> None:
        for party in ("KOR", "JPN"):
            listed = ip("nft", "list", "table", "inet", self.table, netns=self.ns(party),
                        check=False).stdout
            self.dropped += sum(int(n) for n in re.findall(r"counter packets (\d+)", listed))
            ip("nft", "delete", "table", "inet", self.table, netns=self.ns(party),
               check=False)
        self.cut_now = False

    def close(self) -> None:
        if self.cut_now:
            self.heal()
        for ns in self.made:
            ip("netns", "del", ns, check=False)
        for link in self.root_links:  # gone with their peers; in case a namespace lingers
            ip("link", "del", link, check=False)


@dataclass
class NamespacedNode(NodeProcess):
    """A node process inside a network namespace, listening on its address there."""

    netns: str = ""
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_command(self) -> tuple[list[str], dict[str, str]]:
        return ["ip", "netns", "exec", self.netns, *CLI, "serve", "--data-dir", self.data,
                "--host", self.host, "--port", str(self.port), "--federation-port",
                str(self.federation_port)], {
                    "LIAISON_PUBLIC_URL": f"https://{self.host}:{self.federation_port}"}


def drain_times(checks: dict[str, Callable[[], bool]], since: float,
                timeout: float) -> dict[str, float | None]:
    """Seconds from ``since`` until each check first held (``None``: not by ``timeout``)."""
    done: dict[str, float] = {}
    while time.monotonic() - since < timeout and len(done) < len(checks):
        for name, check in checks.items():
            if name not in done and check():
                done[name] = time.monotonic() - since
        time.sleep(0.1)
    return {name: done.get(name) for name in checks}


def seconds(value: float | None) -> str:
    return "never (timed out)" if value is None else f"{value:.1f} s"


@pytest.fixture
def network() -> Network:
    problem = netns_problem()
    if problem:
        missing(problem)
    return Network()


def test_releases_and_tracks_through_partitions(tmp_path: Path, network: Network) -> None:
    run(tmp_path, network, CI)


@pytest.mark.slow
def test_soak_releases_and_tracks_through_many_partitions(tmp_path: Path,
                                                          network: Network) -> None:
    """`make soak`: the long form."""
    run(tmp_path, network, LONG)


def run(tmp_path: Path, net: Network, plan: Plan) -> None:
    rng = random.Random(SEED)
    queued: list[tuple[str, int]] = []
    size = plan.releases // (plan.partitions + 1)
    started = time.monotonic()
    stop: list[Callable[[], None]] = []
    try:
        net.create()
        kor, jpn = (embedded(NamespacedNode(p, tmp_path, database_url="-", netns=net.ns(p),
                                            host=net.address(p))) for p in ("KOR", "JPN"))
        stop += [kor.stop, jpn.stop]
        connect_pair(kor, jpn, NODE_ENV)
        sender = TrackSender(kor, "P")
        officer = WatchOfficer(jpn, lambda: jpn.proc.pid if jpn.proc else 0)
        stop[:0] = [sender.stop, officer.stop]
        officer.start()
        sender.start()
        cut_s = 0.0
        for p in range(plan.partitions):
            queued += enqueue_releases(kor, "PT", p * size, size)
            time.sleep(rng.uniform(0.5, 1.5))  # flowing, then cut at a random moment
            net.cut()
            length = rng.uniform(plan.shortest_s, plan.longest_s)
            time.sleep(length / 2)
            if p == plan.partitions - 1:  # the last releases while cut off
                queued += enqueue_releases(kor, "PT", (p + 1) * size,
                                           plan.releases - (p + 1) * size)
            time.sleep(length / 2)
            net.heal()
            cut_s += length
        healed, at_heal = time.monotonic(), len(sender.accepted)
        time.sleep(plan.after_s)  # fresh updates once healed
        sender.stop()
        before = sender.accepted[:at_heal]

        def stale() -> int:
            return int(link_to_jpn(kor).get("stale_discarded", 0))

        def idle() -> bool:
            view = link_to_jpn(kor)
            return bool(view) and view["queue"] == 0 and view["in_flight_frames"] == 0

        drained = drain_times({
            "releases": lambda: len(received_releases(jpn, "PT").inbox) >= len(queued),
            # every update accepted before the heal shown, or discarded as stale by KOR
            "tracks": lambda: sum(1 for u in before if u not in officer.seen()) <= stale()},
            healed, 180)
        drain_times({"receipts": lambda: kor.call("GET", "/api/outbox")["JPN"]["delivered"]
                     >= len(queued), "link idle": idle}, time.monotonic(), 60)
        settle(1.5)  # late repeats would show now
        link = link_to_jpn(kor)
        jpn_stats = jpn.call("GET", "/api/tracks/stats")
        settled = int(kor.call("GET", "/api/outbox")["JPN"]["delivered"])
        releases, problems = release_verdict(queued, received_releases(jpn, "PT"), settled)
        tracks = track_verdict(sender, officer)
        fresh = track_verdict(sender, officer, sender.accepted[at_heal:])
        took = time.monotonic() - started
    finally:
        for halt in stop:
            halt()
        net.close()
    discarded = int(link.get("stale_discarded", 0))
    print(f"\npartitions: {releases}, through {plan.partitions} partitions of "
          f"{plan.shortest_s:g}–{plan.longest_s:g} s ({cut_s:.1f} s cut off in all, "
          f"{net.dropped:,} packets dropped by nftables); drained "
          f"{seconds(drained['releases'])} after the last heal (seed {SEED}, {took:.1f} s)")
    print(f"partitions: {tracks.figure}, through the same partitions; {discarded:,} discarded "
          f"by KOR as stale (queued longer than STALE_S while cut off), none lost otherwise "
          f"{'(as asserted)' if len(tracks.missing) == discarded else '(NOT SO)'}; drained "
          f"{seconds(drained['tracks'])} after the last heal; accepted after the heal "
          f"{fresh.delivered:,} of {fresh.accepted:,} (KOR's link: "
          f"{link.get('connects', 0)} connections, {link.get('resent_frames', 0)} frames "
          f"sent again)")
    assert net.dropped > 0, "the drop rules dropped nothing: no partition happened"
    assert not problems, problems
    assert not sender.failure and not officer.failure, (sender.failure, officer.failure)
    assert tracks.duplicates == 0
    assert len(tracks.missing) == discarded, (
        f"{len(tracks.missing)} accepted updates never reached the officer, of which "
        f"{discarded} were discarded as stale, e.g. {tracks.missing[:5]}; link {link}")
    assert fresh.missing == [], f"updates accepted after the heal lost: {fresh.missing[:5]}"
    if plan.none_stale:
        assert discarded == 0, f"{discarded} updates went stale through short partitions"
    lost = {k: link.get(k) for k in ("dropped_overflow", "withdrawn", "refused_by_partner")
            if link.get(k)}
    lost |= {k: jpn_stats[k] for k in ("received_refused", "subscriber_dropped")
             if jpn_stats.get(k)}
    assert lost == {}
