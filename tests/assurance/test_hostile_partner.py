"""The hostile-partner harness (issue 17): partners' real keys drive valid envelopes —
signed and encrypted exactly as their nodes would — with generated content at KOR's node,
for every kind of message the node accepts (``services.appliers.APPLIERS``) and every
field: well-formed and malformed values, other agreements and parties, ids colliding with
what is held, resends with changed content, dates far in the past or future, wrong types,
huge sizes.

Before and after each message the harness reads what KOR shows — agreement status on a
set of dates and the agreement's events, items, ledger, consents, requests, hotline
(view, transcript, channel), areas, talks, audit chain and checkpoint verification — with
the node's own read functions, and checks the difference against ``ALLOWED``: a small
reference of which changes each kind may make, and only for the sender's own affairs.
A refused message may add audit records and nothing else.

It prints ``hostile partner: N messages, M refused, 0 unauthorized changes, 0 reads
failing``. ``test_the_harness_catches_planted_faults`` disables one authority check at a
time and shows the harness finds each.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liaison.cli.demo.talks import TALKS
from liaison.domain.agreement_lifecycle import notice_givers, status_at
from liaison.domain.agreements import Agreement
from liaison.domain.codec import agreement_from, item_from, item_to
from liaison.domain.labels import Clearance
from liaison.domain.ledger import Direction, LedgerEntry
from liaison.domain.parties import default_parties
from liaison.domain.users import Role, User
from liaison.services import (
    agreements,
    areas,
    audit_trail,
    checkpoints,
    hotline,
    items,
    origin,
    releases,
    requests,
    talks,
)
from liaison.services.appliers import APPLIERS
from liaison.services.context import Deps
from liaison.services.ports import StoredItem
from tests.twins import MemoryState

from .partner_nodes import SEQ, Node

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
SKEW = timedelta(days=1)  # the skew the rules allow a partner's dates (time zones)
PARTIES = default_parties()
ROOT = User("root", "root", frozenset(Role), Clearance(4))
EXAMPLES = int(os.environ.get("LIAISON_HOSTILE_EXAMPLES", "80"))
SEED = Path(__file__).parents[2] / "src" / "liaison" / "reference" / "seed.yaml"

MOU_LINES = {"id": "KOR-PRK-LINES-2021", "kind": "MOU", "title": "Inter-Korean lines",
             "parties": ["KOR", "PRK"], "opens": ["hotline", "talks"],
             "events": [{"kind": "SIGNED", "date": "2021-07-27"},
                        {"kind": "ENTERED_INTO_FORCE", "date": "2021-07-27"}]}
PENDING = {"id": "KOR-JPN-PENDING", "kind": "GSOMIA", "title": "signed, not in force",
           "parties": ["KOR", "JPN"],
           "table": [{"common": "SECRET", "levels": {"JPN": ["極秘"], "KOR": ["군사II급비밀"]}}],
           "events": [{"kind": "SIGNED", "date": "2026-06-01"}]}
DAYS = (date(2014, 12, 29), date(2019, 11, 23), date(2026, 6, 2), TODAY - timedelta(days=1),
        TODAY, TODAY + timedelta(days=1), TODAY + timedelta(days=30),
        TODAY + timedelta(days=100), TODAY + timedelta(days=400), date(2099, 12, 31))


def seed_agreements() -> list[Agreement]:
    data = yaml.safe_load(SEED.read_text())["agreements"]
    return [agreement_from(a, PARTIES) for a in (*data, MOU_LINES, PENDING)]


# --- the world: KOR under test, its partners, and what KOR holds before the attack --------


def label(policy: str, level: str, originator: str, *rel: str) -> dict[str, Any]:
    return {"policy": policy, "classification": level, "originator": originator,
            "created": "2026-12-06T00:00:00Z", "rel_to": list(rel)}


def item_data(item_id: str, policy: str, level: str, originator: str, *rel: str,
              topic: str = "DPRK/missile") -> dict[str, Any]:
    return {"id": item_id, "discipline": "IMINT", "topic": topic, "grade": "A2",
            "title": f"report {item_id}", "reported_at": "2026-12-06T00:00:00Z",
            "portions": [{"id": "p1", "content": "TEL sighted",
                          "label": label(policy, level, originator, *rel)}]}


def release_body(by: Node, data: dict[str, Any], agreement: str, recipient: str = "KOR",
                 route: tuple[str, ...] = ()) -> dict[str, Any]:
    payload = {"item": copy.deepcopy(data), "agreement": agreement,
               "request_id": f"rq{next(SEQ)}", "recipient": recipient, "route": list(route),
               "purpose": "early warning", "consents": []}
    return origin.sign_release(by.deps, payload, bool(route))


@dataclass
class World:
    kor: Node
    partners: dict[str, Node]
    seeded: MemoryState
    templates: dict[str, list[tuple[str, Any]]]  # kind: (sender, body)
    pool: list[Any]  # values from KOR's records: ids, agreements, parties, dates


def build_world(root: Path) -> World:
    kor = Node("KOR", root, seed_agreements(), NOW)
    partners = {p: Node(p, root, seed_agreements(), NOW) for p in ("JPN", "USA", "CHN", "PRK")}
    everyone = [kor, *partners.values()]
    for a, b in itertools.permutations(everyone, 2):
        a.trust(b)
    jpn, usa, chn = (partners[p] for p in ("JPN", "USA", "CHN"))
    d = kor.deps
    # KOR's own notice on KOR-JPN-GSOMIA (in force until the term it ends)
    agreements.send_note(d, ROOT, "KOR-JPN-GSOMIA", {"kind": "NOTICE_GIVEN",
                                                     "date": "2026-12-01"})
    # an item of KOR's, given to JPN; one JPN released to KOR
    k1 = item_data("K1", "KOR", "군사II급비밀", "KOR", "JPN", "USA")
    with d.uow() as uow:
        uow.items.add(StoredItem(item_from(k1, PARTIES, "KOR", "item"), "lee", NOW), 2)
        uow.ledger.add(LedgerEntry("KOR-JPN-GSOMIA", "JPN", Direction.GIVEN, "SECRET",
                                   "IMINT", "K1", NOW))
        uow.commit()
    j1 = item_data("J1", "JPN", "極秘", "JPN", "KOR")
    assert jpn.send(kor, "release", release_body(jpn, j1, "KOR-JPN-GSOMIA")) == ("applied", "")
    j4 = item_data("J4", "JPN", "極秘", "JPN", "KOR")  # with a portion KOR originated
    j4["portions"].append({"id": "p2", "content": "KOR's report, quoted",
                           "label": label("JPN", "極秘", "KOR", "KOR")})
    outcome = jpn.send(kor, "release", release_body(jpn, j4, "KOR-JPN-GSOMIA"))
    assert outcome == ("applied", ""), outcome
    # requests: JPN's RFI answered by KOR; KOR's RFI to JPN; KOR's consent request to JPN
    rfi = {"id": "Q-1", "topic": "DPRK/missile", "event": "launch", "priority": "urgent",
           "deadline": "2026-12-09T00:00:00+00:00", "purpose": "warning"}
    assert jpn.send(kor, "rfi", rfi) == ("applied", "")
    requests.answer_rfi(d, ROOT, "JPN:Q-1", "declined", "no collection", [])
    ours = requests.ask(d, ROOT, {"to": "JPN", "topic": "DPRK/nuclear", "priority": "high",
                                  "deadline": "2026-12-10T00:00:00Z", "purpose": "warning"})
    consent = requests.request_consent(d, ROOT, "J1@JPN", "USA", "early warning")
    # the hotline with CHN: KOR's FLASH, and CHN's message
    hotline.open_channel(d, ROOT, "KOR-CHN-HOTLINE-MOU", ["09:00"], list(range(7)),
                         "Asia/Seoul", places_calls=False)
    hotline.send(d, ROOT, "KOR-CHN-HOTLINE-MOU", "FLASH", "launch detected")
    ours_flash = hotline.view(d, ROOT, "KOR-CHN-HOTLINE-MOU")["traffic"][0]
    traffic = {"channel": "KOR-CHN-HOTLINE-MOU", "seq": 1, "kind": "message",
               "precedence": "ROUTINE", "text": "received", "author": "duty officer",
               "sent_at": "2026-12-07T08:59:00+00:00"}
    outcome = chn.send(kor, "hotline", traffic)
    assert outcome == ("applied", ""), outcome
    # an area from JPN; talks KOR proposed to PRK; a checkpoint KOR sent to JPN
    area = {"id": "A-1", "name": "Sunchon", "kind": "launch_site", "priority": 2,
            "label": label("JPN", "極秘", "JPN", "KOR"),
            "polygon": [[39.4, 125.9], [39.5, 125.9], [39.5, 126.0]]}
    area_msg = {"agreement": "KOR-JPN-GSOMIA", "area": area}
    assert jpn.send(kor, "area", area_msg) == ("applied", "")
    proposal = {k: v for k, v in TALKS.items() if k != "counterpart"}
    proposal = {**proposal, "starts_at": "2026-12-20T10:00:00+09:00",
                "delegations": {"KOR": ["root"], "PRK": ["Jon Jong-su"]}}
    t = talks.propose(d, ROOT, "PRK", copy.deepcopy(proposal))
    cp = checkpoints.send(d, ROOT)
    kor.state.outbox.clear()

    relay = release_body(jpn, item_data("J2", "JPN", "極秘", "JPN", "KOR", "USA"),
                         "TISA-2014", route=("USA",))
    relay = {**relay, "origin": "JPN", "relayed_by": "USA"}
    theirs_talks = {"id": "PRK-T1", "parties": ["PRK", "KOR"], "state": "PROPOSED",
                    "proposals": [{**proposal, "version": 1, "by": "PRK"}]}
    templates: dict[str, list[tuple[str, Any]]] = {
        "note": [(s, {"agreement": a, "event": {"kind": k, "date": on, "by": s,
                                                "note": "by note"}})
                 for s, a, k, on in (
                     ("JPN", "KOR-JPN-GSOMIA", "NOTICE_WITHDRAWN", "2026-12-07"),
                     ("JPN", "KOR-JPN-PENDING", "ENTERED_INTO_FORCE", "2026-12-07"),
                     ("JPN", "KOR-JPN-GSOMIA", "NOTICE_GIVEN", "2099-12-31"),
                     ("JPN", "TISA-2014", "TERMINATED", "2026-12-07"),
                     ("JPN", "TISA-2014", "WITHDRAWN", "2026-12-07"),
                     ("USA", "USA-KOR-GSOMIA", "NOTICE_GIVEN", "2026-12-07"),
                     ("CHN", "KOR-JPN-GSOMIA", "TERMINATED", "2026-12-07"))],
        "release": [("JPN", release_body(jpn, j1, "KOR-JPN-GSOMIA")),
                    ("JPN", release_body(jpn, {**j1, "title": "other"}, "KOR-JPN-GSOMIA")),
                    ("JPN", release_body(jpn, item_data("J3", "JPN", "秘", "JPN", "KOR",
                                                        topic="CHN/navy"), "TISA-2014")),
                    ("USA", relay),
                    ("USA", release_body(usa, item_data("U1", "USA", "SECRET", "USA", "KOR"),
                                         "USA-KOR-GSOMIA")),
                    ("USA", release_body(usa, item_data("U2", "USA", "SECRET", "USA", "KOR",
                                                        topic="CHN/navy"), "TISA-2014"))],
        "rfi": [("JPN", rfi), ("JPN", {**rfi, "topic": "DPRK/nuclear"}),
                ("USA", {**rfi, "id": "Q-2"})],
        "consent_request": [("USA", {"id": "Q-1", "item_id": "U1", "recipient": "JPN",
                                     "purpose": "warning", "portions": []})],
        "rfi_answer": [(s, {"id": ours.id, "state": "answered", "reason": "see R9",
                            "releases": ["R9"]}) for s in ("JPN", "USA")],
        "consent_answer": [(s, {"id": consent.id, "granted": True, "reason": "ok",
                                "granted_by": "MOD", "granted_on": "2026-12-07"})
                           for s in ("JPN", "USA")],
        "regrade": [(s, {"item_id": i, "portion_id": pid, "level": lv, "reason": "r"})
                    for s, i, pid, lv in (("JPN", "J1", "p1", "秘"),
                                          ("USA", "J1", "p1", "CONFIDENTIAL"),
                                          ("JPN", "J4", "p2", "秘"))],
        "compromise": [(s, {"item_id": i, "description": "lost in transit",
                            "measures": "investigating"})
                       for s, i in (("JPN", "K1"), ("USA", "K1"), ("JPN", "J1"))],
        "destruction": [(s, {"item_id": "K1", "description": "no longer needed",
                             "measures": "shredded"}) for s in ("JPN", "USA")],
        "hotline": [("CHN", traffic), ("CHN", {**traffic, "seq": 2, "text": "second"}),
                    ("JPN", {**traffic, "seq": 3})],
        "hotline_ack": [(s, {"channel": "KOR-CHN-HOTLINE-MOU", "seq": ours_flash["seq"],
                             "by": "duty officer", "at": "2026-12-07T09:00:00+00:00"})
                        for s in ("CHN", "JPN")],
        "hotline_sever": [(s, {"channel": "KOR-CHN-HOTLINE-MOU"}) for s in ("CHN", "JPN")],
        "hotline_reopen": [(s, {"channel": "KOR-CHN-HOTLINE-MOU"}) for s in ("CHN", "JPN")],
        "area": [("JPN", area_msg), ("JPN", {**area_msg, "area": {**area, "name": "B"}}),
                 ("CHN", {"agreement": "KOR-CHN-HOTLINE-MOU", "area": area}),
                 ("JPN", {"agreement": "USA-JPN-GSOMIA", "area": area})],
        "talks": [("PRK", {"action": "accept", "talks_id": t["id"], "version": 1}),
                  ("PRK", {"action": "decline", "talks_id": t["id"], "reason": "no"}),
                  ("PRK", {"action": "propose", "talks_id": "PRK-T1",
                           "talks": theirs_talks}),
                  ("JPN", {"action": "cancel", "talks_id": t["id"], "reason": "no"})],
        "talks_minutes": [("PRK", {"talks_id": t["id"], "minutes": {"revision": 1}})],
        "talks_live": [("PRK", {"talks_id": t["id"], "kind": "presence",
                                "event": {"action": "join", "from": "PRK:jon",
                                          "name": "Jon Jong-su"}})],
        checkpoints.KIND: [("JPN", {"size": 3, "root": "00" * 32, "at": NOW.isoformat(),
                                    "head": "00" * 32, "previous_size": 0, "proof": []})],
        checkpoints.REPLY: [(s, {**{k: cp[k] for k in cp if k != "sent_to"},
                                 "consistent": False, "reason": "refused"})
                            for s in ("JPN", "USA")],
    }
    pool: list[Any] = ["KOR", "JPN", "USA", "CHN", "PRK", "K1", "J1", "J1@JPN", "Q-1",
                       ours.id, consent.id, t["id"], "KOR-CHN-HOTLINE-MOU", "TISA-2014",
                       "KOR-JPN-GSOMIA", "USA-KOR-GSOMIA", "KOR-JPN-PENDING", "A-1", "p1",
                       "1900-01-01", "2016-11-22", "2026-12-08", "2099-12-31",
                       "9999-12-31T23:59:59+00:00", "2026-12-07T09:00:00",
                       "0001-01-01T00:00:00+00:00", "not-a-time", "FLASH", "군사I급비밀",
                       "TOP SECRET", "ENTERED_INTO_FORCE", "NOTICE_WITHDRAWN", "SIGNED"]
    return World(kor, partners, copy.deepcopy(kor.state), templates, pool)


# --- what KOR shows: read with the node's own read functions -------------------------------


@dataclass
class View:
    sections: dict[str, Any]
    failing: list[str]


def snapshot(kor: Node) -> View:
    d, out, failing = kor.deps, {}, []

    def read(name: str, fn: Callable[[], Any]) -> None:
        try:
            out[name] = fn()
        except Exception as exc:  # a read that fails is what the harness counts
            failing.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
            out[name] = None

    read("agreements", lambda: {
        a.id: (tuple((e.kind.value, e.on, e.by, e.note) for e in a.events),
               tuple(_status(status_at(a, day, d.rules)) for day in DAYS))
        for a, _ in agreements.list_agreements(d, TODAY)})
    read("items", lambda: {i.id: json.dumps(item_to(i), sort_keys=True, default=str)
                           for i in items.list_items(d, ROOT, 1000, 0)[0]})
    read("item_reads", lambda: [items.get_item(d, ROOT, i.id).id
                                for i in items.list_items(d, ROOT, 1000, 0)[0]])
    read("ledger", lambda: [asdict(e) for e in releases.ledger(d, ROOT, None, None)])
    read("consents", lambda: {c.id: asdict(c.consent) for c in releases.list_consents(d, ROOT)})
    read("requests", lambda: {(r.kind, r.direction, r.party, r.id): (r.state, r.data)
                              for kind in ("rfi", "consent", "compromise", "destruction")
                              for r in requests.list_requests(d, ROOT, kind, None)})
    read("hotline", lambda: _hotline(d))
    read("areas", lambda: {a["id"]: json.dumps(a, sort_keys=True, default=str)
                           for a in areas.list_areas(d, ROOT)})
    read("talks", lambda: {t["id"]: json.dumps(talks.view(d, ROOT, t["id"]), sort_keys=True,
                                               default=str)
                           for t in talks.list_talks(d, ROOT)})
    read("talks_record", lambda: {t["id"]: talks.record_of(d, t["id"])[0]
                                  for t in talks.list_talks(d, ROOT)})
    read("audit", lambda: [r.seq for r in audit_trail.read(d, ROOT, -1, 1000)])
    read("audit_ok", lambda: audit_trail.verify(d, ROOT).ok)
    read("checkpoints_ok", lambda: checkpoints.verify(d, ROOT)["ok"])
    read("checkpoints", lambda: {(r["log_of"], r["witness"], r["size"]): r["state"]
                                 for r in checkpoints.listing(d, ROOT)})
    return View(out, failing)


def _status(s: Any) -> tuple[Any, ...]:
    return (s.state.value, s.in_force, s.ends_on, tuple(sorted(s.withdrawn)))


def _hotline(d: Deps) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in hotline.channels(d, ROOT):
        view = hotline.view(d, ROOT, c["id"])
        entries = [e for page in hotline.transcript(d, ROOT, c["id"]) for e in page]
        out[c["id"]] = {"status": json.dumps(view["status"], sort_keys=True, default=str),
                        "entries": {(e.get("sender"), e.get("seq")): _entry(e)
                                    for e in entries}}
    return out


def _entry(e: dict[str, Any]) -> str:
    kept = {k: v for k, v in e.items() if k not in ("overdue", "escalation", "deadline",
                                                     "position", "damaged")}
    return json.dumps(kept, sort_keys=True, default=str)


# --- the reference: which changes each kind may make, for whom ------------------------------


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[Any]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def _only_new(before: dict[str, Any], after: dict[str, Any], ok: Callable[[Any], bool]) -> str:
    """Keys held before are unchanged; new keys satisfy ``ok``."""
    for k in _changed(before, after):
        if k in before:
            return f"changed {k!r}"
        if not ok(k):
            return f"added {k!r}"
    return ""


def note_change(kor: Node, b: View, a: View, sender: str, body: Any) -> str:
    for aid in _changed(b.sections["agreements"], a.sections["agreements"]):
        agreement = kor.state.agreements.get(aid)
        if aid not in b.sections["agreements"] or agreement is None:
            return f"agreement {aid} appeared"
        if sender not in agreement.parties:
            return f"{sender} changed {aid}, between other parties"
        old_events, old_days = b.sections["agreements"][aid]
        new_events, new_days = a.sections["agreements"][aid]
        others = [e for e in old_events if e[2] != sender]
        if sorted(others, key=str) != sorted((e for e in new_events if e[2] != sender), key=str):
            return f"{sender}'s note changed another party's record of {aid}"
        if not all(old_events.count(e) <= new_events.count(e) for e in old_events):
            return f"an event of {aid} was removed"
        signed = agreement.signed_on
        for kind, on, _, _ in (e for e in new_events if e not in old_events):
            if signed is None or not signed <= on <= TODAY + SKEW:
                return f"{aid}: a note dated {on} was recorded"
            if kind == "SIGNED":
                return f"{aid}: a partner's note recorded a signature"
            if agreement.multilateral and kind not in ("NOTIFIED", "WITHDRAWN"):
                return f"{aid}: {sender}'s {kind} recorded on an arrangement of several parties"
        previous = _agreement_before(b, aid, agreement)
        for kind, on, _, _ in (e for e in new_events if e not in old_events):
            if kind in ON_NOTICE and sender not in notice_givers(previous, on) and \
                    (kind != "NOTICE_REACTIVATED" or notice_givers(previous, on)):
                return f"{aid}: {sender} recorded {kind} of a notice it did not give"
        for day, old, new in zip(DAYS, old_days, new_days, strict=True):
            if new[1] and not old[1] and sender not in notice_givers(previous, day):
                return f"{aid} came into force on {day} by {sender}'s note alone"
            if set(new[3]) - set(old[3]) - {sender}:
                return f"{aid}: {sender} recorded another party's withdrawal"
    return ""


def _agreement_before(b: View, aid: str, now: Agreement) -> Agreement:
    """The agreement with the events it had before (rebuilt from the snapshot)."""
    events = b.sections["agreements"][aid][0]
    kept = [e for e in now.events if (e.kind.value, e.on, e.by, e.note) in events]
    return replace(now, events=tuple(kept))


def release_change(kor: Node, b: View, a: View, sender: str, body: Any) -> str:
    new_items = set(a.sections["items"]) - set(b.sections["items"])
    why = _only_new(b.sections["items"], a.sections["items"], lambda k: True)
    if why:
        return f"items: {why}"
    new_entries = [e for e in a.sections["ledger"] if e not in b.sections["ledger"]]
    if len(new_items) != len(new_entries) or len(new_items) > 1:
        return f"{len(new_items)} items and {len(new_entries)} ledger entries added"
    for e in new_entries:
        agreement = kor.state.agreements[e["agreement_id"]]
        originator = e["partner"]
        if e["direction"] is not Direction.RECEIVED or e["item_id"] not in new_items:
            return f"ledger entry {e} does not book the item received"
        if not e["item_id"].endswith(f"@{originator}"):
            return f"item {e['item_id']} booked as received from {originator}"
        if {originator, "KOR"} - agreement.parties or \
                not status_at(agreement, TODAY).in_force:
            return f"item booked under {agreement.id}, which does not bind {originator}"
        if originator != sender and agreement.hub != sender:
            return f"{sender} delivered an item of {originator}'s without being the hub"
        item = json.loads(a.sections["items"][e["item_id"]])
        if agreement.scope is not None and not agreement.scope.covers_topic(item["topic"]):
            return f"item on {item['topic']} booked under {agreement.id}, outside its scope"
        if originator != sender and not _origin_signed(body, originator):
            return f"{sender} relayed an item not signed by {originator}"
    return ""


def _origin_signed(body: Any, originator: str) -> bool:
    return isinstance(body, dict) and "origin_signature" in body and \
        body.get("origin") == originator


def regrade_change(kor: Node, b: View, a: View, sender: str, body: Any) -> str:
    for item_id in _changed(b.sections["items"], a.sections["items"]):
        if item_id not in b.sections["items"] or item_id not in a.sections["items"]:
            return f"item {item_id} appeared or disappeared"
        old, new = (json.loads(v.sections["items"][item_id]) for v in (b, a))
        if not item_id.endswith(f"@{sender}"):
            return f"{sender} changed item {item_id}, not received from it"
        for p_old, p_new in zip(old["portions"], new["portions"], strict=True):
            if p_old == p_new:
                continue
            if p_old["label"]["originator"] != sender:
                return (f"{sender} regraded portion {p_old['id']} of {item_id}, originated "
                        f"by {p_old['label']['originator']}")
            without = {**p_new, "label": {**p_new["label"], "classification": None}}
            if {**p_old, "label": {**p_old["label"], "classification": None}} != without:
                return f"{sender} changed more than a level in {item_id}"
        if {k: v for k, v in old.items() if k != "portions"} != \
                {k: v for k, v in new.items() if k != "portions"}:
            return f"{sender} changed more than a level in {item_id}"
    return ""


def report_change(kind: str) -> Callable[[Node, View, View, str, Any], str]:
    def check(kor: Node, b: View, a: View, sender: str, body: Any) -> str:
        given = {e["item_id"] for e in b.sections["ledger"]
                 if e["partner"] == sender and e["direction"] is Direction.GIVEN}
        return _only_new(b.sections["requests"], a.sections["requests"],
                         lambda k: k[0] == kind and k[1] == "incoming" and k[2] == sender
                         and isinstance(body, dict) and str(body.get("item_id")) in given)
    return check


def incoming_request(kind: str) -> Callable[[Node, View, View, str, Any], str]:
    def check(kor: Node, b: View, a: View, sender: str, body: Any) -> str:
        return _only_new(b.sections["requests"], a.sections["requests"],
                         lambda k: k[:3] == (kind, "incoming", sender))
    return check


def answer_change(kind: str) -> Callable[[Node, View, View, str, Any], str]:
    def check(kor: Node, b: View, a: View, sender: str, body: Any) -> str:
        before, after = b.sections["requests"], a.sections["requests"]
        for k in _changed(before, after):
            if k not in before or k[:3] != (kind, "outgoing", sender) or \
                    before[k][0] != "open" or k not in after:
                return f"{sender}'s {kind} answer changed request {k}"
        if kind == "consent":
            return _only_new(b.sections["consents"], a.sections["consents"],
                             lambda c: a.sections["consents"][c]["originator"] == sender)
        return ""
    return check


def hotline_change(kor: Node, b: View, a: View, sender: str, body: Any,
                   acks: bool = False, status: bool = False) -> str:
    before, after = b.sections["hotline"], a.sections["hotline"]
    for cid in _changed(before, after):
        channel = kor.state.channels[cid]
        if channel["partner"] != sender:
            return f"{sender} changed the line {cid} with {channel['partner']}"
        if before[cid]["status"] != after[cid]["status"] and not status:
            return f"{sender}'s message changed the state of the line {cid}"
        old, new = before[cid]["entries"], after[cid]["entries"]
        for key in _changed(old, new):
            if key not in old:
                if key[0] != sender or acks or status:
                    return f"entry {key} appeared on {cid}"
                continue
            if not acks or key[0] != "KOR" or key not in new:
                return f"entry {key} of {cid} was rewritten"
            was, now = json.loads(old[key]), json.loads(new[key])
            if was.get("acknowledged_at") or not str(now.get("acknowledged_by", "")
                                                     ).startswith(f"{sender}: "):
                return f"entry {key} of {cid}: acknowledgement replaced or not {sender}'s"
            if {k: v for k, v in now.items() if k not in ACK_FIELDS} != \
                    {k: v for k, v in was.items() if k not in ACK_FIELDS}:
                return f"entry {key} of {cid}: an acknowledgement changed its content"
    return ""


ON_NOTICE = ("NOTICE_SUSPENDED", "NOTICE_REACTIVATED", "NOTICE_WITHDRAWN")
ACK_FIELDS = ("acknowledged_at", "acknowledged_by", "outcome", "answered_at")


def area_change(kor: Node, b: View, a: View, sender: str, body: Any) -> str:
    """A partner's area, kept under its own name, shared under an agreement in force
    between it and us."""
    changed = _changed(b.sections["areas"], a.sections["areas"])
    if any(not str(k).startswith(f"{sender}:") for k in changed):
        return f"{sender} changed areas not its own: {sorted(changed)}"
    agreement = kor.state.agreements.get(str(body.get("agreement")))
    if changed and (agreement is None or not {sender, "KOR"} <= agreement.parties
                    or not status_at(agreement, TODAY).in_force):
        return f"{sender}'s area kept under {body.get('agreement')}, not between it and KOR"
    return ""


def talks_change(kor: Node, b: View, a: View, sender: str, body: Any) -> str:
    for section in ("talks", "talks_record"):
        for tid in _changed(b.sections[section], a.sections[section]):
            view = json.loads(a.sections["talks"].get(tid) or b.sections["talks"][tid])
            if sender not in view.get("parties", []):
                return f"{sender} changed talks {tid} between other parties"
    return ""


def checkpoint_change(kor: Node, b: View, a: View, sender: str, body: Any) -> str:
    """A partner witnesses its own log here (rows of its log, ``audit_checkpoint``), or
    answers, once, a checkpoint of our log we sent it (``audit_countersign``); only such
    an answer — a refusal of what we sent it — may make our verification report it."""
    before, after = b.sections["checkpoints"], a.sections["checkpoints"]
    answered = set()
    for key in _changed(before, after):
        log_of, witness, _ = key
        if log_of == sender and witness == "KOR":
            continue
        if (log_of, witness) != ("KOR", sender) or before.get(key) != "sent":
            return f"{sender} changed the checkpoint row {key} ({before.get(key)})"
        answered.add(key)
    if b.sections["checkpoints_ok"] and not a.sections["checkpoints_ok"] and not answered:
        return "checkpoints_ok turned false without an answer to a checkpoint we sent"
    return ""


Check = Callable[[Node, View, View, str, Any], str]
# kind: (the sections it may change, the reference check of those changes)
ALLOWED: dict[str, tuple[frozenset[str], Check]] = {
    "note": (frozenset({"agreements"}), note_change),
    "release": (frozenset({"items", "item_reads", "ledger"}), release_change),
    "regrade": (frozenset({"items"}), regrade_change),
    "compromise": (frozenset({"requests"}), report_change("compromise")),
    "destruction": (frozenset({"requests"}), report_change("destruction")),
    "rfi": (frozenset({"requests"}), incoming_request("rfi")),
    "consent_request": (frozenset({"requests"}), incoming_request("consent")),
    "rfi_answer": (frozenset({"requests"}), answer_change("rfi")),
    "consent_answer": (frozenset({"requests", "consents"}), answer_change("consent")),
    "hotline": (frozenset({"hotline"}), hotline_change),
    "hotline_ack": (frozenset({"hotline"}),
                    lambda k, b, a, s, body: hotline_change(k, b, a, s, body, acks=True)),
    "hotline_sever": (frozenset({"hotline"}),
                      lambda k, b, a, s, body: hotline_change(k, b, a, s, body, status=True)),
    "hotline_reopen": (frozenset({"hotline"}),
                       lambda k, b, a, s, body: hotline_change(k, b, a, s, body, status=True)),
    "area": (frozenset({"areas"}), area_change),
    "talks": (frozenset({"talks", "talks_record"}), talks_change),
    "talks_minutes": (frozenset({"talks", "talks_record"}), talks_change),
    "talks_live": (frozenset({"talks", "talks_record"}), talks_change),
    checkpoints.KIND: (frozenset({"checkpoints"}), checkpoint_change),
    checkpoints.REPLY: (frozenset({"checkpoints", "checkpoints_ok"}), checkpoint_change),
}
ALWAYS = frozenset({"audit"})  # any message may add audit records (never change them)


def unauthorized(kor: Node, b: View, a: View, kind: str, sender: str, body: Any,
                 outcome: str) -> str:
    """Why the change from ``b`` to ``a`` is not one ``kind`` from ``sender`` may make;
    ``""`` when it is."""
    if a.sections["audit"] is None or b.sections["audit"] is None or \
            a.sections["audit"][:len(b.sections["audit"])] != b.sections["audit"]:
        return "the audit log was not only appended to"
    if b.sections["audit_ok"] and not a.sections["audit_ok"]:
        return "audit_ok turned false"
    sections, check = ALLOWED[kind]
    may = (sections if outcome == "applied" else frozenset()) | ALWAYS
    for name in b.sections:
        if name not in may and b.sections[name] != a.sections[name]:
            return f"a {outcome} {kind} changed {name}"
    return check(kor, b, a, sender, body) if outcome == "applied" else ""


# --- generated content -------------------------------------------------------------------

HUGE = "x" * 70_000


def hostile_values(pool: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(pool), st.none(), st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False),
        st.text(max_size=12), st.just(HUGE), st.just(["x"] * 2000),
        st.lists(st.sampled_from(pool), max_size=3),
        st.dictionaries(st.sampled_from(["id", "kind", "date", "by"]),
                        st.sampled_from(pool), max_size=3))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:4]):
            yield (*prefix, i)
            yield from paths(v, (*prefix, i))


def mutate(body: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
    if not path:
        return value
    body = copy.deepcopy(body)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if op == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return body


@st.composite
def messages(draw: st.DrawFn, world: World) -> tuple[str, str, Any]:
    kind = draw(st.sampled_from(sorted(world.templates)))
    sender, body = draw(st.sampled_from(world.templates[kind]))
    if draw(st.integers(0, 9)) == 0:
        sender = draw(st.sampled_from(sorted(world.partners)))
    for _ in range(draw(st.integers(0, 3))):
        where = list(paths(body))
        if not where or draw(st.integers(0, 19)) == 0:
            body = draw(hostile_values(world.pool))
            break
        path = draw(st.sampled_from(where))
        body = mutate(body, path, draw(st.sampled_from(["set", "set", "delete"])),
                      draw(hostile_values(world.pool)))
    return kind, sender, body


@dataclass
class Tally:
    messages: int = 0
    refused: int = 0
    unauthorized: int = 0
    failing: int = 0
    kinds: set[str] | None = None
    first: str = ""


def attack(world: World, sequence: list[tuple[str, str, Any]], tally: Tally) -> None:
    """Each message of ``sequence`` in turn at a fresh copy of KOR's seeded records."""
    world.kor.state = copy.deepcopy(world.seeded)
    before = snapshot(world.kor)
    assert not before.failing, before.failing
    for kind, sender, body in sequence:
        outcome, reason = world.partners[sender].send(world.kor, kind, body)
        after = snapshot(world.kor)
        tally.messages += 1
        tally.refused += outcome == "refused"
        if tally.kinds is not None:
            tally.kinds.add(kind)
        why = unauthorized(world.kor, before, after, kind, sender, body, outcome)
        if why or after.failing:
            tally.unauthorized += bool(why)
            tally.failing += bool(after.failing)
            tally.first = tally.first or (
                f"{kind} from {sender} ({outcome} {reason[:200]!r}): "
                f"{why or after.failing} — body {json.dumps(body, default=str)[:400]}")
            return
        before = after


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("hostile"))


