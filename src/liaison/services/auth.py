"""Users, logins and tokens. Passwords are hashed with Argon2id; tokens are stored only as
their SHA-256 (256 random bits: a fast hash is enough, a dump grants nothing). Every login
(good or bad) is in the audit log.

Tokens: a session token (sign-in, ``session_hours``) and API tokens (for machines, acting
as their owner, ``api_token_days`` by default, at most ``api_token_max_days``). Signing out
revokes the session token used; API tokens are separate credentials and stay valid until
they expire or are revoked. A password change or reset, and disabling a user, revoke every
token of the user, sessions and API tokens alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from liaison.crypto.passwords import (
    dummy_hash,
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
from liaison.services.errors import Exists, Forbidden, Invalid, NotFound, Unauthorized
from liaison.services.ports import Conflict, TokenRecord, UnitOfWork

BAD_LOGIN = "unknown user or wrong password"
TOKEN_ID_CHARS = 16  # a token's public id: the first hex digits of its stored SHA-256


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
        revoked = _revoke_all(uow, username)
        _audit(uow, deps, actor, "user.password_set", f"user:{username}",
               {"tokens_revoked": revoked})
        uow.commit()


def change_password(deps: Deps, user: User, current: str, password: str) -> int:
    """The user's own password change: the current password first; every token of the
    user (this session included) is revoked. The number revoked."""
    problem = password_problem(password)
    if problem:
        raise Invalid(problem)
    with deps.uow() as uow:
        stored = uow.users.password_hash(user.username)
        if not verify_password(stored or dummy_hash(), current) or not stored:
            _audit(uow, deps, user.username, "user.password_change_failed",
                   f"user:{user.username}", {})
            uow.commit()
            raise Forbidden("the current password is wrong: nothing changed")
        uow.users.set_password_hash(user.username, hash_password(password))
        revoked = _revoke_all(uow, user.username)
        _audit(uow, deps, user.username, "user.password_changed", f"user:{user.username}",
               {"tokens_revoked": revoked})
        uow.commit()
    return revoked


def _revoke_all(uow: UnitOfWork, username: str) -> int:
    live = [t for t in uow.tokens.list(username) if not t.revoked]
    for t in live:
        uow.tokens.revoke(t.token_hash)
    return len(live)


def disable_user(deps: Deps, actor: str, username: str) -> None:
    with deps.uow() as uow:
        user = uow.users.get(username)
        if user is None:
            raise NotFound(f"no user {username}")
        uow.users.update(replace(user, disabled=True))
        revoked = _revoke_all(uow, username)
        _audit(uow, deps, actor, "user.disabled", f"user:{username}",
               {"tokens_revoked": revoked})
        uow.commit()


def login(deps: Deps, username: str, password: str) -> tuple[str, TokenRecord, User]:
    """A session token for a good password; the same message and the same work for an
    unknown user, a user without a password, a disabled user and a wrong password: the
    password is always verified once (against a dummy hash of the same parameters when
    there is no stored one), so neither the answer nor its time reveals which usernames
    exist."""
    with deps.uow() as uow:
        user, stored = uow.users.get(username), uow.users.password_hash(username)
        matched = verify_password(stored or dummy_hash(), password)
        ok = bool(user and stored and not user.disabled and matched)
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
        if record.kind == "api":
            raise Unauthorized(f"the API token {record.name!r} expired at "
                               f"{record.expires_at.isoformat()}: its owner signs in and "
                               f"makes a new one (POST /api/tokens)")
        raise Unauthorized("the session has expired: sign in again")
    return user


def issue_api_token(deps: Deps, user: User, name: str,
                    days: int | None) -> tuple[str, TokenRecord]:
    """An API token acting as ``user``: ``days`` (default ``api_token_days``) up to
    ``api_token_max_days``; never without an expiry."""
    days = deps.api_token_days if days is None else days
    if not 1 <= days <= deps.api_token_max_days:
        raise Invalid(f"days: an API token lasts 1 to {deps.api_token_max_days} days on this "
                      f"node (api_token_max_days); asked for {days}")
    return issue_token(deps, user.username, "api", name, timedelta(days=days))


def token_id(record: TokenRecord) -> str:
    """The token's public id (listing, revoking): not the token, not enough to use it."""
    return record.token_hash[:TOKEN_ID_CHARS]


def _may_manage(actor: User, username: str) -> None:
    if actor.username != username and not actor.has(Role.ADMIN):
        raise Forbidden(f"only {username} or an administrator manages {username}'s tokens")


def list_tokens(deps: Deps, actor: User, username: str) -> list[TokenRecord]:
    """``username``'s tokens still in force (not revoked, not expired), oldest first; for
    that user or an administrator."""
    _may_manage(actor, username)
    now = deps.clock()
    with deps.uow() as uow:
        if uow.users.get(username) is None:
            raise NotFound(f"no user {username}")
        return [t for t in uow.tokens.list(username)
                if not t.revoked and (t.expires_at is None or t.expires_at > now)]


def revoke_token(deps: Deps, actor: User, username: str, tid: str) -> TokenRecord:
    """Revoke ``username``'s token with public id ``tid``; for that user or an
    administrator. Revoking a revoked token again is refused as not found."""
    _may_manage(actor, username)
    with deps.uow() as uow:
        found = [t for t in uow.tokens.list(username)
                 if token_id(t) == tid.lower() and not t.revoked]
        if not found:
            raise NotFound(f"{username} has no token {tid} in force (see GET /api/tokens)")
        uow.tokens.revoke(found[0].token_hash)
        _audit(uow, deps, actor.username, "token.revoked", f"user:{username}",
               {"token": tid.lower(), "kind": found[0].kind, "name": found[0].name})
        uow.commit()
    return replace(found[0], revoked=True)


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
