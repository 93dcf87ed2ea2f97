"""The seed scenario, step by step, over the nodes' HTTP APIs (DOMAIN.md dates)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

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


class StepFailed(RuntimeError):
    pass


def api(client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
    """Call the API; raise ``StepFailed`` with the node's own message on an error."""
    response = client.request(method, path, **kw)
    if response.status_code >= 400:
        raise StepFailed(f"HTTP {response.status_code}: {response.json()['error']['message']}")
    return response.json()


def refused(client: httpx.Client, method: str, path: str, **kw: Any) -> tuple[int, str]:
    """Call an API that must refuse; return its status and message."""
    response = client.request(method, path, **kw)
    if response.status_code < 400:
        raise StepFailed(f"{method} {path} was accepted but must be refused")
    return response.status_code, response.json()["error"]["message"]


class Story:
    def __init__(self, console: Console, urls: dict[str, str],
                 admin_passwords: dict[str, str], fingerprints: dict[str, str]) -> None:
        self.console, self.urls, self.admin_passwords = console, urls, admin_passwords
        self.fingerprints = fingerprints
        self.password = secrets.token_urlsafe(15)
        self.users: dict[str, dict[str, list[str]]] = {}

    def run(self) -> None:
        kor = self.sign_in("KOR", "admin", self.admin_passwords["KOR"])
        self.step("Partners pin each other's identity fingerprints, exchanged out of band")
        self.trust_partners()
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
        self.step("Release to JPN on 2019-11-23: request, two-person review, release")
        self.review_flow(officer)
        self.step("The release travels to JPN's node: signed, encrypted, receipted, re-marked")
        self.delivery(officer)
        self.step("Third-party rule: the US consents to its imagery going to JPN")
        self.consent_flow(officer)
        self.step("Bad input is refused with a reason and changes nothing")
        self.bad_input(officer, kor)
        self.step("Every partner node answers for the same agreement on the same dates")
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

    def delivery(self, officer: httpx.Client) -> None:
        jpn = self.sign_in("JPN", "admin", self.admin_passwords["JPN"])
        received_id = f"{LAUNCH_REPORT['id']}@KOR"
        item = _poll(lambda: _get_or_none(jpn, f"/api/items/{received_id}"))
        self.say(f"JPN holds [bold]{item['banner']}[/] {item['id']}")
        for p in item["portions"]:
            lab = p["label"]
            self.say(f"{p['mark']} {p['content']}  (originator {lab['originator']}, "
                     f"received from {', '.join(lab['informative'].get('RECEIVED FROM', []))})")
        outbox = _poll(lambda: (o := api(officer, "GET", "/api/outbox"))["JPN"]["delivered"]
                       and o)
        self.say(f"KOR outbox to JPN: {outbox['JPN']}; the signed receipt is in KOR's audit log")
        sato = {"username": "sato.officer", "roles": ["release_officer"],
                "clearance": "特定秘密", "password": self.password}
        api(jpn, "POST", "/api/users", json=sato)
        japan = self.sign_in("JPN", "sato.officer", self.password)
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
        client = httpx.Client(base_url=self.urls[party], timeout=30.0)
        token = api(client, "POST", "/api/auth/login",
                    json={"username": user, "password": password})["token"]
        client.headers["Authorization"] = f"Bearer {token}"
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

    def show_decision(self, client: httpx.Client, to: str, on: str, why: str) -> None:
        d = api(client, "GET", f"/api/items/{LAUNCH_REPORT['id']}/release-check",
                params={"to": to, "at": on})
        style = OUTCOME_STYLE[d["outcome"]]
        route = f" via {', '.join(d['route'])}" if d["route"] else ""
        self.console.print(f"\n  [bold]{to} on {on}[/] — {why}")
        self.console.print(f"  [{style}]{d['outcome'].upper()}[/]{route}; tearline "
                           f"{', '.join(d['tearline']) or '(none)'}; received as "
                           f"{d['recipient_level'] or '—'}")
        for r in d["reasons"]:
            mark = {"pass": "[green]✓[/]", "deny": "[red]✗[/]"}.get(r["verdict"], "[yellow]…[/]")
            self.console.print(f"    {mark} {r['portion_id'] or 'item'}: {r['text']}")

    def review_flow(self, officer: httpx.Client) -> None:
        req = api(officer, "POST", "/api/releases", json={
            "item_id": LAUNCH_REPORT["id"], "recipient": "JPN", "on": "2019-11-23",
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

    def consent_flow(self, officer: httpx.Client) -> None:
        api(officer, "POST", "/api/consents", json={
            "originator": "USA", "recipient": "JPN", "item_id": LAUNCH_REPORT["id"],
            "purpose": "shared early warning of DPRK ballistic missile launches",
            "granted_by": "USFK J2 liaison officer", "granted_on": "2019-11-25"})
        self.say("consent recorded: USA → JPN for this item")
        self.show_decision(officer, "JPN", "2019-11-25", "after the US consent")

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
        for party in ("JPN", "USA"):
            client = self.sign_in(party, "admin", self.admin_passwords[party])
            states = []
            for on in ("2016-11-22", "2019-09-01", "2019-11-23", "2023-06-01"):
                a = api(client, "GET", "/api/agreements/KOR-JPN-GSOMIA", params={"at": on})
                states.append(f"{on} {a['status']['state']}")
            self.say(f"{party} node, KOR-JPN-GSOMIA: " + "; ".join(states))


def _get_or_none(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    return response.json() if response.status_code == 200 else None


def _poll(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise StepFailed(f"nothing arrived within {timeout:.0f} s")