def run(world: World, examples: int) -> Tally:
    tally = Tally(kinds=set())

    @given(st.lists(messages(world), min_size=1, max_size=4))
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def trial(sequence: list[tuple[str, str, Any]]) -> None:
        attack(world, sequence, tally)

    trial()
    for kind, entries in world.templates.items():  # every template unchanged, once
        attack(world, [(kind, s, b) for s, b in entries], tally)
    return tally


def test_every_kind_the_node_accepts_has_a_template_and_a_rule(world: World) -> None:
    assert set(world.templates) == set(APPLIERS) == set(ALLOWED)


def test_a_hostile_partner_changes_only_what_the_rules_allow(world: World) -> None:
    tally = run(world, EXAMPLES)
    print(f"\nhostile partner: {tally.messages} messages, {tally.refused} refused, "
          f"{tally.unauthorized} unauthorized changes, {tally.failing} reads failing")
    assert tally.kinds == set(APPLIERS)
    assert (tally.unauthorized, tally.failing) == (0, 0), tally.first
    assert 0 < tally.refused < tally.messages


# --- planted faults: the harness is trusted once it has caught each -------------------------


def template(world: World, kind: str, index: int, **changes: Any) -> tuple[str, str, Any]:
    sender, body = world.templates[kind][index]
    return kind, sender, {**body, **changes}


