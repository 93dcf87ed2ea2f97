"""Engines: SQLite (WAL, synchronous=FULL, BEGIN IMMEDIATE) or PostgreSQL (psycopg 3).

The SQLite file is encrypted at rest with SQLCipher 4 (AES-256 pages with an HMAC each; the
WAL and the FTS5 index are pages of the same database, so they are encrypted too). Every
connection is opened by ``_connector``: ``PRAGMA key`` first, then a read that proves the key
before anything else runs. The key is 32 random bytes in the node's keys directory
(``db.key``, owner-only, made with a new database) used as a raw key, or an operator's
passphrase stretched by SQLCipher's own KDF (PBKDF2-HMAC-SHA512, 256,000 iterations, with a
random salt kept in the file). A plaintext file is opened only when the operator chose it
(``AtRest.plaintext``); a missing or wrong key, or a missing SQLCipher, fails closed with
``DatabaseKeyError``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, event

SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                  "busy_timeout=10000")
KEY_FILE = "db.key"
KEY_BYTES = 32
SIDE_FILES = ("", "-wal", "-shm", "-journal")
PLAINTEXT_HEADER = b"SQLite format 3\x00"


class DatabaseKeyError(RuntimeError):
    """The database cannot be opened as configured; the message says what to do."""


@dataclass(frozen=True)
class AtRest:
    """How the SQLite file is protected at rest. ``key_file`` defaults to ``keys/db.key``
    beside the database; a ``passphrase`` replaces the key file."""

    key_file: Path | None = None
    passphrase: str = ""
    plaintext: bool = False  # the operator's explicit choice; never a fallback


def sqlite_url_for(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'liaison.db'}"


def make_engine(url: str, at_rest: AtRest | None = None) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, at_rest or AtRest())
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def connect_file(path: Path, at_rest: AtRest | None = None) -> Any:
    """A DB-API connection to a node's SQLite file, key applied (for tools and tests that
    read the file directly)."""
    _, connect = _connector(path, at_rest or AtRest())
    return connect()


def _sqlite_engine(url: str, at_rest: AtRest) -> Engine:
    path = sa.engine.make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})  # nothing at rest
    else:
        module, connect = _connector(Path(path), at_rest)
        engine = sa.create_engine(url, module=module, creator=connect)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions; then BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers serialise at BEGIN, so the audit chain head cannot fork.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def sqlcipher() -> ModuleType:
    try:
        from sqlcipher3 import dbapi2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise DatabaseKeyError(
            "SQLCipher is not available to this Python (the sqlcipher3-binary wheel is "
            "missing or has no build for this platform), so the database cannot be "
            "encrypted: install sqlcipher3-binary (or sqlcipher3 built against SQLCipher), "
            "or set LIAISON_DB_PLAINTEXT=true to keep it unencrypted on an encrypted disk"
        ) from exc
    module: ModuleType = dbapi2
    return module


def key_pragma(key: bytes | str) -> str:
    """``PRAGMA key`` for a raw 32-byte key or a passphrase (SQLCipher's KDF)."""
    if isinstance(key, bytes):
        return f"PRAGMA key = \"x'{key.hex()}'\""
    return "PRAGMA key = '" + key.replace("'", "''") + "'"


def _connector(path: Path, at_rest: AtRest) -> tuple[ModuleType, Callable[[], Any]]:
    """The DB-API module and a function opening ``path`` with its key applied first."""
    if at_rest.plaintext:
        import sqlite3

        _own_only(path)
        return sqlite3, lambda: sqlite3.connect(path, timeout=30, check_same_thread=False)
    module = sqlcipher()
    key = at_rest.passphrase or _key_from_file(path, at_rest.key_file or
                                               path.parent / "keys" / KEY_FILE)
    _own_only(path)

    def connect() -> Any:
        conn = module.connect(str(path), timeout=30, check_same_thread=False)
        try:
            conn.execute("PRAGMA cipher_log_level = NONE")  # a wrong key is our error
            conn.execute(key_pragma(key))
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except module.DatabaseError as exc:
            conn.close()
            raise DatabaseKeyError(_why_not_open(path, at_rest, exc)) from None
        return conn

    return module, connect


def _why_not_open(path: Path, at_rest: AtRest, exc: Exception) -> str:
    with open(path, "rb") as f:
        plain = f.read(len(PLAINTEXT_HEADER)) == PLAINTEXT_HEADER
    if plain:
        return (f"{path} is an unencrypted database: run `liaison db encrypt` to encrypt it "
                f"(or set LIAISON_DB_PLAINTEXT=true to keep it unencrypted)")
    which = "the passphrase (LIAISON_DB_PASSPHRASE)" if at_rest.passphrase else \
        "the key file"
    return (f"cannot open {path} with {which}: the key is wrong or the file is damaged "
            f"({exc}); nothing was read. Restore the right key from its backup.")


def _key_from_file(db: Path, key_file: Path) -> bytes:
    """The raw key; a new one (owner-only) only for a database not yet written."""
    if key_file.exists():
        return _read_key(key_file)
    if db.exists() and db.stat().st_size > 0:
        raise DatabaseKeyError(
            f"{db} exists but its key file {key_file} is missing: restore the key from its "
            f"backup (or set LIAISON_DB_PASSPHRASE if it was made with a passphrase); an "
            f"unencrypted database from an earlier version is encrypted by "
            f"`liaison db encrypt`")
    return new_key_file(key_file)


def _read_key(key_file: Path) -> bytes:
    key = key_file.read_bytes()
    if len(key) != KEY_BYTES:
        raise DatabaseKeyError(f"{key_file} holds {len(key)} bytes, not a {KEY_BYTES}-byte "
                               f"database key: restore it from its backup")
    return key


def new_key_file(key_file: Path) -> bytes:
    """32 random bytes in ``key_file`` (0600, its directory 0700); the first writer wins."""
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = key_file.with_name(f"{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(KEY_BYTES))
        os.fsync(out.fileno())
    try:
        os.link(scratch, key_file)
    except FileExistsError:
        pass
    finally:
        scratch.unlink()
    return key_file.read_bytes()


def _own_only(db: Path) -> None:
    """The database and its journals owner-only (SQLite gives a new -wal, -shm or -journal
    the database file's mode), whatever the umask or an earlier version left."""
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in SIDE_FILES:
        side = db.with_name(db.name + suffix)
        if side.exists() and side.stat().st_mode & 0o077:
            os.chmod(side, 0o600)


def encrypt_file(db: Path, at_rest: AtRest) -> None:
    """Encrypt an unencrypted node database in place with SQLCipher's ``sqlcipher_export``
    (the node stopped): a new encrypted copy is written beside it, proved readable with the
    key, then put in the old file's place; the plaintext file is removed."""
    with open(db, "rb") as f:
        if f.read(len(PLAINTEXT_HEADER)) != PLAINTEXT_HEADER:
            raise DatabaseKeyError(f"{db} is not an unencrypted SQLite database (already "
                                   f"encrypted?): nothing done")
    module = sqlcipher()
    key_file = at_rest.key_file or db.parent / "keys" / KEY_FILE
    key = at_rest.passphrase or (_read_key(key_file) if key_file.exists()
                                 else new_key_file(key_file))
    target = db.with_name(db.name + ".encrypting")
    for side in SIDE_FILES:
        target.with_name(target.name + side).unlink(missing_ok=True)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    plain = module.connect(str(db), isolation_level=None)
    try:
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        quoted = str(target).replace("'", "''")
        plain.execute(f"ATTACH DATABASE '{quoted}' AS encrypted KEY "
                      + key_pragma(key).removeprefix("PRAGMA key = "))
        plain.execute("SELECT sqlcipher_export('encrypted')")
        version = plain.execute("PRAGMA user_version").fetchone()[0]
        plain.execute(f"PRAGMA encrypted.user_version = {int(version)}")
        plain.execute("DETACH DATABASE encrypted")
        tables = plain.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    finally:
        plain.close()
    _, connect = _connector(target, AtRest(key_file=at_rest.key_file,
                                           passphrase=at_rest.passphrase))
    check = connect()
    try:
        if check.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] != tables:
            raise DatabaseKeyError(f"the encrypted copy {target} differs from {db}: "
                                   f"nothing replaced")
    finally:
        check.close()
    for side in SIDE_FILES[1:]:
        db.with_name(db.name + side).unlink(missing_ok=True)
    os.replace(target, db)
