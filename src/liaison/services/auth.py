"""Users, logins and tokens. Passwords are hashed with Argon2id; tokens are stored only as
their SHA-256. Every login (good or bad) is in the audit log."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from liaison.crypto.passwords import (
    hash_password,
    new_token,
    password_problem,
    token_hash,
    verify_password,
)
from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User, UserError, validate_user
from liaison.services.audit_trail import record as _audit
from liaison.services.context import Deps
from liaison.services.errors import Exists, Invalid, NotFound, Unauthorized
from liaison.services.ports import Conflict, TokenRecord

BAD_LOGIN = "unknown user or wrong password"


def user_from(data: dict[str, Any], party_levels: dict[str, int]) -> User:
    """A user from plain data: username, display_name, roles, clearance (a level name of
    the node's scheme), compartments, topics (need-to-know; absent = all)."""
    try:
        roles = frozenset(Role(r) for r in data.get("roles", []))
    except ValueError as exc:
        raise Invalid(f"roles: {exc}; allowed: {', '.join(r.value for r in Role)}") from exc
    level = data.get("clearance") or ""
    if level not in party_levels:
        raise Invalid(f"clearance: {level!r} is not a level of this node's scheme "
                      f"({', '.join(party_levels)})")
    topics = data.get("topics")
    user = User(str(data.get("username", "")), str(data.get("display_name") or ""),
                roles, Clearance(party_levels[level], frozenset(data.get("compartments") or []),
                                 frozenset(topics) if topics is not None else None),
                party=data.get("party") or None)
    try:
        validate_user(user)
    except UserError as exc:
        raise Invalid(str(exc)) from exc
    return user


def create_user(deps: Deps, actor: str, user: User, password: str | None) -> User:
    problem = password_problem(password) if password is not None else None
    if problem:
        raise Invalid(problem)
    with deps.uow() as uow:
        try:
            uow.users.add(user, hash_password(password) if password else None)
        except Conflict as exc:
            raise Exists(f"user {user.username} already exists") from exc
        _audit(uow, deps, actor, "user.created", f"user:{user.username}",
               {"roles": sorted(user.roles), "clearance_rank": user.clearance.level_rank})
        uow.commit()
    return user


def set_password(deps: Deps, actor: str, username: str, password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise Invalid(problem)
    with deps.uow() as uow:
        if uow.users.get(username) is None:
            raise NotFound(f"no user {username}")
        uow.users.set_password_hash(username, hash_password(password))
        _audit(uow, deps, actor, "user.password_set", f"user:{username}", {})
        uow.commit()


def disable_user(deps: Deps, actor: str, username: str) -> None:
    with deps.uow() as uow:
        user = uow.users.get(username)
        if user is None:
            raise NotFound(f"no user {username}")
        uow.users.update(replace(user, disabled=True))
        for t in uow.tokens.list(username):
            uow.tokens.revoke(t.token_hash)
        _audit(uow, deps, actor, "user.disabled", f"user:{username}", {})
        uow.commit()


def login(deps: Deps, username: str, password: str) -> tuple[str, TokenRecord, User]:
    """A session token for a good password; the same message for unknown user and wrong
    password, so a login never reveals which usernames exist."""
    with deps.uow() as uow:
        user, stored = uow.users.get(username), uow.users.password_hash(username)
        ok = bool(user and stored and not user.disabled and verify_password(stored, password))
        _audit(uow, deps, username, "login" if ok else "login.failed", f"user:{username}", {})
        uow.commit()
    if not ok or user is None:
        raise Unauthorized(BAD_LOGIN)
    token, record = issue_token(deps, username, "session", "login",
                                timedelta(hours=deps.session_hours))
    return token, record, user


def issue_token(deps: Deps, username: str, kind: str, name: str,
                ttl: timedelta | None) -> tuple[str, TokenRecord]:
    token, now = new_token(), deps.clock()
    record = TokenRecord(token_hash(token), username, kind, name, now,
                         now + ttl if ttl else None)
    with deps.uow() as uow:
        uow.tokens.add(record)
        _audit(uow, deps, username, "token.issued", f"user:{username}",
               {"kind": kind, "name": name})
        uow.commit()
    return token, record


def authenticate(deps: Deps, token: str) -> User:
    """The user behind a bearer token; ``Unauthorized`` when unknown, expired or revoked."""
    with deps.uow() as uow:
        record = uow.tokens.get(token_hash(token))
        user = uow.users.get(record.username) if record else None
    if record is None or user is None or record.revoked or user.disabled:
        raise Unauthorized("missing, unknown or revoked token: sign in again")
    if record.expires_at and record.expires_at <= deps.clock():
        raise Unauthorized("the session has expired: sign in again")
    return user


def logout(deps: Deps, token: str) -> None:
    with deps.uow() as uow:
        record = uow.tokens.get(token_hash(token))
        if record:
            uow.tokens.revoke(record.token_hash)
            _audit(uow, deps, record.username, "logout", f"user:{record.username}", {})
            uow.commit()



def list_users(deps: Deps) -> list[User]:
    with deps.uow() as uow:
        return sorted(uow.users.list(), key=lambda u: u.username)
