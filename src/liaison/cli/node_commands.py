"""Commands that work on a node's own storage: init, serve, import, offline audit verify."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from liaison.cli.output import console, errors
from liaison.config import Settings
from liaison.domain.audit import AuditRecord, verify_chain
from liaison.domain.decoding import CodecError
from liaison.federation.keystore import Keystore
from liaison.interop.documents import DocumentError, load_document
from liaison.services.context import utc_now
from liaison.services.errors import ServiceError

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="the node's data directory "
                                              "(default LIAISON_DATA_DIR or var/node)")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url",
                                                 help="PostgreSQL URL instead of SQLite")]


def settings_for(data_dir: Path | None, database_url: str | None = None,
                 **more: object) -> Settings:
    try:
        return Settings.from_env(None, data_dir=data_dir, database_url=database_url, **more)
    except ValueError as exc:
        fail(str(exc), 2)
        raise


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[red]error:[/] {message}")
    raise typer.Exit(code)


def init(party: Annotated[str, typer.Option(help="the node's party, ISO alpha-3")],
         admin: Annotated[str, typer.Option(help="username of the first administrator")],
         data_dir: DataDir = None, database_url: DatabaseUrl = None,
         admin_password: Annotated[str | None, typer.Option(
             help="default: LIAISON_ADMIN_PASSWORD or a prompt")] = None) -> None:
    """Create a node: storage (encrypted: its key is made in the keys directory, unless
    LIAISON_DB_PASSPHRASE is set), its party and the first administrator."""
    from liaison.services.setup import initialise_node

    password = admin_password or os.environ.get("LIAISON_ADMIN_PASSWORD") or \
        typer.prompt("admin password", hide_input=True, confirmation_prompt=True)
    settings = settings_for(data_dir, database_url)
    engine, uow = _storage(settings)
    try:
        created = initialise_node(uow, party.upper(), admin, password, utc_now)
    except ServiceError as exc:
        fail(exc.message)
    finally:
        engine.dispose()
    where = settings.effective_database_url
    console.print(f"node {party.upper()} initialised at {where}; admin {admin}" if created
                  else f"node {party.upper()} was already initialised at {where}; nothing done")
    ring = _ensure_keys(settings)
    console.print(f"identity fingerprint: {ring.fingerprint} (give it to partners out of band)")


def _storage(settings: Settings) -> tuple[Any, Any]:
    """``open_storage``, or a clear error when the database cannot be opened."""
    from liaison.node.composition import open_storage
    from liaison.storage.engine import DatabaseKeyError

    try:
        return open_storage(settings)
    except DatabaseKeyError as exc:
        fail(str(exc), 2)


def _ensure_keys(settings: Settings) -> Keystore:
    from liaison.node.composition import keys_dir, load_keys

    return load_keys(settings) or Keystore.create(keys_dir(settings), utc_now())


def keys_show(data_dir: DataDir = None) -> None:
    """This node's identity fingerprint and current keys."""
    from liaison.node.composition import load_keys

    ring = load_keys(settings_for(data_dir))
    if ring is None:
        fail("this node has no keys: run `liaison init`", 2)
        return
    now = utc_now()
    console.print(f"identity fingerprint: {ring.fingerprint}")
    for kind in ("signing", "encryption"):
        info = ring.current(kind, now)
        console.print(f"{kind} key {info.id} (created {info.created})")


def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key id to revoke")],
                data_dir: DataDir = None) -> None:
    """Revoke a signing or encryption key at once (e.g. after a compromise). Partners stop
    accepting it when they refresh this node's card (`liaison peer add` again)."""
    from liaison.crypto.keys import KeyError_
    from liaison.node.composition import load_keys

    ring = load_keys(settings_for(data_dir))
    if ring is None:
        fail("this node has no keys: run `liaison init`", 2)
        return
    try:
        ring.revoke(key_id)
    except KeyError_ as exc:
        fail(str(exc))
    console.print(f"key {key_id} revoked")


def keys_rotate(data_dir: DataDir = None,
                overlap_days: Annotated[int, typer.Option(help="old keys stay valid this "
                                                          "long")] = 7) -> None:
    """New signing and encryption keys; the old ones stay valid for the overlap.
    Partners pick up the new keys from this node's card."""
    from datetime import timedelta

    from liaison.node.composition import load_keys

    ring = load_keys(settings_for(data_dir))
    if ring is None:
        fail("this node has no keys: run `liaison init`", 2)
        return
    ring.rotate(utc_now(), timedelta(days=overlap_days))
    console.print(f"rotated; old keys expire in {overlap_days} day(s)")


