"""Initialising a node: its party and its first administrator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from liaison.crypto.passwords import hash_password, password_problem
from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.services.agreements import load_parties
from liaison.services.errors import Invalid, Refused
from liaison.services.ports import UnitOfWork

PARTY_SETTING = "node.party"


def initialise_node(uow: Callable[[], UnitOfWork], party: str, admin: str, password: str,
                    clock: Callable[[], datetime]) -> bool:
    """Set the node's party and create its first admin (highest clearance of the party's
    scheme). ``False`` when already initialised for the same party; ``Refused`` when
    initialised for another."""
    problem = password_problem(password)
    if problem:
        raise Invalid(problem)
    with uow() as u:
        parties = load_parties(u)
        if party not in parties:
            raise Invalid(f"unknown party {party!r}: known parties are "
                          f"{', '.join(sorted(parties))}")
        existing = u.settings.get(PARTY_SETTING)
        if existing == party:
            return False
        if existing:
            raise Refused(f"this node is already initialised for {existing}")
        top = parties[party].scheme.levels[0].rank
        u.settings.put(PARTY_SETTING, party)
        u.users.add(User(admin, "administrator", frozenset({Role.ADMIN}), Clearance(top)),
                    hash_password(password))
        u.audit.append(at=clock(), actor=admin, action="node.initialised",
                       subject=f"party:{party}", details={"admin": admin})
        u.commit()
    return True
