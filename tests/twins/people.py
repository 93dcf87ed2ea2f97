"""Twins of the ``people`` ports: users and tokens."""

from __future__ import annotations

from dataclasses import replace

from liaison.domain.users import User
from liaison.services.ports.people import TokenRecord
from tests.twins.state import MemoryState, insert_new


class MemoryUsers:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, username: str) -> User | None:
        entry = self.s.users.get(username)
        return entry[0] if entry else None

    def list(self) -> list[User]:
        return [self.s.users[k][0] for k in sorted(self.s.users)]

    def add(self, user: User, password_hash: str | None) -> None:
        insert_new(self.s.users, user.username, (user, password_hash), f"user {user.username}")

    def update(self, user: User) -> None:
        entry = self.s.users.get(user.username)
        if entry:
            self.s.users[user.username] = (user, entry[1])

    def password_hash(self, username: str) -> str | None:
        entry = self.s.users.get(username)
        return entry[1] if entry else None

    def set_password_hash(self, username: str, password_hash: str) -> None:
        entry = self.s.users.get(username)
        if entry:
            self.s.users[username] = (entry[0], password_hash)


class MemoryTokens:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def add(self, token: TokenRecord) -> None:
        insert_new(self.s.tokens, token.token_hash, token, "token")

    def get(self, token_hash: str) -> TokenRecord | None:
        return self.s.tokens.get(token_hash)

    def revoke(self, token_hash: str) -> None:
        token = self.s.tokens.get(token_hash)
        if token:
            self.s.tokens[token_hash] = replace(token, revoked=True)

    def list(self, username: str) -> list[TokenRecord]:
        return sorted((t for t in self.s.tokens.values() if t.username == username),
                      key=lambda t: (t.created_at, t.token_hash))