def serve(data_dir: DataDir = None, database_url: DatabaseUrl = None,
          host: Annotated[str | None, typer.Option(help="default 127.0.0.1")] = None,
          port: Annotated[int | None, typer.Option(help="API port, default 8470")] = None,
          federation_port: Annotated[int | None, typer.Option(
              help="mutual-TLS port for partners, default 8471")] = None,
          workers: Annotated[int | None, typer.Option(
              help="worker processes sharing the ports (default LIAISON_WORKERS or 1; "
                   "more than one needs PostgreSQL and NATS)")] = None,
          bus_url: Annotated[str | None, typer.Option(
              help="NATS JetStream URL (default LIAISON_BUS_URL; empty: in-process)")]
          = None) -> None:
    """Run the node: its HTTP API and its federation listener, until stopped."""
    import sys

    from liaison.node import workers as pool
    from liaison.node.composition import NodeNotInitialised, build_node
    from liaison.node.serving import run
    from liaison.storage.engine import DatabaseKeyError

    in_pool = pool.WORKER_ENV in os.environ
    settings = settings_for(data_dir, database_url, host=host, port=port,
                            federation_port=federation_port, bus_url=bus_url,
                            workers=1 if in_pool else workers)
    if settings.workers < 1:
        fail(f"--workers must be 1 or more, not {settings.workers}", 2)
    if settings.workers > 1:
        why = pool.check(settings)
        if why:
            fail(why, 2)
        raise typer.Exit(pool.supervise(settings, sys.argv[1:]))
    try:
        node = build_node(settings)
    except (NodeNotInitialised, DatabaseKeyError, ValueError) as exc:
        fail(str(exc), 2)
        return
    url = f"http://{settings.host}:{settings.port}"
    worker = f" (worker {os.environ[pool.WORKER_ENV]}, pid {os.getpid()})" if in_pool else ""
    console.print(f"node {node.deps.party} serving {url} (API docs {url}/api/docs); "
                  f"partners reach {settings.address} (mutual TLS 1.3){worker}")
    try:
        run(node, reuse_port=in_pool)
    except OSError as exc:
        fail(f"cannot listen on {settings.host}: {exc.strerror or exc}", 1)


def import_(files: Annotated[list[Path], typer.Argument(help="YAML or JSON documents")],
            data_dir: DataDir = None, database_url: DatabaseUrl = None,
            actor: Annotated[str, typer.Option(help="recorded in the audit log")] = "import",
            replace: Annotated[bool, typer.Option(help="replace existing agreements "
                                                  "and parties")] = False) -> None:
    """Import parties, agreements, users and items: all of it, or nothing."""
    from liaison.node.composition import NodeNotInitialised, build_node
    from liaison.services.importer import import_document
    from liaison.storage.engine import DatabaseKeyError

    try:
        node = build_node(settings_for(data_dir, database_url))
    except (NodeNotInitialised, DatabaseKeyError) as exc:
        fail(str(exc), 2)
        return
    for path in files:
        try:
            doc = load_document(path.read_text(encoding="utf-8"), path.name)
            counts = import_document(node.deps, actor, doc.data, replace)
        except OSError as exc:
            fail(f"{path}: {exc.strerror}; nothing was imported")
        except DocumentError as exc:
            fail(f"{exc}; nothing was imported")
        except CodecError as exc:
            fail(f"{path}:{doc.line_of(exc.path) or '?'}: {exc}; nothing was imported")
        summary = ", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing"
        console.print(f"{path}: imported {summary}")
    node.engine.dispose()


def verify_local(data_dir: Path | None, database_url: str | None) -> None:
    """Re-hash the whole audit chain straight from storage (the node may be stopped)."""
    engine, uow = _storage(settings_for(data_dir, database_url))
    records: list[AuditRecord] = []
    with uow() as u:
        page = u.audit.list(after_seq=-1, limit=5000)
        while page:
            records.extend(page)
            page = u.audit.list(after_seq=page[-1].seq, limit=5000)
    engine.dispose()
    result = verify_chain(records)
    if not result.ok:
        fail(f"audit chain broken: {result.problem}")
    console.print(f"[green]verified[/] {result.checked} audit records: chain intact")


db = typer.Typer(help="This node's embedded database.", no_args_is_help=True)


@db.command("encrypt")
def db_encrypt(data_dir: DataDir = None) -> None:
    """Encrypt an unencrypted SQLite database from an earlier version in place (SQLCipher's
    sqlcipher_export), with the key in the keys directory (made now if missing) or
    LIAISON_DB_PASSPHRASE. Stop the node first."""
    from liaison.node.composition import at_rest
    from liaison.storage.engine import DatabaseKeyError, encrypt_file

    os.umask(0o077)
    settings = settings_for(data_dir)
    if settings.database_url:
        fail("LIAISON_DATABASE_URL is set: a PostgreSQL database is protected by the "
             "server's disk encryption and TLS (see SECURITY.md), not by this command", 2)
    if settings.db_plaintext:
        fail("LIAISON_DB_PLAINTEXT is set: unset it, then encrypt", 2)
    path = settings.data_dir / "liaison.db"
    if not path.exists():
        fail(f"no database at {path}", 2)
    try:
        encrypt_file(path, at_rest(settings))
    except DatabaseKeyError as exc:
        fail(str(exc), 2)
    how = "LIAISON_DB_PASSPHRASE" if settings.db_passphrase else \
        f"the key in {at_rest(settings).key_file}"
    console.print(f"encrypted {path} with {how}; the unencrypted file was removed (its "
                  f"blocks may remain on the disk: wipe or encrypt the disk too)")
