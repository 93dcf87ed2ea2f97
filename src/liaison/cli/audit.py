"""``liaison audit``: the tamper-evident audit log: its records, checkpoints countersigned
by partners, and verification (offline from storage, or through the API)."""

from __future__ import annotations

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.node import verify_local
from liaison.cli.options import DatabaseUrl, DataDir, Json, Token, Url
from liaison.cli.output import fail

audit = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


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


@audit.command("verify")
def audit_verify(data_dir: DataDir = None, database_url: DatabaseUrl = None,
                 url: Url = None, token: Token = None) -> None:
    """Re-hash the audit chain: offline with --data-dir, else through the API."""
    if data_dir is not None or database_url is not None:
        verify_local(data_dir, database_url)
        return
    result = Api(url, token).get("/api/audit/verify")
    if not result["ok"]:
        fail(f"audit log does not verify: {result['problem']}")
    witnessed = result.get("checkpoints") or {}
    out.console.print(f"[green]verified[/] {result['checked']} audit records: chain intact; "
                      f"{witnessed.get('countersigned', 0)} checkpoints countersigned by "
                      f"{', '.join(witnessed.get('witnesses', [])) or 'no partner yet'} match")
