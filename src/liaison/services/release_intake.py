"""What a release from a partner must be before anything of it is stored (issue 17, points 2,
3 and 5): well-formed in every field, and allowed by this node's own release engine under
the agreement the sender names, as this node records that agreement.

The engine is asked as if the originator were releasing the item to this node today
(``decide`` with the originator as owner and only the named agreement): kind (an MOU carries
no classified exchange), status, scope (topic and discipline), ceiling, equivalence,
dissemination controls, the hub's route and the third-party rule (a portion another party
originated passes only with that party's written consent naming this node, which the
sender carries with the release — docs/rules.md#consent).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from liaison.domain.agreements import Agreement
from liaison.domain.decoding import CodecError, field_of, parse_date
from liaison.domain.items import REPORTED_FROM, REPORTED_UNTIL, Item
from liaison.domain.labels import Party
from liaison.domain.release import decide
from liaison.domain.release_decision import Outcome, Verdict
from liaison.domain.release_facts import Consent, ReleaseFacts
from liaison.services.attachments import MAX_SENT
from liaison.services.context import Deps

MAX_TEXT = 1000  # title, purpose, consent fields
MAX_CONTENT = 1024 * 1024  # one portion's text
MAX_PORTIONS = 1000
MAX_CONSENTS = 100
# Ids end up in paths (/api/items/<id>) and in received ids (<id>@<party>).
IDENTIFIER = re.compile(r"^[^\s/\\?#%\x00-\x1f\x7f]{1,200}$")


def shape_problem(body: Any) -> str | None:
    """Why the message's fields cannot be taken (types, sizes, encodings); ``None`` if
    they can. Checked before the item is decoded."""
    if not isinstance(body, dict):
        return "malformed release: expected an object"
    bad = _bad_text(body, "release")
    if bad:
        return f"malformed release: {bad}"
    for name in ("recipient", "agreement", "origin", "request_id", "purpose", "relayed_by"):
        value = body.get(name)
        if value is not None and not (isinstance(value, str) and len(value) <= MAX_TEXT):
            return f"malformed release: {name}: expected a string of at most {MAX_TEXT}"
    item = body.get("item")
    if not isinstance(item, dict) or not isinstance(item.get("portions"), list):
        return "malformed release: item: expected an object with portions"
    return _item_problem(item)


def _bad_text(value: Any, path: str) -> str | None:
    """A string anywhere in ``value`` that no store or page can hold: NUL, lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path}: contains NUL"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path}: not encodable as UTF-8"
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, v in items:
        bad = _bad_text(key, path) if isinstance(key, str) else None
        bad = bad or _bad_text(v, f"{path}.{key}")
        if bad:
            return bad
    return None


unstorable_text = _bad_text  # for other services' untrusted bodies (e.g. amendments)


def _item_problem(item: dict[str, Any]) -> str | None:
    portions = item["portions"]
    if len(portions) > MAX_PORTIONS:
        return f"malformed release: item: more than {MAX_PORTIONS} portions"
    ids = [item.get("id"), *(p.get("id") for p in portions if isinstance(p, dict))]
    for i in ids:
        if i is not None and not (isinstance(i, str) and IDENTIFIER.match(i)):
            return (f"malformed release: item: id {str(i)[:40]!r} is not 1–200 characters "
                    f"without spaces, slashes, ?, # or %")
    texts = [(item.get("title"), MAX_TEXT), (item.get("topic"), 200),
             *((p.get("content"), MAX_CONTENT) for p in portions if isinstance(p, dict))]
    if any(isinstance(t, str) and len(t) > n for t, n in texts):
        return "malformed release: item: a title, topic or portion text is too long"
    return None


def files_problem(deps: Deps, item: Mapping[str, Any]) -> str | None:
    """Every file the release carries decodes and matches its SHA-256 and size, and this
    node can store files: checked before any file is stored (a refusal leaves none)."""
    for i, p in enumerate(item.get("portions") or []):
        a = p.get("attachment") if isinstance(p, dict) else None
        if not a:
            continue
        if deps.blobs is None:
            return "this node stores no attachments; a release with files is refused"
        try:
            data = base64.b64decode(str(a.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            return f"malformed release: portions[{i}].attachment.data is not base64"
        if hashlib.sha256(data).hexdigest() != a.get("sha256") or len(data) != a.get("size"):
            return f"portions[{i}].attachment: bytes do not match their SHA-256 and size"
        if len(data) > MAX_SENT:
            return f"portions[{i}].attachment: larger than {MAX_SENT} bytes"
    return None


def times_problem(item: Item) -> str | None:
    """Every time in the item inside the years the node's indexes and exports hold."""
    times: list[tuple[str, datetime | None]] = [
        ("reported_at", item.reported_at), ("observed_at", item.observed_at)]
    for p in item.portions:
        times += [(f"portion {p.id} label created", p.label.created),
                  (f"portion {p.id} label review", p.label.review)]
    for name, at in times:
        if at is not None and not REPORTED_FROM <= at < REPORTED_UNTIL:
            return f"malformed release: item {name} {at.isoformat()} is not between 1970 " \
                   f"and 2100"
    return None


def carried_consents(body: Mapping[str, Any], me: str, parties: Mapping[str, Party],
                     ) -> tuple[Consent, ...]:
    """The originators' written consents the sender relied on (docs/rules.md#consent), those naming
    this node; ``CodecError`` when malformed."""
    raw = body.get("consents") or []
    if not isinstance(raw, list) or len(raw) > MAX_CONSENTS:
        raise CodecError("consents", f"expected a list of at most {MAX_CONSENTS}")
    out = []
    for i, c in enumerate(raw):
        path = f"consents[{i}]"
        text = {k: field_of(c, k, path, str) for k in
                ("originator", "recipient", "item_id", "purpose", "granted_by")}
        if text["originator"] not in parties or any(len(t) > MAX_TEXT for t in text.values()):
            raise CodecError(path, "unknown originator or text too long")
        granted = parse_date(field_of(c, "granted_on", path, str), f"{path}.granted_on")
        if text["recipient"] == me:
            out.append(Consent(**text, granted_on=granted))
    return tuple(out)


def engine_problem(deps: Deps, item: Item, origin: str, agreement: Agreement,
                   parties: Mapping[str, Party], consents: tuple[Consent, ...],
                   recipient: str, purpose: str | None = None) -> str | None:
    """Why this node's own engine would not let ``origin`` release every portion of
    ``item`` to ``recipient`` (this node, or at a hub the final recipient) today under
    ``agreement`` for the release's stated ``purpose``; ``None`` when it would. The
    reciprocity limit is the giver's to keep."""
    facts = ReleaseFacts(parties[origin], parties, (agreement,), consents, {}, deps.rules)
    decision = decide(item, recipient, deps.clock().date(), facts, purpose)
    passed = set(decision.tearline)
    if decision.outcome is Outcome.ALLOWED and passed == {p.id for p in item.portions}:
        return None
    why = next((r for r in decision.reasons if r.verdict is not Verdict.PASS
                and (r.portion_id is None or r.portion_id not in passed)), None)
    where = f"portion {why.portion_id}: " if why and why.portion_id else ""
    text = why.text if why else decision.summary
    return f"{where}{text} (this node's own check of the release under {agreement.id}); " \
           f"refused"
