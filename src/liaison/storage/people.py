"""Repositories for users, tokens, the audit chain and node settings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from liaison.domain import audit as chain
from liaison.domain.audit import AuditRecord
from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.services.ports import TokenRecord
from liaison.storage import tables as t
from liaison.storage.repositories import insert

AUDIT_LOCK = 0x4C49_4149  # pg_advisory_xact_lock key serialising audit appends


def user_to(user: User) -> dict[str, Any]:
    c = user.clearance
    return {"display_name": user.display_name, "roles": sorted(user.roles),
            "clearance_rank": c.level_rank, "compartments": sorted(c.compartments),
            "topics": sorted(c.topics) if c.topics is not None else None,
            "disabled": user.disabled, "party": user.party}


def user_from(username: str, d: Mapping[str, Any]) -> User:
    topics = d["topics"]
    return User(username, d["display_name"], frozenset(Role(r) for r in d["roles"]),
                Clearance(d["clearance_rank"], frozenset(d["compartments"]),
                          frozenset(topics) if topics is not None else None), d["disabled"],
                d.get("party"))


class SqlUsers:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, username: str) -> User | None:
        row = self.conn.execute(sa.select(t.users.c.data)
                                .where(t.users.c.username == username)).first()
        return user_from(username, row.data) if row else None

    def list(self) -> list[User]:
        rows = self.conn.execute(sa.select(t.users).order_by(t.users.c.username))
        return [user_from(r.username, r.data) for r in rows]

    def add(self, user: User, password_hash: str | None) -> None:
        insert(self.conn, t.users, f"user {user.username}", username=user.username,
               data=user_to(user), password_hash=password_hash)

    def update(self, user: User) -> None:
        self.conn.execute(t.users.update().where(t.users.c.username == user.username)
                          .values(data=user_to(user)))

    def password_hash(self, username: str) -> str | None:
        row = self.conn.execute(sa.select(t.users.c.password_hash)
                                .where(t.users.c.username == username)).first()
        return row.password_hash if row else None

    def set_password_hash(self, username: str, password_hash: str) -> None:
        self.conn.execute(t.users.update().where(t.users.c.username == username)
                          .values(password_hash=password_hash))


class SqlTokens:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, token: TokenRecord) -> None:
        insert(self.conn, t.tokens, "token", token_hash=token.token_hash,
               username=token.username, kind=token.kind, name=token.name,
               created_at=token.created_at, expires_at=token.expires_at, revoked=token.revoked)

    def get(self, token_hash: str) -> TokenRecord | None:
        row = self.conn.execute(sa.select(t.tokens)
                                .where(t.tokens.c.token_hash == token_hash)).first()
        return self._decode(row) if row else None

    def revoke(self, token_hash: str) -> None:
        self.conn.execute(t.tokens.update().where(t.tokens.c.token_hash == token_hash)
                          .values(revoked=True))

    def list(self, username: str) -> list[TokenRecord]:
        rows = self.conn.execute(sa.select(t.tokens).where(t.tokens.c.username == username)
                                 .order_by(t.tokens.c.created_at, t.tokens.c.token_hash))
        return [self._decode(r) for r in rows]

    @staticmethod
    def _decode(r: Any) -> TokenRecord:
        return TokenRecord(r.token_hash, r.username, r.kind, r.name, r.created_at,
                           r.expires_at, r.revoked)


class SqlAudit:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._head: AuditRecord | None = None  # known only after the first append

    def append(self, *, at: datetime, actor: str, action: str, subject: str,
               details: Mapping[str, Any]) -> AuditRecord:
        head = self._head or self._locked_head()
        record = chain.append(head, at=at, actor=actor, action=action, subject=subject,
                              details=details)
        self.conn.execute(t.audit.insert(), {
            "seq": record.seq, "at": record.at, "actor": record.actor,
            "action": record.action, "subject": record.subject,
            "details": dict(record.details), "prev_hash": record.prev_hash,
            "hash": record.hash})
        self._head = record
        return record

    def _locked_head(self) -> AuditRecord | None:
        """The chain head, with appends by others excluded until this transaction ends
        (PostgreSQL: advisory lock; SQLite: BEGIN IMMEDIATE already holds the write lock)."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK)))
        head = self.conn.execute(sa.select(t.audit).order_by(t.audit.c.seq.desc())
                                 .limit(1)).first()
        return self._decode(head) if head else None

    def list(self, *, after_seq: int = -1, limit: int = 1000) -> list[AuditRecord]:
        rows = self.conn.execute(sa.select(t.audit).where(t.audit.c.seq > after_seq)
                                 .order_by(t.audit.c.seq).limit(limit))
        return [self._decode(r) for r in rows]

    def count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(t.audit))
                   .scalar_one())

    @staticmethod
    def _decode(r: Any) -> AuditRecord:
        return AuditRecord(r.seq, r.at, r.actor, r.action, r.subject, r.details, r.prev_hash,
                           r.hash)


class SqlSettings:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, key: str) -> str | None:
        row = self.conn.execute(sa.select(t.settings.c.value)
                                .where(t.settings.c.key == key)).first()
        return row.value if row else None

    def put(self, key: str, value: str) -> None:
        self.conn.execute(t.settings.delete().where(t.settings.c.key == key))
        self.conn.execute(t.settings.insert().values(key=key, value=value))
