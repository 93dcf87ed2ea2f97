"""The content check before release: the node's word list (set by an administrator) and
the marking scan over the portions a release would carry. A finding of severity "hold"
stops approval until the tearline leaves that portion out or the item is corrected."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from liaison.domain.content_check import CheckResult, check_item
from liaison.domain.content_wordlist import Wordlist, wordlist_from
from liaison.domain.items import Item
from liaison.domain.users import Role, User
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid
from liaison.services.ports import UnitOfWork

WORDLIST_SETTING = "content_check.wordlist"


def wordlist(uow: UnitOfWork) -> Wordlist:
    raw = uow.settings.get(WORDLIST_SETTING)
    return wordlist_from(json.loads(raw) if raw else {"terms": []})


def get_wordlist(deps: Deps, user: User) -> dict[str, Any]:
    require(user, Role.ADMIN, Role.RELEASE_OFFICER, Role.REVIEWER)
    with deps.uow() as uow:
        raw = uow.settings.get(WORDLIST_SETTING)
    data: dict[str, Any] = json.loads(raw) if raw else {"terms": []}
    return data


def set_wordlist(deps: Deps, user: User, data: dict[str, Any]) -> dict[str, Any]:
    """Replace the word list (admin); checked before it is kept."""
    require(user, Role.ADMIN)
    try:
        words = wordlist_from(data)
    except ValueError as exc:
        raise Invalid(f"word list: {exc}") from exc
    with deps.uow() as uow:
        uow.settings.put(WORDLIST_SETTING, json.dumps(data, ensure_ascii=False))
        record(uow, deps, user.username, "content_check.wordlist_set", "content_check",
               {"terms": len(words.terms)})
        uow.commit()
    return data


def check(uow: UnitOfWork, deps: Deps, item: Item, tearline: tuple[str, ...]) -> CheckResult:
    """Findings over the portions in ``tearline``."""
    parties = load_parties(uow)
    cut = replace(item, portions=tuple(p for p in item.portions if p.id in tearline))
    if not cut.portions:
        return CheckResult(())
    schemes = {code: p.scheme for code, p in parties.items()}
    return check_item(cut, parties[deps.party].scheme, wordlist(uow), schemes=schemes)


def result_view(result: CheckResult) -> dict[str, Any]:
    return {"hold": result.hold, "reasons": list(result.reasons()),
            "findings": [{"portion": f.portion, "kind": f.kind, "term": f.term,
                          "start": f.start, "end": f.end, "snippet": f.snippet,
                          "severity": f.severity, "reason": f.reason}
                         for f in result.findings]}