def test_the_harness_catches_planted_faults(world: World,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Each authority check disabled in turn (as the node would run without it): the
    harness, fed the message that check stops, reports an unauthorized change."""
    from liaison.domain import note_authority, protection_authority
    from liaison.services import agreements as agreement_service
    from liaison.services import receiving
    from tests.twins.conversations import MemoryHotline
    from tests.twins.partners import MemoryRequests

    def same(e: Any) -> Any:
        return e

    flash = ("hotline", *world.templates["hotline"][0])
    faults: dict[str, tuple[Callable[[pytest.MonkeyPatch], None],
                            list[tuple[str, str, Any]]]] = {
        "a partner's note of entry into force taken as ours": (
            lambda mp: (mp.setattr(note_authority, "as_recorded", same),
                        mp.setattr(agreement_service, "as_recorded", same)),
            [template(world, "note", 1)]),
        "any party may act on a notice": (
            lambda mp: mp.setattr(note_authority, "act_refusal", lambda *a, **k: None),
            [template(world, "note", 0)]),
        "a note's date unchecked": (
            lambda mp: mp.setattr(note_authority, "_dated", lambda *a: None),
            [template(world, "note", 5, event={"kind": "NOTICE_GIVEN", "by": "USA",
                                               "date": "2099-12-31", "note": ""})]),
        "a party's note ends an arrangement of several parties": (
            lambda mp: mp.setattr(note_authority, "_kind_for_role", lambda *a: None),
            [template(world, "note", 3)]),
        "a resent hotline message rewrites the transcript": (  # as before issue 17
            lambda mp: mp.setattr(MemoryHotline, "get_traffic", lambda *a: None),
            [flash, (flash[0], flash[1], {**flash[2], "text": "rewritten"})]),
        "a resent RFI replaces ours": (  # as before issue 17: held by id, resent anew
            lambda mp: mp.setattr(MemoryRequests, "get", lambda *a: None),
            [template(world, "rfi", 1)]),
        "the receiver does not re-decide scope": (
            lambda mp: mp.setattr(receiving, "engine_problem", lambda *a: None),
            [template(world, "release", 5)]),
        "a partner regrades another originator's portion": (
            lambda mp: mp.setattr(protection_authority, "regrade_refusal",
                                  lambda *a: None),
            [template(world, "regrade", 2)]),
        "a partner reports on an item it was never given": (
            lambda mp: mp.setattr(protection_authority, "report_refusal", lambda *a: None),
            [template(world, "compromise", 1)]),
    }
    caught = []
    for name, (plant, sequence) in faults.items():
        clean = Tally()
        attack(world, sequence, clean)
        assert (clean.unauthorized, clean.failing) == (0, 0), (name, clean.first)
        tally = Tally()
        with monkeypatch.context() as mp:
            plant(mp)
            attack(world, sequence, tally)
        if tally.unauthorized or tally.failing:
            caught.append(name)
    print(f"\nhostile partner planted faults: caught {len(caught)} of {len(faults)}")
    assert sorted(caught) == sorted(faults), set(faults) - set(caught)


@pytest.mark.slow
def test_a_hostile_partner_soak(world: World) -> None:
    tally = run(world, EXAMPLES * 20)
    print(f"\nhostile partner (soak): {tally.messages} messages, {tally.refused} refused, "
          f"{tally.unauthorized} unauthorized changes, {tally.failing} reads failing")
    assert (tally.unauthorized, tally.failing) == (0, 0), tally.first
