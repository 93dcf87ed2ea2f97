"""Commands over a node's HTTP API: agreements, items, releases, consents, ledger, audit,
users. Each prints a table, or the raw JSON with ``--json``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.interop.documents import load_document

Url = Annotated[str | None, typer.Option("--url", help="node URL (default: saved session)")]
Token = Annotated[str | None, typer.Option("--token", help="bearer token (default: saved)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
At = Annotated[str | None, typer.Option("--at", help="date, YYYY-MM-DD (default today)")]

agreements = typer.Typer(help="Agreements and their status on any date.", no_args_is_help=True)
items = typer.Typer(help="Items, cut to your clearance.", no_args_is_help=True)
release = typer.Typer(help="Release checks, requests and reviews.", no_args_is_help=True)
consent = typer.Typer(help="Originators' written consents.", no_args_is_help=True)
audit = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
users = typer.Typer(help="Users of the node (admin).", no_args_is_help=True)
peer = typer.Typer(help="Partner nodes.", no_args_is_help=True)
rfi = typer.Typer(help="Requests for information between partners.", no_args_is_help=True)
hotline = typer.Typer(help="The hotline: traffic, acknowledgements, check calls.",
                      no_args_is_help=True)


def _date(value: str | None) -> str | None:
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc
    return value


@agreements.command("list")
def agreements_list(at: At = None, as_json: Json = False, url: Url = None,
                    token: Token = None) -> None:
    """Every agreement with its state on a date."""
    data = Api(url, token).get("/api/agreements", at=_date(at))
    out.emit(data, as_json, lambda d: out.table(
        f"agreements on {at or 'today'}", ["id", "kind", "parties", "state", "explanation"],
        [[a["id"], a["kind"], ", ".join(a["parties"]), a["status"]["state"],
          a["status"]["explanation"]] for a in d]))


@agreements.command("show")
def agreements_show(agreement_id: str, at: At = None, as_json: Json = False,
                    url: Url = None, token: Token = None) -> None:
    """One agreement: status, equivalence table, scope and history."""
    data = Api(url, token).get(f"/api/agreements/{agreement_id}", at=_date(at))
    out.emit(data, as_json, _render_agreement)


def _render_agreement(a: dict[str, Any]) -> None:
    s = a["status"]
    out.console.print(f"[bold]{a['id']}[/] {a['kind']} {', '.join(a['parties'])}: "
                      f"{s['state']} — {s['explanation']}")
    parties = sorted(a["parties"])
    out.table("equivalence", ["common", *parties],
              [[r["common"], *(" / ".join(r["levels"].get(p, [])) or "—" for p in parties)]
               for r in a["table"]])
    limit = a["max_imbalance"] if a["max_imbalance"] is not None else "none"
    on = f" on {a['terms_on']}" if a.get("terms_on") else ""
    out.console.print(f"terms{on}: reciprocity limit {limit}; purposes "
                      f"{escape('; '.join(a['purposes'])) or 'not restricted'}")
    out.table("history", ["date", "event", "by", "note"],
              [[e["date"], e["kind"], e["by"], e["note"]] for e in a["events"]])
    out.table("amendments", ["effective", "changes", "recorded by", "on", "note"],
              [[m["effective"], ", ".join(m["changes"]), m["recorded_by"], m["recorded_on"],
                m["note"]] for m in a.get("amendments", [])])


@agreements.command("event")
def agreements_event(agreement_id: str,
                     kind: Annotated[str, typer.Option(help="NOTICE_GIVEN, NOTICE_SUSPENDED…")],
                     on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
                     by: Annotated[str | None, typer.Option(help="acting party")] = None,
                     note: str = "", as_json: Json = False, url: Url = None,
                     token: Token = None) -> None:
    """Record a dated event on an agreement (admin)."""
    data = Api(url, token).post(f"/api/agreements/{agreement_id}/events",
                                {"kind": kind, "date": _date(on), "by": by, "note": note})
    out.emit(data, as_json, _render_agreement)


@agreements.command("amend")
def agreements_amend(
        agreement_id: str,
        effective: Annotated[str, typer.Option(help="in force from, YYYY-MM-DD (today or later)")],
        max_imbalance: Annotated[int | None, typer.Option(
            help="new reciprocity limit (0 holds every release)")] = None,
        no_limit: Annotated[bool, typer.Option(help="remove the reciprocity limit")] = False,
        purpose: Annotated[list[str] | None, typer.Option(
            help="a permitted purpose (repeat for several); replaces the list")] = None,
        any_purpose: Annotated[bool, typer.Option(help="lift the purpose restriction")] = False,
        terms: Annotated[Path | None, typer.Option(
            help="YAML/JSON file with a new 'table' and/or 'scope', as in the import format")
        ] = None,
        note: str = "", as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Amend an agreement's terms from a date (admin): dated and audited; checks dated
    before it still see the old terms."""
    body: dict[str, Any] = {"effective": _date(effective), "note": note}
    if max_imbalance is not None and no_limit:
        raise typer.BadParameter("give --max-imbalance or --no-limit, not both")
    if max_imbalance is not None or no_limit:
        body["max_imbalance"] = max_imbalance
    if purpose and any_purpose:
        raise typer.BadParameter("give --purpose or --any-purpose, not both")
    if purpose or any_purpose:
        body["purposes"] = list(purpose or [])
    if terms is not None:
        doc = load_document(terms.read_text(encoding="utf-8"), terms.name).data
        body.update({k: v for k, v in doc.items() if k in ("table", "scope")})
    data = Api(url, token).post(f"/api/agreements/{agreement_id}/amendments", body)
    out.emit(data, as_json, _render_agreement)


