"""The seed scenario, step by step, over the nodes' HTTP APIs (docs/rules.md#reference-dates)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from liaison.cli.demo import products, talks, tracks
from liaison.cli.demo.calls import StepFailed, api, poll, refused

OUTCOME_STYLE = {"allowed": "green", "held": "yellow", "denied": "red"}

KOR_USERS = {
    "kim.analyst": (["analyst"], "군사I급비밀"),
    "lee.officer": (["release_officer"], "군사I급비밀"),
    "park.reviewer": (["reviewer"], "군사I급비밀"),
    "choi.reviewer": (["reviewer"], "군사I급비밀"),
    "jung.analyst": (["analyst"], "군사III급비밀"),
}

CREATED = "2019-10-31T08:00:00Z"


def _label(level: str, originator: str = "KOR", **extra: Any) -> dict[str, Any]:
    return {"policy": "KOR", "classification": level, "originator": originator,
            "created": CREATED, **extra}


LAUNCH_REPORT = {
    "id": "KOR-2019-1031-01",
    "discipline": "HUMINT",
    "topic": "DPRK/missile/SRBM",
    "grade": "B2",
    "title": "Two projectiles launched from Sunchon, South Pyongan",
    "reported_at": "2019-10-31T08:00:00Z",
    "observed_at": "2019-10-31T07:35:00Z",
    "place": {"lat": 39.43, "lon": 125.93, "name": "Sunchon"},
    "portions": [
        {"id": "p1", "content": "Two projectiles, 16:35 and 16:38 KST; ~370 km range, "
                                "~90 km apogee; landed outside Japan's EEZ.",
         "label": _label("군사III급비밀", rel_to=["USA", "JPN"])},
        {"id": "p2", "content": "TEL movement near the launch site the day before.",
         "label": _label("군사II급비밀", rel_to=["USA", "JPN"])},
        {"id": "p3", "content": "Source: placement and access of the reporting asset.",
         "label": _label("군사I급비밀", rel_to=["USA"])},
        {"id": "p4", "content": "US imagery of the launch area, 2019-10-30.",
         "label": _label("군사II급비밀", originator="USA", rel_to=["USA", "JPN"])},
        {"id": "p5", "content": "Assessment for the Minister only.",
         "label": _label("군사III급비밀", caveats=["NOFORN"])},
    ],
}

NUCLEAR_2015 = {
    "id": "KOR-2015-0601-01", "discipline": "SIGINT", "topic": "DPRK/nuclear", "grade": "B3",
    "title": "Activity at the Punggye-ri test site", "reported_at": "2015-06-01T00:00:00Z",
    "portions": [{"id": "p1", "content": "Increased communications near the north portal.",
                  "label": {"policy": "KOR", "classification": "군사III급비밀",
                            "originator": "KOR", "created": "2015-06-01T00:00:00Z",
                            "rel_to": ["USA", "JPN"]}}],
}

NOTES = [
    ("NOTICE_GIVEN", "2019-08-23", "written notice of non-renewal"),
    ("NOTICE_SUSPENDED", "2019-11-22", "notice suspended; may be reactivated at any time"),
    ("NOTICE_WITHDRAWN", "2023-03-21", "suspension of notice withdrawn; normalised"),
]

CHECKS = [
    ("JPN", "2014-06-01", "before TISA and before the GSOMIA: no channel to Japan"),
    ("JPN", "2015-06-01", "TISA (2014-12-29): relayed through the US hub, DPRK missile scope"),
    ("JPN", "2017-01-01", "KOR–JPN GSOMIA in force since 2016-11-23: direct"),
    ("JPN", "2019-09-01", "notice of termination given 2019-08-23: still in force"),
    ("JPN", "2019-11-23", "notice suspended 2019-11-22: stays in force"),
    ("JPN", "2023-06-01", "notice withdrawn 2023-03-21: normalised"),
    ("USA", "2019-11-23", "US–ROK GSOMIA 1987: TOP SECRET row exists"),
    ("CHN", "2019-11-23", "KOR–CHN hotline MOU: a channel, not an exchange"),
]


class Story:
    def __init__(self, console: Console, urls: dict[str, str],
                 admin_passwords: dict[str, str], fingerprints: dict[str, str]) -> None:
        self.console, self.urls, self.admin_passwords = console, urls, admin_passwords
        self.fingerprints = fingerprints
        self.sessions: dict[tuple[str, str], httpx.Client] = {}
        self.password = secrets.token_urlsafe(15)
        self.users: dict[str, dict[str, list[str]]] = {}

    def run(self) -> None:
        kor = self.sign_in("KOR", "admin", self.admin_passwords["KOR"])
        self.step("Partners pin each other's identity fingerprints, exchanged out of band")
        self.trust_partners()
        self.step("KOR's notes of 2019 and 2023 travel, signed, to the other parties' nodes")
        self.send_notes(kor)
        self.step("Agreements as the KOR node sees them on 2019-11-23")
        self.show_agreements(kor, "2019-11-23")
        self.step("KOR admin creates the people who work the release desk")
        self.create_users(kor)
        self.step("An analyst files the 2019-10-31 launch report, five portions")
        self.file_report()
        self.step("A cleared-for-less analyst sees only what their clearance allows")
        self.show_need_to_know()
        self.step("Release checks: could it go to JPN (and others) on these dates?")
        officer = self.sign_in("KOR", "lee.officer", self.password)
        for to, on, why in CHECKS:
            self.show_decision(officer, to, on, why)
        self.step("JPN's node asks KOR for information (a request commits no one to share)")
        rfi = self.ask_rfi()
        self.step("Release to JPN, decided on the node's clock: request, two-person review, "
                  "release")
        release_id = self.review_flow(officer)
        self.step("The release travels to JPN's node: signed, encrypted, receipted, re-marked")
        self.delivery(officer, rfi, release_id)
        self.step("Third-party rule: KOR asks the US node for consent to pass on US imagery")
        self.consent_flow(officer)
        self.step("TISA, 2015 (what if): before the GSOMIA, KOR → JPN went through the US hub")
        self.relay_flow(officer)
        self.step("The KOR–CHN defense hotline: a check call, then a FLASH acknowledged")
        self.hotline_china()
        self.step("The inter-Korean line, June 2020: calls unanswered, then severed")
        self.hotline_north()
        self.step("Inter-Korean talks by video, 2021: an agreed agenda, minutes signed by both")
        talks.talks_by_video(self)
        self.step("Real-time tracks, 2019-10-31: a US sensor feed shared with KOR, not JPN")
        tracks.share_salvo(self)
        self.step("December 2023: the US widens the feed to JPN; JPN's node receives it")
        tracks.widen_to_japan(self)
        self.step("Products: an image released with its label bound, search, TAXII for JPN")
        products.share_products(self, officer)
        self.step("Bad input is refused with a reason and changes nothing")
        self.bad_input(officer, kor)
        self.step("Both parties' nodes answer for their agreement the same on every date")
        self.partner_view()
        self.step("The audit log: every decision, review, consent and login, hash-chained")
        result = api(kor, "GET", "/api/audit/verify")
        self.say(f"audit verify: ok={result['ok']}, {result['checked']} records re-hashed")
        if not result["ok"]:
            raise StepFailed(f"audit chain broken: {result['problem']}")
        self.console.rule("[green]demo complete")

    def trust_partners(self) -> None:
        for party in self.urls:
            admin = self.sign_in(party, "admin", self.admin_passwords[party])
            for other, url in self.urls.items():
                if other != party:
                    api(admin, "POST", "/api/peers", json={
                        "party": other, "address": url,
                        "fingerprint": self.fingerprints[other]})
            self.say(f"{party} trusts " + ", ".join(
                f"{o} ({self.fingerprints[o][:8]}…)" for o in self.urls if o != party))
        status, msg = refused(admin, "POST", "/api/peers", json={
            "party": "KOR", "address": self.urls["USA"], "fingerprint": "0" * 32})
        self.say(f"a card that does not match the pinned fingerprint → {status}: {msg}")

    def send_notes(self, kor: httpx.Client) -> None:
        for kind, on, note in NOTES:
            api(kor, "POST", "/api/agreements/KOR-JPN-GSOMIA/notes",
                json={"kind": kind, "date": on, "note": note})
            self.say(f"KOR → JPN note: {kind} {on} ({note})")
        jpn = self.sign_in("JPN", "admin", self.admin_passwords["JPN"])
        events = poll(lambda: len(e := api(jpn, "GET", "/api/agreements/KOR-JPN-GSOMIA")[
            "events"]) == 5 and e)
        self.say(f"JPN's copy now records {len(events)} events; the last: "
                 f"{events[-1]['kind']} {events[-1]['date']} by {events[-1]['by']}")

    def ask_rfi(self) -> dict[str, Any]:
        jpn = self.sign_in("JPN", "admin", self.admin_passwords["JPN"])
        api(jpn, "POST", "/api/users", json={
            "username": "sato.officer", "roles": ["release_officer"], "clearance": "特定秘密",
            "password": self.password})
        sato = self.sign_in("JPN", "sato.officer", self.password)
        rfi: dict[str, Any] = api(sato, "POST", "/api/rfis", json={
            "to": "KOR", "topic": "DPRK/missile", "event": "launches of 2019-10-31",
            "priority": "urgent", "deadline": "2099-12-31T00:00:00Z",
            "purpose": "shared early warning"})
        lee = self.sign_in("KOR", "lee.officer", self.password)
        got = poll(lambda: api(lee, "GET", "/api/rfis", params={"direction": "incoming"}))
        self.say(f"KOR sees RFI {got[0]['id'][:8]} from {got[0]['party']}: {got[0]['topic']}, "
                 f"{got[0]['priority']}, due {got[0]['deadline']}")
        return rfi

    def delivery(self, officer: httpx.Client, rfi: dict[str, Any], release_id: str) -> None:
        api(officer, "POST", f"/api/rfis/{rfi['id']}/answer", json={
            "answer": "answered", "reason": "see release", "releases": [release_id]})
        jpn = self.sign_in("JPN", "admin", self.admin_passwords["JPN"])
        received_id = f"{LAUNCH_REPORT['id']}@KOR"
        item = poll(lambda: _get_or_none(jpn, f"/api/items/{received_id}"))
        self.say(f"JPN holds [bold]{item['banner']}[/] {item['id']}")
        for p in item["portions"]:
            lab = p["label"]
            self.say(f"{p['mark']} {p['content']}  (originator {lab['originator']}, "
                     f"received from {', '.join(lab['informative'].get('RECEIVED FROM', []))})")
        outbox = poll(lambda: (o := api(officer, "GET", "/api/outbox"))["JPN"]["delivered"]
                       and o)
        self.say(f"KOR outbox to JPN: {outbox['JPN']}; the signed receipt is in KOR's audit log")
        japan = self.sign_in("JPN", "sato.officer", self.password)
        answered = poll(lambda: (r := api(japan, "GET", "/api/rfis")[0])["state"] != "open"
                         and r)
        self.say(f"JPN's RFI is {answered['state']} with release(s) "
                 f"{', '.join(x[:8] for x in answered['releases'])}")
        d = api(japan, "GET", f"/api/items/{received_id}/release-check", params={"to": "USA"})
        self.say(f"JPN → USA onward: [yellow]{d['outcome'].upper()}[/] — "
                 f"{next(r['text'] for r in d['reasons'] if r['portion_id'])}")
        ledger = api(japan, "GET", "/api/ledger")["balances"]
        for ag, b in ledger.items():
            self.say(f"JPN ledger {ag}: given {b['given']}, received {b['received']}")

    def step(self, title: str) -> None:
        self.console.rule(f"[bold cyan]{title}")

    def say(self, text: str) -> None:
        self.console.print("  " + text)

    def sign_in(self, party: str, user: str, password: str) -> httpx.Client:
        """One session per person (sign-ins are rate-limited per address)."""
        if (party, user) in self.sessions:
            return self.sessions[party, user]
        client = httpx.Client(base_url=self.urls[party], timeout=30.0)
        token = api(client, "POST", "/api/auth/login",
                    json={"username": user, "password": password})["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        self.sessions[party, user] = client
        return client

    def show_agreements(self, client: httpx.Client, on: str) -> None:
        table = Table("agreement", "kind", "parties", f"state on {on}", "explanation")
        for a in api(client, "GET", "/api/agreements", params={"at": on}):
            s = a["status"]
            table.add_row(a["id"], a["kind"], ", ".join(a["parties"]), s["state"],
                          s["explanation"])
        self.console.print(table)

    def create_users(self, admin: httpx.Client) -> None:
        self.users["KOR"] = {}
        for name, (roles, clearance) in KOR_USERS.items():
            body = {"username": name, "roles": roles, "clearance": clearance,
                    "password": self.password,
                    "topics": ["DPRK"] if name == "jung.analyst" else None}
            api(admin, "POST", "/api/users", json=body)
            self.users["KOR"][name] = roles
            self.say(f"{name}: {', '.join(roles)}, cleared {clearance}")

    def file_report(self) -> None:
        analyst = self.sign_in("KOR", "kim.analyst", self.password)
        item = api(analyst, "POST", "/api/items", json=LAUNCH_REPORT)
        self.say(f"[bold]{item['banner']}[/]  {item['id']}: {item['title']}")
        for p in item["portions"]:
            self.say(f"{p['mark']} {p['content']}")

    def show_need_to_know(self) -> None:
        junior = self.sign_in("KOR", "jung.analyst", self.password)
        item = api(junior, "GET", f"/api/items/{LAUNCH_REPORT['id']}")
        self.say(f"jung.analyst (군사III급비밀) sees {len(item['portions'])} of "
                 f"{len(LAUNCH_REPORT['portions'])} portions: "
                 + ", ".join(p["mark"] for p in item["portions"]))

    def show_decision(self, client: httpx.Client, to: str, on: str, why: str,
                      purpose: str | None = None) -> None:
        params = {"to": to, "at": on, **({"purpose": purpose} if purpose else {})}
        d = api(client, "GET", f"/api/items/{LAUNCH_REPORT['id']}/release-check",
                params=params)
        style = OUTCOME_STYLE[d["outcome"]]
        route = f" via {', '.join(d['route'])}" if d["route"] else ""
        self.console.print(f"\n  [bold]{to} on {on}[/] — {why}")
        self.console.print(f"  [{style}]{d['outcome'].upper()}[/]{route}; tearline "
                           f"{', '.join(d['tearline']) or '(none)'}; received as "
                           f"{d['recipient_level'] or '—'}")
        for r in d["reasons"]:
            mark = {"pass": "[green]✓[/]", "deny": "[red]✗[/]"}.get(r["verdict"], "[yellow]…[/]")
            self.console.print(f"    {mark} {r['portion_id'] or 'item'}: {r['text']}")

    def review_flow(self, officer: httpx.Client) -> str:
        req = api(officer, "POST", "/api/releases", json={
            "item_id": LAUNCH_REPORT["id"], "recipient": "JPN",
            "purpose": "shared early warning of DPRK ballistic missile launches"})
        self.say(f"request {req['id'][:8]}: tearline {req['tearline']}, "
                 f"{req['required_reviews']} reviewers required (SECRET-equivalent)")
        path = f"/api/releases/{req['id']}/reviews"
        park = self.sign_in("KOR", "park.reviewer", self.password)
        status, msg = refused(park, "POST", path, json={"approve": True,
                                                         "tearline": ["p1", "p2", "p3"]})
        self.say(f"park tries to widen the tearline with p3 → {status}: {msg}")
        req = api(park, "POST", path, json={"approve": True, "tearline": ["p1", "p2"],
                                            "comment": "releasable as marked"})
        self.say(f"park approves p1, p2 → state {req['state']}, approvals {req['approvals']}")
        status, msg = refused(park, "POST", path, json={"approve": True})
        self.say(f"park approves again → {status}: {msg}")
        choi = self.sign_in("KOR", "choi.reviewer", self.password)
        req = api(choi, "POST", path, json={"approve": True, "tearline": ["p1", "p2"]})
        self.say(f"choi approves → state [bold]{req['state']}[/]; released portions "
                 f"{req['tearline']} as {req['decision']['recipient_level']}")
        ledger = api(officer, "GET", "/api/ledger", params={"partner": "JPN"})
        for ag, b in ledger["balances"].items():
            self.say(f"ledger {ag}: given {b['given']}, received {b['received']}, "
                     f"by level {b['by_level']}")
        return str(req["id"])

    def consent_flow(self, officer: httpx.Client) -> None:
        asked = api(officer, "POST", "/api/consent-requests", json={
            "item_id": LAUNCH_REPORT["id"], "recipient": "JPN",
            "purpose": "shared early warning of DPRK ballistic missile launches"})
        usa = self.sign_in("USA", "admin", self.admin_passwords["USA"])
        api(usa, "POST", "/api/users", json={"username": "smith.officer",
                                             "roles": ["release_officer"],
                                             "clearance": "TOP SECRET",
                                             "password": self.password})
        smith = self.sign_in("USA", "smith.officer", self.password)
        got = poll(lambda: api(smith, "GET", "/api/consent-requests"))
        self.say(f"USA node sees KOR's request for {got[0]['item_id']} → "
                 f"{got[0]['recipient']}: {got[0]['portions'][0]['content']}")
        api(smith, "POST", f"/api/consent-requests/{asked['id']}/answer",
            json={"grant": True, "reason": "releasable for missile warning"})
        poll(lambda: api(officer, "GET", "/api/consent-requests")[0]["state"] == "granted")
        self.say("the signed grant is back at KOR and recorded as USA's written consent")
        # the consent names its purpose, and unlocks only that one (docs/rules.md#consent)
        self.show_decision(officer, "JPN", "2019-11-25", "after the US consent",
                           "shared early warning of DPRK ballistic missile launches")

    def watch(self, party: str, clearance: str) -> httpx.Client:
        if (party, "watch") in self.sessions:
            return self.sessions[party, "watch"]
        admin = self.sign_in(party, "admin", self.admin_passwords[party])
        api(admin, "POST", "/api/users", json={"username": "watch", "roles": ["watch_officer"],
                                               "clearance": clearance,
                                               "password": self.password})
        return self.sign_in(party, "watch", self.password)

    def _open_line(self, channel: str, caller: str, callee: str, times: list[str],
                   weekdays: list[int]) -> None:
        for party in (caller, callee):
            admin = self.sign_in(party, "admin", self.admin_passwords[party])
            api(admin, "POST", "/api/hotline", json={
                "agreement_id": channel, "times": times, "weekdays": weekdays,
                "tz": "Asia/Seoul", "places_calls": party == caller})

    def hotline_china(self) -> None:
        line = "KOR-CHN-HOTLINE-MOU"
        self._open_line(line, "KOR", "CHN", ["09:00", "16:00"], list(range(7)))
        kor, chn = self.watch("KOR", "군사I급비밀"), self.watch("CHN", "绝密")
        api(kor, "POST", f"/api/hotline/{line}/check-calls")
        call = poll(lambda: api(chn, "GET", f"/api/hotline/{line}")["traffic"])[0]
        api(chn, "POST", f"/api/hotline/{line}/acknowledgements",
            json={"sender": "KOR", "seq": call["seq"]})
        status = poll(lambda: (s := api(kor, "GET", f"/api/hotline/{line}")["status"])[
            "last_answered"] and s)
        self.say(f"check call answered by CHN: line {status['state']}")
        api(kor, "POST", f"/api/hotline/{line}/messages", json={
            "precedence": "FLASH", "text": "Two ballistic missiles launched from Sunchon at "
                                           "16:35 and 16:38 KST, about 370 km."})
        flash = poll(lambda: [m for m in api(chn, "GET", f"/api/hotline/{line}")["traffic"]
                               if m.get("precedence") == "FLASH"])[0]
        self.say(f"CHN received FLASH {flash['seq']} at {flash['delivered_at'][11:19]}, "
                 f"answer due within 10 minutes")
        api(chn, "POST", f"/api/hotline/{line}/acknowledgements",
            json={"sender": "KOR", "seq": flash["seq"]})
        acked = poll(lambda: [m for m in api(kor, "GET", f"/api/hotline/{line}")["traffic"]
                               if m.get("acknowledged_at") and m["kind"] == "message"])[0]
        self.say(f"KOR sees it acknowledged by {acked['acknowledged_by']}; overdue "
                 f"{acked['overdue']}")

    def hotline_north(self) -> None:
        line = "KOR-PRK-LIAISON"
        self._open_line(line, "KOR", "PRK", ["09:00", "17:00"], list(range(5)))
        kor, prk = self.watch("KOR", "군사I급비밀"), self.watch("PRK", "1급비밀")
        api(kor, "POST", f"/api/hotline/{line}/check-calls")
        status = poll(lambda: (s := api(kor, "GET", f"/api/hotline/{line}")["status"])[
            "state"] == "UNRESPONSIVE" and s)
        self.say(f"PRK did not answer: line {status['state']}, "
                 f"{status['missed_days']} missed day(s)")
        api(prk, "POST", f"/api/hotline/{line}/sever")
        status = poll(lambda: (s := api(kor, "GET", f"/api/hotline/{line}")["status"])[
            "state"] == "SEVERED" and s)
        self.say(f"PRK declares the line severed: KOR's side shows {status['state']} "
                 f"(by {status['severed_by']})")
        code, msg = refused(kor, "POST", f"/api/hotline/{line}/messages",
                            json={"precedence": "FLASH", "text": "please answer"})
        self.say(f"a message on the severed line → {code}: {msg}")

    def relay_flow(self, officer: httpx.Client) -> None:
        """The engine's answer for 2015 is a what-if: a real release is decided on the
        node's clock (issue 18), so a request dated 2015 is refused. The relay itself runs
        in tests/integration/test_federation.py (the GSOMIA ended, JPN reached via USA)."""
        analyst = self.sign_in("KOR", "kim.analyst", self.password)
        api(analyst, "POST", "/api/items", json=NUCLEAR_2015)
        then = api(officer, "GET", f"/api/items/{NUCLEAR_2015['id']}/release-check",
                   params={"to": "JPN", "at": "2015-06-01"})
        self.say(f"release check on 2015-06-01: {then['summary']} "
                 f"(agreement {then['agreement_id']})")
        status, msg = refused(officer, "POST", "/api/releases", json={
            "item_id": NUCLEAR_2015["id"], "recipient": "JPN", "on": "2015-06-01",
            "purpose": "TISA: North Korean nuclear threat"})
        self.say(f"a release request dated 2015-06-01 → {status}: {msg}")
        today = api(officer, "GET", f"/api/items/{NUCLEAR_2015['id']}/release-check",
                    params={"to": "JPN"})
        self.say(f"today: {today['summary']} (agreement {today['agreement_id']})")

    def bad_input(self, officer: httpx.Client, admin: httpx.Client) -> None:
        bad_item = {**LAUNCH_REPORT, "id": "BAD-1", "portions": [
            {"id": "p1", "content": "x", "label": _label("군사II급비밀", rel_to=["USA"],
                                                          caveats=["NOFORN"])}]}
        cases: list[tuple[str, httpx.Client, str, str, dict[str, Any]]] = [
            ("REL TO with NOFORN", officer, "POST", "/api/items", {"json": bad_item}),
            ("unknown partner", officer, "GET",
             f"/api/items/{LAUNCH_REPORT['id']}/release-check", {"params": {"to": "XYZ"}}),
            ("request a denied release", officer, "POST", "/api/releases",
             {"json": {"item_id": LAUNCH_REPORT["id"], "recipient": "CHN", "purpose": "x"}}),
            ("event dated before history", admin, "POST",
             "/api/agreements/KOR-JPN-GSOMIA/events",
             {"json": {"kind": "NOTICE_GIVEN", "date": "2019-01-01", "by": "KOR"}}),
        ]
        for name, client, method, path, kw in cases:
            status, msg = refused(client, method, path, **kw)
            self.say(f"{name} → {status}: {msg}")

    def partner_view(self) -> None:
        for party in ("KOR", "JPN"):  # the parties; notes go to parties only
            client = self.sign_in(party, "admin", self.admin_passwords[party])
            states = []
            for on in ("2016-11-22", "2019-09-01", "2019-11-23", "2023-06-01"):
                a = api(client, "GET", "/api/agreements/KOR-JPN-GSOMIA", params={"at": on})
                states.append(f"{on} {a['status']['state']}")
            self.say(f"{party} node, KOR-JPN-GSOMIA: " + "; ".join(states))


def _get_or_none(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    return response.json() if response.status_code == 200 else None
