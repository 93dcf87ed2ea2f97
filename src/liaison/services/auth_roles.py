"""Role checks shared by every use case."""

from __future__ import annotations

from liaison.domain.users import Role, User
from liaison.services.errors import Forbidden


def require(user: User, *roles: Role) -> None:
    """Raise ``Forbidden`` unless ``user`` holds one of ``roles`` (admin holds none
    implicitly: roles are separate duties)."""
    if not user.has(*roles):
        wanted = " or ".join(r.value for r in roles)
        raise Forbidden(f"this needs the role {wanted}; {user.username} has "
                        f"{', '.join(sorted(user.roles)) or 'none'}")
