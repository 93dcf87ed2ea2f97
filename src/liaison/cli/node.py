"""Commands that work on a node's own storage and run it: ``init``, ``serve``, ``import``,
and the offline audit verification (``liaison audit verify --data-dir``). ``settings_for``
reads the node's settings for the commands that open its storage or keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from liaison.cli.options import DatabaseUrl, DataDir
from liaison.cli.output import console, fail
from liaison.config import Settings
from liaison.domain.audit import AuditRecord, verify_chain
from liaison.domain.decoding import CodecError
from liaison.federation.keystore import Keystore
from liaison.interop.documents import DocumentError, load_document
from liaison.services.context import utc_now
from liaison.services.errors import ServiceError


def settings_for(data_dir: Path | None, database_url: str | None = None,
                 **more: object) -> Settings:
    try:
        return Settings.from_env(None, data_dir=data_dir, database_url=database_url, **more)
    except ValueError as exc:
        fail(str(exc), 2)
        raise


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
    from liaison.tracks.cot_server import CotTlsError

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
    except CotTlsError as exc:
        fail(str(exc), 2)
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
