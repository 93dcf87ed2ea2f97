"""People who use a node: roles, clearance and need-to-know. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from liaison.domain.labels import Clearance

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,62}$")


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    RELEASE_OFFICER = "release_officer"
    REVIEWER = "reviewer"
    WATCH_OFFICER = "watch_officer"
    SENSOR = "sensor"  # a sensor service account: may feed tracks, sees nothing else
    DELEGATE = "delegate"  # takes part in talks: proposals, the call, the minutes
    PARTNER = "partner"  # a partner's tool (TAXII client): reads what was released to it


@dataclass(frozen=True, slots=True)
class User:
    username: str
    display_name: str
    roles: frozenset[Role]
    clearance: Clearance
    disabled: bool = False
    party: str | None = None  # the partner a ``partner`` account acts for

    def has(self, *roles: Role) -> bool:
        """True when the user holds any of ``roles`` and is not disabled."""
        return not self.disabled and not self.roles.isdisjoint(roles)


class UserError(ValueError):
    """A user definition that breaks a rule."""


def validate_user(user: User) -> None:
    if not USERNAME.match(user.username):
        raise UserError(f"username {user.username!r}: 2–63 characters, lower-case letters, "
                        f"digits, '.', '_' or '-', starting with a letter")
    if not user.roles:
        raise UserError(f"user {user.username} needs at least one role")
    if (Role.PARTNER in user.roles) != (user.party is not None):
        raise UserError(f"user {user.username}: a partner account names its party "
                        f"(--party), and only a partner account does")
    if Role.PARTNER in user.roles and len(user.roles) > 1:
        raise UserError(f"user {user.username}: the partner role is held alone")
    if user.party is not None and not re.match(r"^[A-Z]{3}$", user.party):
        raise UserError(f"user {user.username}: party {user.party!r} is not an alpha-3 code")
    if user.clearance.level_rank < 0:
        raise UserError(f"user {user.username}: clearance rank must be >= 0")
