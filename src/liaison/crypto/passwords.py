"""Password hashing (Argon2id, memory-hard) and bearer tokens. Bytes and strings in and
out; no storage."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # Argon2id, RFC 9106 defaults
MIN_PASSWORD = 12


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises on a malformed hash (fails closed)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def dummy_hash() -> str:
    """A hash of a random secret with the same parameters as every stored hash: sign-in
    verifies against it when the user is unknown or has no password, so a sign-in takes
    the same time whether or not the user exists (computed once, on first use)."""
    return _HASHER.hash(secrets.token_urlsafe(32))


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"a password has at least {MIN_PASSWORD} characters"
    return None


def new_token() -> str:
    """A bearer token: 256 random bits, URL-safe."""
    return "lsn_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored: the SHA-256 of the token, so a database dump grants nothing."""
    return hashlib.sha256(token.encode()).hexdigest()
