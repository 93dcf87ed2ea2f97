"""Users and their bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from liaison.domain.users import User


class UserRepo(Protocol):
    def get(self, username: str) -> User | None: ...
    def list(self) -> list[User]: ...
    def add(self, user: User, password_hash: str | None) -> None:
        """Raises ``Conflict`` when the username exists."""
    def update(self, user: User) -> None: ...
    def password_hash(self, username: str) -> str | None: ...
    def set_password_hash(self, username: str, password_hash: str) -> None: ...


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_hash: str  # SHA-256 hex of the bearer token; the token itself is never stored
    username: str
    kind: str  # "session" | "api"
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool = False


class TokenRepo(Protocol):
    def add(self, token: TokenRecord) -> None: ...
    def get(self, token_hash: str) -> TokenRecord | None: ...
    def revoke(self, token_hash: str) -> None: ...
    def list(self, username: str) -> list[TokenRecord]: ...
