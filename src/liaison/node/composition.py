"""The composition of a node: the one place that chooses the adapters (SQLite or
PostgreSQL, the in-process bus or NATS, the clock, ids) and builds ``Deps`` from the
settings. Builds, starts nothing (``node.serving`` starts the node)."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from liaison.config import Settings
from liaison.domain.agreement_lifecycle import LifecycleRules
from liaison.federation.keystore import Keystore
from liaison.realtime.bus import Bus, LocalBus
from liaison.services.context import Deps, new_id, utc_now
from liaison.services.leases import worker_id
from liaison.services.ports import UnitOfWork
from liaison.services.setup import PARTY_SETTING
from liaison.storage.blobs import BlobStore
from liaison.storage.engine import KEY_FILE, AtRest, make_engine
from liaison.storage.schema import migrate
from liaison.storage.unit_of_work import SqlUnitOfWork

__all__ = ["PARTY_SETTING", "Node", "NodeNotInitialised", "build_node", "open_storage"]


class NodeNotInitialised(RuntimeError):
    pass


@dataclass(frozen=True)
class Node:
    settings: Settings
    engine: Engine
    deps: Deps
    bus: Bus


def open_storage(settings: Settings) -> tuple[Engine, Callable[[], UnitOfWork]]:
    """Engine with the schema migrated to the latest revision. Everything the node writes
    from here on is owner-only, whatever the umask it was started with; the data directory
    too, even one that existed before (``DatabaseKeyError`` when the database cannot be
    opened with its key)."""
    os.umask(0o077)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.data_dir.stat().st_mode & 0o077:
        os.chmod(settings.data_dir, 0o700)
    engine = make_engine(settings.effective_database_url, at_rest(settings))
    migrate(engine)
    return engine, lambda: SqlUnitOfWork(engine)


def at_rest(settings: Settings) -> AtRest:
    """The SQLite file's protection: the key in the keys directory, or the passphrase."""
    return AtRest(key_file=keys_dir(settings) / KEY_FILE, passphrase=settings.db_passphrase,
                  plaintext=settings.db_plaintext)


def _ahead(clock: Callable[[], datetime], offset: timedelta) -> Callable[[], datetime]:
    return lambda: clock() + offset


def keys_dir(settings: Settings) -> Path:
    return settings.data_dir / "keys"


def load_keys(settings: Settings) -> Keystore | None:
    """The node's keys, or ``None`` for a node created without them (cannot federate)."""
    directory = keys_dir(settings)
    return Keystore.load(directory) if (directory / "keys.json").exists() else None


def blob_store(settings: Settings) -> BlobStore:
    """The attachment store under the data directory. Its key is made on first use and
    kept beside the node's other keys (owner-only); an HSM or KMS would hold it in a
    deployment that has one."""
    directory = keys_dir(settings)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_file = directory / "blob.key"
    if not key_file.exists():
        scratch = directory / f"blob.key.{os.getpid()}"
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
            os.fsync(out.fileno())
        try:
            os.link(scratch, key_file)  # the first worker's key wins; others use it
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    return BlobStore(settings.data_dir / "blobs", key_file.read_bytes())


def _relay(settings: Settings) -> dict[str, Any] | None:
    urls = [u.strip() for u in settings.talks_relay.split(",") if u.strip()]
    bad = [u for u in urls if not u.startswith(("turn:", "turns:", "stun:"))]
    if bad:
        raise ValueError(f"LIAISON_TALKS_RELAY: {', '.join(bad)} is not a turn:, turns: or "
                         f"stun: URL")
    return {"urls": urls, "username": settings.talks_relay_username,
            "credential": settings.talks_relay_credential} if urls else None


def make_bus(settings: Settings, party: str, keyring: Keystore | None) -> Bus:
    """In-process, or NATS JetStream when ``bus_url`` is set (connected when serving);
    its streams are this node's: named by its identity fingerprint."""
    if not settings.bus_url:
        return LocalBus()
    if not settings.bus_url.startswith(("nats://", "tls://")):
        raise ValueError(f"LIAISON_BUS_URL: {settings.bus_url!r} is not a nats:// or tls:// "
                         f"URL")
    from liaison.realtime.nats_bus import NatsBus

    node = keyring.fingerprint[:16] if keyring is not None else hashlib.sha256(
        settings.effective_database_url.encode()).hexdigest()[:16]
    return NatsBus(settings.bus_url, party, node, worker_id())


def build_node(settings: Settings, clock: Callable[[], datetime] = utc_now) -> Node:
    """A ready node; ``NodeNotInitialised`` when ``liaison init`` has not run."""
    engine, uow = open_storage(settings)
    with uow() as u:
        party = u.settings.get(PARTY_SETTING)
    if not party:
        engine.dispose()
        raise NodeNotInitialised(
            f"no node initialised at {settings.effective_database_url}: run `liaison init`")
    if settings.clock_offset_s:
        clock = _ahead(clock, timedelta(seconds=settings.clock_offset_s))
    keyring = load_keys(settings)
    bus = make_bus(settings, party, keyring)
    deps = Deps(uow=uow, party=party, clock=clock, ids=new_id, publish=bus.publish,
                rules=LifecycleRules(settings.notice_cutoff_inclusive),
                session_hours=settings.session_hours, keyring=keyring,
                api_token_days=settings.api_token_days,
                api_token_max_days=settings.api_token_max_days,
                address=settings.address, outbox_batch=settings.outbox_batch,
                outbox_failed_attempts=settings.outbox_failed_attempts,
                outbox_retry_s=settings.outbox_retry_s, outbox_stuck_s=settings.outbox_stuck_s,
                check_call_answer_s=settings.check_call_answer_s, blobs=blob_store(settings),
                max_attachment=settings.max_attachment_mb * 1024 * 1024,
                talks_relay=_relay(settings))
    return Node(settings, engine, deps, bus)