@agreements.command("note")
def agreements_note(agreement_id: str,
                    kind: Annotated[str, typer.Option(help="NOTICE_GIVEN, NOTICE_SUSPENDED…")],
                    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
                    note: str = "", as_json: Json = False, url: Url = None,
                    token: Token = None) -> None:
    """Send a signed note of this party's act to the other parties' nodes (admin)."""
    data = Api(url, token).post(f"/api/agreements/{agreement_id}/notes",
                                {"kind": kind, "date": _date(on), "note": note})
    out.emit(data, as_json, _render_agreement)


@items.command("list")
def items_list(limit: int = 50, offset: int = 0, as_json: Json = False, url: Url = None,
               token: Token = None) -> None:
    """Items you may see."""
    data = Api(url, token).get("/api/items", limit=limit, offset=offset)
    out.emit(data, as_json, lambda d: out.table(
        f"{d['total']} item(s)", ["id", "banner", "title", "discipline", "topic", "grade"],
        [[i["id"], i["banner"], i["title"], i["discipline"], i["topic"], i["grade"]]
         for i in d["items"]]))


@items.command("show")
def items_show(item_id: str, as_json: Json = False, url: Url = None,
               token: Token = None) -> None:
    """One item with its banner and portion marks."""
    out.emit(Api(url, token).get(f"/api/items/{item_id}"), as_json, _render_item)


def _render_item(i: dict[str, Any]) -> None:
    out.console.print(f"[bold]{i['banner']}[/]\n{i['id']}: {i['title']} ({i['discipline']}, "
                      f"{i['topic']}, {i['grade']})")
    for p in i["portions"]:
        out.console.print(f"  {p['mark']} {p['content']}")
    out.console.print(f"[bold]{i['banner']}[/]")


