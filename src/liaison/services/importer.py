"""Import of reference data and items: all or nothing, in one unit of work."""

from __future__ import annotations

from collections import Counter
from typing import Any

from liaison.crypto.passwords import hash_password, password_problem
from liaison.domain.codec import agreement_from, item_from, party_from
from liaison.domain.decoding import CodecError
from liaison.domain.labels import LabelError
from liaison.services import auth
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.context import Deps
from liaison.services.errors import Invalid
from liaison.services.ports import Conflict, StoredItem, UnitOfWork

SECTIONS = ("parties", "agreements", "users", "items")


class ImportError_(CodecError):
    pass


def import_document(deps: Deps, actor: str, data: dict[str, Any],
                    replace: bool = False) -> Counter[str]:
    """Store everything in ``data`` or nothing. Raises ``CodecError`` whose ``path`` names
    the offending field (``agreements[0].table[1].levels.JPN``)."""
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise CodecError(unknown[0], f"unknown section; expected {', '.join(SECTIONS)}")
    counts: Counter[str] = Counter()
    with deps.uow() as uow:
        for section in SECTIONS:
            for i, entry in enumerate(_section(data, section)):
                _IMPORTERS[section](uow, deps, actor, entry, f"{section}[{i}]", replace)
                counts[section] += 1
        uow.commit()
    return counts


def _section(data: dict[str, Any], name: str) -> list[Any]:
    entries = data.get(name) or []
    if not isinstance(entries, list):
        raise CodecError(name, "expected a list")
    return entries


def _party(uow: UnitOfWork, deps: Deps, actor: str, entry: Any, path: str,
           replace: bool) -> None:
    party = party_from(entry, path)
    if uow.parties.get(party.code) and not replace:
        raise CodecError(path, f"party {party.code} exists (use --replace to overwrite)")
    uow.parties.put(party)
    record(uow, deps, actor, "party.imported", f"party:{party.code}", {})


def _agreement(uow: UnitOfWork, deps: Deps, actor: str, entry: Any, path: str,
               replace: bool) -> None:
    agreement = agreement_from(entry, load_parties(uow), path)
    exists = uow.agreements.get(agreement.id) is not None
    if exists and not replace:
        raise CodecError(f"{path}.id", f"agreement {agreement.id} exists (use --replace)")
    uow.agreements.put(agreement)
    record(uow, deps, actor, "agreement.changed" if exists else "agreement.added",
           f"agreement:{agreement.id}", {"source": "import", "events": len(agreement.events)})


def _user(uow: UnitOfWork, deps: Deps, actor: str, entry: Any, path: str,
          replace: bool) -> None:
    party = load_parties(uow)[deps.party]
    levels = {lv.name: lv.rank for lv in party.scheme.levels}
    try:
        user = auth.user_from(entry if isinstance(entry, dict) else {}, levels)
    except Invalid as exc:
        raise CodecError(path, exc.message) from exc
    password = entry.get("password")
    if password is not None and password_problem(password):
        raise CodecError(f"{path}.password", password_problem(password) or "")
    try:
        uow.users.add(user, hash_password(password) if password else None)
    except Conflict as exc:
        raise CodecError(f"{path}.username", f"user {user.username} exists") from exc
    record(uow, deps, actor, "user.created", f"user:{user.username}",
           {"roles": sorted(user.roles), "source": "import"})


def _item(uow: UnitOfWork, deps: Deps, actor: str, entry: Any, path: str,
          replace: bool) -> None:
    parties = load_parties(uow)
    item = item_from(entry, parties, deps.party, path)
    scheme = parties[deps.party].scheme
    try:
        rank = min(scheme.level(p.label.classification).rank for p in item.portions)
        uow.items.add(StoredItem(item, actor, deps.clock()), rank)
    except (Conflict, LabelError) as exc:
        raise CodecError(f"{path}.id", str(exc)) from exc
    record(uow, deps, actor, "item.created", f"item:{item.id}", {"source": "import"})


_IMPORTERS = {"parties": _party, "agreements": _agreement, "users": _user, "items": _item}
