"""Attachments: files (imagery, documents) carried by portions.

Bytes go to the node's encrypted, content-addressed blob store as they arrive (never held
whole); items refer to them by SHA-256. A release carries each attachment it may carry
inside the signed, encrypted envelope. Where the agreement caps the imagery resolution the
partner may receive, the release carries a reduced copy — a derived portion with its own
id and label — never the original.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from liaison.domain.agreements import Agreement
from liaison.domain.imagery import image_info, reduce_to_resolution
from liaison.domain.items import MEDIA_TYPES, Attachment, Item, Portion, PortionKind
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, Refused
from liaison.services.ports import BlobPort, BlobRecord, UnitOfWork

MAX_SENT = 8 * 1024 * 1024  # per attachment in a release (inside a 16 MiB envelope)
MAX_IMAGE = 64 * 1024 * 1024  # images are decoded whole to check and reduce them
UPLOADERS = (Role.ANALYST, Role.RELEASE_OFFICER)


def store(deps: Deps) -> BlobPort:
    if deps.blobs is None:
        raise Invalid("this node has no attachment store")
    return deps.blobs


def upload(deps: Deps, user: User, chunks: Iterable[bytes], media_type: str) -> BlobRecord:
    """Store a file as it streams in; its record (address, SHA-256, size)."""
    require(user, *UPLOADERS)
    if media_type not in MEDIA_TYPES:
        raise Invalid(f"media type {media_type!r} is not one of {', '.join(sorted(MEDIA_TYPES))}")
    try:
        stored = store(deps).put_stream(chunks, deps.max_attachment)
    except ValueError as exc:  # too large: nothing is kept
        raise Invalid(str(exc)) from exc
    rec = BlobRecord(stored.address, stored.sha256, stored.size, media_type, user.username,
                     deps.clock())
    with deps.uow() as uow:
        uow.blobs.add(rec)
        record(uow, deps, user.username, "attachment.stored", f"sha256:{rec.sha256}",
               {"size": rec.size, "media_type": media_type})
        uow.commit()
    return rec


def resolve(uow: UnitOfWork, deps: Deps, item: Item) -> Item:
    """Fill each attachment from the store's record of its SHA-256; an image's pixels must
    match its metadata. ``Invalid`` when a file was never uploaded here."""
    portions = []
    for p in item.portions:
        a = p.attachment
        if a is not None:
            rec = uow.blobs.by_sha256(a.sha256)
            if rec is None:
                raise Invalid(f"portion {p.id}: no uploaded file with SHA-256 {a.sha256}; "
                              f"upload it first (POST /api/attachments)")
            a = replace(a, address=rec.address, size=rec.size, media_type=rec.media_type)
            if a.image is not None:
                _check_image(deps, p.id, a)
            p = replace(p, attachment=a)
        portions.append(p)
    return replace(item, portions=tuple(portions))


def _check_image(deps: Deps, portion: str, a: Attachment) -> None:
    assert a.image is not None
    if a.size > MAX_IMAGE:
        raise Invalid(f"portion {portion}: images above {MAX_IMAGE // 2**20} MiB are not taken")
    try:
        _, width, height = image_info(store(deps).read_all(a.address, MAX_IMAGE))
    except ValueError as exc:
        raise Invalid(f"portion {portion}: {exc}") from exc
    if (width, height) != (a.image.width, a.image.height):
        raise Invalid(f"portion {portion}: the image is {width}×{height} pixels, its "
                      f"metadata says {a.image.width}×{a.image.height}")


# --- releases ------------------------------------------------------------------------


def for_partner(deps: Deps, item: Item, agreement: Agreement) -> tuple[Item, dict[str, bytes]]:
    """The tearline as it goes to a partner: finer imagery replaced by a reduced copy
    under the agreement's cap; with the bytes to carry, by SHA-256. ``Refused`` (and so no
    release) when a file cannot be read or is too large to send."""
    limit = agreement.scope.imagery_min_gsd_m
    portions: list[Portion] = []
    files: dict[str, bytes] = {}
    for p in item.portions:
        a = p.attachment
        if a is None:
            portions.append(p)
            continue
        if a.size > MAX_SENT:
            raise Refused(f"portion {p.id}: attachments above {MAX_SENT // 2**20} MiB are not "
                          f"sent to partners")
        try:
            data = store(deps).read_all(a.address, MAX_SENT)
        except (ValueError, KeyError) as exc:
            raise Refused(f"portion {p.id}: its file cannot be read ({exc}); nothing is "
                          f"released") from exc
        if p.kind is PortionKind.IMAGE and a.image and limit and a.image.resolution_m < limit:
            try:
                data, meta = reduce_to_resolution(data, a.image, limit)
            except ValueError as exc:
                raise Refused(f"portion {p.id}: no reduced copy at {limit} m can be made "
                              f"({exc}); nothing is released") from exc
            digest = hashlib.sha256(data).hexdigest()
            a = Attachment(digest, len(data), "image/png", "", meta, derived_from=p.id)
            p = replace(p, id=f"{p.id}-r", attachment=a,
                        content=f"{p.content} [reduced to {limit:g} m]".strip())
        files[a.sha256] = data
        portions.append(p)
    return replace(item, portions=tuple(portions)), files


def inline(item_data: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
    """Put each file's bytes in the item's wire form; node-local addresses are dropped."""
    for p in item_data["portions"]:
        a = p.get("attachment")
        if a:
            a["address"] = ""
            a["data"] = base64.b64encode(files[a["sha256"]]).decode("ascii")
    return item_data


def take_inline(deps: Deps, uow: UnitOfWork, item_data: Any, sender: str) -> None:
    """Store the files a partner sent (checked against their SHA-256) and replace the
    bytes by this node's addresses; ``ValueError`` when one does not match."""
    for i, p in enumerate(item_data.get("portions") or []):
        a = p.get("attachment") if isinstance(p, dict) else None
        if not a:
            continue
        data = base64.b64decode(str(a.pop("data", "")), validate=True)
        if hashlib.sha256(data).hexdigest() != a.get("sha256") or len(data) != a.get("size"):
            raise ValueError(f"portions[{i}].attachment: bytes do not match their SHA-256 "
                             f"and size")
        stored = store(deps).put_stream([data], MAX_SENT)
        uow.blobs.add(BlobRecord(stored.address, stored.sha256, stored.size,
                                 str(a.get("media_type")), f"peer:{sender}", deps.clock()))
        a["address"] = stored.address