@items.command("search")
def items_search(text: Annotated[str, typer.Argument(help='words, "phrases", prefix*')] = "",
                 discipline: str | None = None, topic: str | None = None,
                 level: str | None = None,
                 place: Annotated[str | None, typer.Option(
                     help="south,west,north,east")] = None,
                 since: str | None = None, until: str | None = None,
                 source: str | None = None, limit: int = 50, offset: int = 0,
                 as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Search the items you may see: text and fields (discipline, topic, level, place,
    time, source)."""
    params = {k: v for k, v in {"q": text, "discipline": discipline, "topic": topic,
                                "level": level, "place": place, "since": since,
                                "until": until, "source": source}.items() if v}
    data = Api(url, token).get("/api/search", limit=limit, offset=offset, **params)
    out.emit(data, as_json, lambda d: out.table(
        f"{d['total']} item(s) found", ["id", "banner", "title", "matched", "snippet"],
        [[i["id"], i["banner"], i["title"], ", ".join(i["matched"]),
          next(iter(i["snippets"].values()), "")] for i in d["items"]]))


@items.command("add")
def items_add(file: Path, as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Create an item from a YAML or JSON file."""
    doc = load_document(file.read_text(encoding="utf-8"), file.name)
    out.emit(Api(url, token).post("/api/items", doc.data), as_json, _render_item)


@release.command("check")
def release_check(item_id: str, to: Annotated[str, typer.Option(help="partner, alpha-3")],
                  at: At = None,
                  purpose: Annotated[str | None, typer.Option(
                      help="what it would be released for (consents and agreements may "
                           "limit purposes)")] = None,
                  as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Could this item go to a partner on a date, for a purpose? The engine's decision and
    reasons.

    --at asks "what if" for another date; a real release is always decided on the node's
    clock at the moment of the last approval."""
    data = Api(url, token).get(f"/api/items/{item_id}/release-check", to=to, at=_date(at),
                               purpose=purpose)
    out.emit(data, as_json, out.decision)


@release.command("request")
def release_request(item_id: str, to: Annotated[str, typer.Option(help="partner")],
                    purpose: Annotated[str, typer.Option(help="why it is released")],
                    on: Annotated[str | None, typer.Option(
                        help="refused: a release is decided on the node's clock when it is "
                             "approved; use `release check --at` for a what-if date",
                        hidden=True)] = None,
                    as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Request a release; it waits for review and is decided on the node's clock at the
    moment of the last approval."""
    body = {"item_id": item_id, "recipient": to, "purpose": purpose}
    if on is not None:
        body["on"] = on  # the node refuses it with the reason
    data = Api(url, token).post("/api/releases", body)
    out.emit(data, as_json, _render_request)


def _render_request(r: dict[str, Any]) -> None:
    counted = ", ".join(r.get("counted_approvers", [])) or "none yet"
    out.console.print(f"request {r['id']}: {r['item_id']} → {r['recipient']} (decided on "
                      f"{r['on']}, node's clock): [bold]{r['state']}[/] ({r['approvals']}/"
                      f"{r['required_reviews']} approvals: {counted}), tearline "
                      f"{', '.join(r['tearline'])} {r['state_reason']}")
    if r.get("voided_notice"):
        out.console.print(f"  [yellow]{r['voided_notice']}[/]")


@release.command("list")
def release_list(state: str | None = None, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """Release requests, newest first."""
    data = Api(url, token).get("/api/releases", state=state)
    out.emit(data, as_json, lambda d: out.table(
        "release requests", ["id", "item", "to", "decided on", "state", "approvals",
                             "requested by", "approvals voided"],
        [[r["id"][:12], r["item_id"], r["recipient"], r["on"], r["state"],
          f"{r['approvals']}/{r['required_reviews']}", r["requested_by"],
          r.get("voided_notice", "")] for r in d]))


@release.command("show")
def release_show(request_id: str, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """One release request with the engine's decision."""
    data = Api(url, token).get(f"/api/releases/{request_id}")
    out.emit(data, as_json, _render_request_and_decision)


def _render_request_and_decision(r: dict[str, Any]) -> None:
    _render_request(r)
    out.decision(r["decision"])


@release.command("review")
def release_review(request_id: str,
                   approve: Annotated[bool, typer.Option("--approve/--reject")],
                   tearline: Annotated[str | None, typer.Option(
                       help="comma-separated portion ids (narrow only)")] = None,
                   comment: str = "", as_json: Json = False, url: Url = None,
                   token: Token = None) -> None:
    """Approve (optionally narrowing the tearline) or reject a request."""
    cut = [p.strip() for p in tearline.split(",") if p.strip()] if tearline else None
    data = Api(url, token).post(f"/api/releases/{request_id}/reviews",
                                {"approve": approve, "tearline": cut, "comment": comment})
    out.emit(data, as_json, _render_request)


@consent.command("add")
def consent_add(originator: Annotated[str, typer.Option()],
                to: Annotated[str, typer.Option(help="the party consented to")],
                item: Annotated[str, typer.Option(help="item id, or * for any")],
                purpose: Annotated[str, typer.Option()],
                granted_by: Annotated[str, typer.Option(help="who signed the consent")],
                granted_on: Annotated[str, typer.Option(help="YYYY-MM-DD")],
                as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Record an originator's written consent (third-party rule)."""
    data = Api(url, token).post("/api/consents", {
        "originator": originator, "recipient": to, "item_id": item, "purpose": purpose,
        "granted_by": granted_by, "granted_on": _date(granted_on)})
    out.emit(data, as_json, lambda c: out.console.print(f"consent {c['id']} recorded"))


@consent.command("list")
def consent_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Recorded consents."""
    out.emit(Api(url, token).get("/api/consents"), as_json, lambda d: out.table(
        "consents", ["originator", "to", "item", "purpose", "granted by", "on"],
        [[c["originator"], c["recipient"], c["item_id"], c["purpose"], c["granted_by"],
          c["granted_on"]] for c in d]))


def ledger(agreement: str | None = None, partner: str | None = None, as_json: Json = False,
           url: Url = None, token: Token = None) -> None:
    """Reciprocity: what was given and received, per agreement, level and discipline."""
    data = Api(url, token).get("/api/ledger", agreement=agreement, partner=partner)
    out.emit(data, as_json, lambda d: out.table(
        "reciprocity", ["agreement", "given", "received", "net", "by level", "by discipline"],
        [[ag, b["given"], b["received"], b["net"], _pairs(b["by_level"]),
          _pairs(b["by_discipline"])] for ag, b in d["balances"].items()]))


def _pairs(counts: dict[str, dict[str, int]]) -> str:
    return "; ".join(f"{k} {v['given']}/{v['received']}" for k, v in counts.items())


@audit.command("list")
def audit_list(after: int = -1, limit: int = 100, as_json: Json = False, url: Url = None,
               token: Token = None) -> None:
    """Audit records after a sequence number (admin)."""
    data = Api(url, token).get("/api/audit", after=after, limit=limit)
    out.emit(data, as_json, lambda d: out.table(
        "audit", ["seq", "at", "actor", "action", "subject"],
        [[r["seq"], r["at"], r["actor"], r["action"], r["subject"]] for r in d]))


@audit.command("checkpoint")
def audit_checkpoint(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Send a checkpoint of this node's audit log to every partner to countersign."""
    out.emit(Api(url, token).post("/api/audit/checkpoints", {}), as_json,
             lambda d: out.console.print(
                 f"checkpoint at {d['size']} records (root {d['root'][:16]}…) sent to "
                 f"{', '.join(d['sent_to']) or 'no partner: nothing new to witness'}"))


@audit.command("checkpoints")
def audit_checkpoints(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Checkpoints of this node's log countersigned by partners, and partners' witnessed
    here."""
    out.emit(Api(url, token).get("/api/audit/checkpoints"), as_json, lambda d: out.table(
        "audit checkpoints", ["log of", "witness", "size", "state", "at", "reason"],
        [[r["log_of"], r["witness"], r["size"], r["state"], r["at"], r["reason"]]
         for r in d]))


@users.command("list")
def users_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Users with roles and clearance."""
    out.emit(Api(url, token).get("/api/users"), as_json, lambda d: out.table(
        "users", ["username", "roles", "clearance", "topics", "disabled"],
        [[u["username"], ", ".join(u["roles"]), u["clearance"],
          ", ".join(u["topics"]) if u["topics"] is not None else "all", u["disabled"]]
         for u in d]))


@users.command("add")
def users_add(username: Annotated[str, typer.Option()],
              roles: Annotated[str, typer.Option(help="comma-separated")],
              clearance: Annotated[str, typer.Option(help="a level of the node's scheme")],
              password: Annotated[str | None, typer.Option()] = None,
              topics: Annotated[str | None, typer.Option(help="need-to-know, comma-sep")] = None,
              party: Annotated[str | None, typer.Option(
                  help="with --roles partner: the partner this account reads for")] = None,
              as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Create a user (admin)."""
    body = {"username": username, "roles": roles.split(","), "clearance": clearance,
            "password": password, "topics": topics.split(",") if topics else None,
            "party": party}
    out.emit(Api(url, token).post("/api/users", body), as_json,
             lambda u: out.console.print(f"user {u['username']} created"))


@peer.command("add")
def peer_add(party: Annotated[str, typer.Option(help="the partner's party, alpha-3")],
             address: Annotated[str, typer.Option(help="the partner node's URL")],
             fingerprint: Annotated[str, typer.Option(
                 help="the partner's identity fingerprint, exchanged out of band")],
             as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Trust a partner node (admin): its card must match the fingerprint."""
    data = Api(url, token).post("/api/peers", {"party": party, "address": address,
                                               "fingerprint": fingerprint})
    out.emit(data, as_json, lambda p: out.console.print(
        f"partner {p['party']} at {p['address']} trusted (fingerprint {p['fingerprint']})"))


@peer.command("list")
def peer_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Partner nodes and their keys."""
    out.emit(Api(url, token).get("/api/peers"), as_json, lambda d: out.table(
        "partners", ["party", "address", "fingerprint", "signing keys", "encryption keys"],
        [[p["party"], p["address"], p["fingerprint"], len(p["signing_keys"]),
          len(p["encryption_keys"])] for p in d]))


@peer.command("show")
def peer_show(party: Annotated[str, typer.Argument(help="the partner's party, alpha-3")],
              as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """One partner: its address, pinned fingerprint, the card held (when it was issued:
    a refreshed card is taken when an envelope names a key the card held did not list)
    and each key's id, creation, expiry and revocation."""
    code = party.upper()
    found = [p for p in Api(url, token).get("/api/peers") if p["party"] == code]
    if not found:
        out.console.print(f"no partner node {code}: add it with `liaison peer add`")
        raise typer.Exit(1)

    def render(p: dict[str, Any]) -> None:
        out.console.print(f"partner {p['party']} at {p['address']}\n"
                          f"fingerprint {p['fingerprint']} (pinned)\n"
                          f"trusted since {p['added_at']}; card held issued "
                          f"{p.get('card_issued') or '-'} (a refresh takes a newer card)")
        out.table("keys", ["kind", "id", "created", "expires", "revoked"],
                  [[kind, k["id"], k["created"], k["expires"] or "-",
                    "yes" if k["revoked"] else ""]
                   for kind in ("signing", "encryption") for k in p[f"{kind}_keys"]])

    out.emit(found[0], as_json, render)


@peer.command("outbox")
def peer_outbox(check: Annotated[bool, typer.Option(
                    "--check", help="exit 3 when a lane is stuck (for scripts and monitors)")]
                = False,
                refused: Annotated[bool, typer.Option(
                    "--refused", help="list refused messages with their reasons")] = False,
                partner: Annotated[str | None, typer.Option(
                    "--partner", help="with --refused: only this partner")] = None,
                limit: Annotated[int, typer.Option(help="with --refused: how many")] = 100,
                as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Messages per partner and lane: pending, the oldest pending message's age, failed
    attempts, the last error and when, the last delivery; stuck lanes are named."""
    api = Api(url, token)
    if refused:
        out.emit(api.get("/api/outbox/refused", peer=partner, limit=limit), as_json,
                 _render_refused)
        return
    data = api.get("/api/outbox")
    out.emit(data, as_json, _render_outbox)
    if check and any(p.get("stuck") for p in data.values()):
        raise typer.Exit(3)


@peer.command("inbox")
def peer_inbox(partner: Annotated[str | None, typer.Option(
                   "--partner", help="only what this partner sent")] = None,
               limit: Annotated[int, typer.Option(help="how many, latest first")] = 100,
               as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """What partners sent that this node refused, with the reason their signed receipt gave
    (administrators and release officers); each refusal is in the audit log too."""
    out.emit(Api(url, token).get("/api/inbox/refused", peer=partner, limit=limit), as_json,
             _render_inbox_refused)


def _render_inbox_refused(rows: list[dict[str, Any]]) -> None:
    # the reason quotes what a partner sent: shown as text, never as markup
    out.table("refused from partners", ["partner", "seq", "kind", "id", "received", "reason"],
              [[r["sender"], r["seq"], escape(r["kind"]), escape(r["id"]), r["received_at"],
                escape(r["reason"])] for r in rows])
    if not rows:
        out.console.print("nothing refused")


def _render_outbox(d: dict[str, Any]) -> None:
    out.table("outbox", ["partner", "pending", "delivered", "refused"],
              [[p, c["pending"], c["delivered"], c["refused"]] for p, c in d.items()])
    out.table("lanes", ["partner", "lane", "pending", "oldest", "failures", "last error",
                        "last error at", "last delivery", "state"],
              [[p, lane, v["pending"], _age(v["oldest_pending_age_s"]), v["failures"],
                v["last_error"] or "-", v["last_error_at"] or "-",
                v["last_delivery_at"] or "-", "STUCK" if v["stuck"] else "ok"]
               for p, c in d.items() for lane, v in c.get("lanes", {}).items()])
    alerts = [a for c in d.values() for a in c.get("alerts", [])]
    for alert in alerts:
        out.console.print(f"[bold red]ALERT[/]: {escape(alert)}")
    if not alerts:
        out.console.print("no lane is stuck")


def _render_refused(rows: list[dict[str, Any]]) -> None:
    out.table("refused messages", ["partner", "lane", "seq", "kind", "settled", "reason"],
              [[r["peer"], r["lane"], r["seq"], r["kind"], r["settled_at"] or "-",
                escape(r["reason"])] for r in rows])


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _render_requests(rows: list[dict[str, Any]]) -> None:
    out.table("requests", ["ref", "direction", "party", "state", "overdue", "subject"],
              [[r.get("ref", r["id"]), r["direction"], r["party"], r["state"], r["overdue"],
                r.get("topic") or f"{r.get('item_id')} → {r.get('recipient')}"] for r in rows])


@rfi.command("ask")
def rfi_ask(to: Annotated[str, typer.Option(help="partner, alpha-3")],
            topic: Annotated[str, typer.Option()], purpose: Annotated[str, typer.Option()],
            deadline: Annotated[str, typer.Option(help="ISO 8601 date-time with zone")],
            priority: Annotated[str, typer.Option(help="urgent, high or routine")] = "routine",
            event: str = "", as_json: Json = False, url: Url = None,
            token: Token = None) -> None:
    """Ask a partner for information."""
    data = Api(url, token).post("/api/rfis", {"to": to, "topic": topic, "event": event,
                                              "priority": priority, "deadline": deadline,
                                              "purpose": purpose})
    out.emit(data, as_json, lambda r: out.console.print(f"RFI {r['id']} sent to {r['party']}"))


@rfi.command("list")
def rfi_list(direction: str | None = None, as_json: Json = False, url: Url = None,
             token: Token = None) -> None:
    """RFIs sent and received, with their state and deadlines."""
    out.emit(Api(url, token).get("/api/rfis", direction=direction), as_json, _render_requests)


Sender = Annotated[str | None, typer.Option(
    "--party", help="the partner that sent it, where two partners used the same id")]


def _ref(request_id: str, party: str | None) -> str:
    """``<party>:<id>``: a partner's request ids are its own (the list shows the ref)."""
    return f"{party.upper()}:{request_id}" if party and ":" not in request_id else request_id


@rfi.command("answer")
def rfi_answer(rfi_id: Annotated[str, typer.Argument(help="<party>:<id>, or <id>")],
               answer: Annotated[str, typer.Option(help="answered or declined")],
               reason: str = "", releases: Annotated[str | None, typer.Option(
                   help="comma-separated release request ids")] = None,
               party: Sender = None, as_json: Json = False, url: Url = None,
               token: Token = None) -> None:
    """Answer an incoming RFI with releases already made, or decline it with a reason."""
    ids = [r for r in (releases or "").split(",") if r]
    data = Api(url, token).post(f"/api/rfis/{_ref(rfi_id, party)}/answer",
                                {"answer": answer, "reason": reason, "releases": ids})
    out.emit(data, as_json, lambda r: out.console.print(f"RFI {r['id']}: {r['state']}"))


@consent.command("request")
def consent_request(item: Annotated[str, typer.Option(help="a received item's id")],
                    to: Annotated[str, typer.Option(help="the party to pass it on to")],
                    purpose: Annotated[str, typer.Option()], as_json: Json = False,
                    url: Url = None, token: Token = None) -> None:
    """Ask the originator's node for written consent to pass a received item on."""
    data = Api(url, token).post("/api/consent-requests", {"item_id": item, "recipient": to,
                                                          "purpose": purpose})
    out.emit(data, as_json, lambda r: out.console.print(
        f"consent request {r['id']} sent to {r['party']}"))


@consent.command("requests")
def consent_requests(direction: str | None = None, as_json: Json = False, url: Url = None,
                     token: Token = None) -> None:
    """Consent requests sent and received."""
    out.emit(Api(url, token).get("/api/consent-requests", direction=direction), as_json,
             _render_requests)


@consent.command("answer")
def consent_answer(request_id: Annotated[str, typer.Argument(help="<party>:<id>, or <id>")],
                   grant: Annotated[bool, typer.Option("--grant/--decline")],
                   reason: str = "", party: Sender = None, as_json: Json = False,
                   url: Url = None, token: Token = None) -> None:
    """Grant or decline a partner's request for consent (at the originator's node)."""
    data = Api(url, token).post(f"/api/consent-requests/{_ref(request_id, party)}/answer",
                                {"grant": grant, "reason": reason})
    out.emit(data, as_json, lambda r: out.console.print(f"consent {r['id']}: {r['state']}"))


def _render_line(view: dict[str, Any]) -> None:
    status = view["status"]
    out.console.print(f"[bold]{view['id']}[/] with {view['partner']}: {status['state']}"
                      + (f", {status['missed_days']} missed day(s)" if status["missed_days"]
                         else ""))
    out.table("traffic", ["sent", "from", "seq", "precedence", "text", "ack / outcome",
                          "overdue"],
              [[t["sent_at"][:19], t["sender"], t["seq"], t.get("precedence") or t["kind"],
                t["text"], t.get("acknowledged_by") or t.get("outcome") or "",
                "OVERDUE" if t.get("overdue") else ""] for t in view.get("traffic", [])])
    summary = view.get("summary")
    if summary:
        out.console.print(f"open: {summary['open']}, overdue: {summary['overdue']}, "
                          f"FLASH unacknowledged: {len(summary['unacknowledged_flash'])}")
    if view.get("older"):
        out.console.print(f"older traffic: --before {view['older']}")


Limit = Annotated[int, typer.Option(help="entries in the page (the latest, or before "
                                         "--before)", min=1, max=1000)]
Before = Annotated[str | None, typer.Option(help="the page just before this position "
                                                 "(printed as 'older traffic')")]


@hotline.command("show")
def hotline_show(channel: str, limit: Limit = 100, before: Before = None,
                 as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """A channel's line status and a page of its traffic (the latest first), with
    deadlines, overdue flags and what is open."""
    out.emit(Api(url, token).get(f"/api/hotline/{channel}", limit=limit, before=before),
             as_json, _render_line)


@hotline.command("send")
def hotline_send(channel: str,
                 precedence: Annotated[str, typer.Option(help="FLASH, IMMEDIATE, PRIORITY "
                                                         "or ROUTINE")],
                 text: Annotated[str, typer.Option()], as_json: Json = False,
                 url: Url = None, token: Token = None) -> None:
    """Send a message (watch officer)."""
    data = Api(url, token).post(f"/api/hotline/{channel}/messages",
                                {"precedence": precedence.upper(), "text": text})
    out.emit(data, as_json, lambda m: out.console.print(f"sent {m['kind']} {m['seq']}"))


@hotline.command("ack")
def hotline_ack(channel: str, sender: Annotated[str, typer.Option(help="the partner")],
                seq: Annotated[int, typer.Option()], as_json: Json = False,
                url: Url = None, token: Token = None) -> None:
    """Acknowledge a received message or answer a check call."""
    data = Api(url, token).post(f"/api/hotline/{channel}/acknowledgements",
                                {"sender": sender.upper(), "seq": seq})
    out.emit(data, as_json, lambda m: out.console.print(f"acknowledged {m['seq']}"))


@hotline.command("call")
def hotline_call(channel: str, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """Place a check call now."""
    data = Api(url, token).post(f"/api/hotline/{channel}/check-calls", {})
    out.emit(data, as_json, lambda m: out.console.print(f"check call {m['seq']} placed"))


@hotline.command("sever")
def hotline_sever(channel: str, as_json: Json = False, url: Url = None,
                  token: Token = None) -> None:
    """Declare the line severed (unilateral)."""
    out.emit(Api(url, token).post(f"/api/hotline/{channel}/sever", {}), as_json, _render_line)


@hotline.command("reopen")
def hotline_reopen(channel: str, as_json: Json = False, url: Url = None,
                   token: Token = None) -> None:
    """Re-open a severed line while its MOU is in force."""
    out.emit(Api(url, token).post(f"/api/hotline/{channel}/reopen", {}), as_json,
             _render_line)


@hotline.command("transcript")
def hotline_transcript(channel: str, html: Annotated[bool, typer.Option(
                           "--html", help="HTML instead of JSON")] = False,
                       limit: Annotated[int | None, typer.Option(
                           help="one page of this many entries instead of the whole line",
                           min=1, max=1000)] = None,
                       before: Before = None, url: Url = None, token: Token = None) -> None:
    """Print the permanent transcript (JSON, or HTML with --html): the whole line, or one
    page with --limit (and --before)."""
    params = {"limit": limit, "before": before}
    print(Api(url, token).text(f"/api/hotline/{channel}/transcript",
                               format="html" if html else "json",
                               **{k: v for k, v in params.items() if v is not None}))
