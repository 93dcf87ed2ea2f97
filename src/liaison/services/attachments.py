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
from liaison.domain.imagery import image_format, image_info, reduce_to_resolution
from liaison.domain.items import (
    MEDIA_TYPES,
    Attachment,
    Item,
    Portion,
    PortionKind,
    validate_attachment,
)
from liaison.domain.labels import LabelError
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, Refused
from liaison.services.ports import BlobPort, BlobRecord, UnitOfWork

MAX_SENT = 8 * 1024 * 1024  # per attachment in a release (inside a 16 MiB envelope)
# All the files of one released item together: base64 makes them 4/3 larger in the
# message, which must fit one envelope (services.federation.MAX_MESSAGE_BYTES).
MAX_SENT_PER_ITEM = 8 * 1024 * 1024
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


def with_stored_types(uow: UnitOfWork, data: dict[str, Any], user: User) -> dict[str, Any]:
    """``data`` (an item as the API takes it) with each attached file's media type the one
    ``user`` uploaded it as, whatever the request said: the kind of a portion is checked
    against the stored type, not a client's guess. Files the user never uploaded are left
    for ``resolve`` to refuse."""
    portions = data.get("portions")
    if not isinstance(portions, list):
        return data
    filled = []
    for p in portions:
        a = p.get("attachment") if isinstance(p, dict) else None
        sha = a.get("sha256") if isinstance(a, dict) else None
        rec = uow.blobs.uploaded_by(sha, user.username) if isinstance(sha, str) else None
        if rec is not None and isinstance(a, dict):
            p = {**p, "attachment": {**a, "media_type": rec.media_type, "size": rec.size}}
        filled.append(p)
    return {**data, "portions": filled}


def resolve(uow: UnitOfWork, deps: Deps, item: Item, user: User) -> Item:
    """Fill each attachment from the record of a file ``user`` uploaded with its SHA-256;
    an image's pixels must match its metadata, and only an image portion may carry an
    image. ``Invalid`` when ``user`` never uploaded that file here — the same answer whether
    nobody did or someone else did, so a hash never tells whether a file is held, and
    nobody can carry another person's (or a partner's) file into an item of their own."""
    portions = []
    for p in item.portions:
        a = p.attachment
        if a is not None:
            rec = uow.blobs.uploaded_by(a.sha256, user.username)
            if rec is None:
                raise Invalid(f"portion {p.id}: upload the file first: no upload of yours has "
                              f"this hash (POST /api/attachments, then refer to the SHA-256 "
                              f"it returns)")
            a = replace(a, address=rec.address, size=rec.size, media_type=rec.media_type)
            p = replace(p, attachment=a)
            try:
                validate_attachment(p)
            except LabelError as exc:
                raise Invalid(f"portion {p.id}: {exc} (the file was uploaded as "
                              f"{rec.media_type})") from exc
            if a.image is not None:
                _check_image(deps, p.id, a)
            else:
                _not_an_image(deps, p, a)
        portions.append(p)
    return replace(item, portions=tuple(portions))


def _not_an_image(deps: Deps, p: Portion, a: Attachment) -> None:
    """A file whose bytes are an image goes only in an image portion, whatever media type
    it was uploaded as (an imagery cap applies to image portions)."""
    try:
        reader = store(deps).open(a.address)
        try:
            head = next(iter(reader), b"")  # the first chunk (64 KiB) holds any signature
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()
    except (ValueError, KeyError) as exc:
        raise Invalid(f"portion {p.id}: its file cannot be read ({exc})") from exc
    found = image_format(head)
    if found is not None:
        raise Invalid(f"portion {p.id}: the file is a {found} image; put it in a portion of "
                      f"kind 'image' with its image metadata (and upload it as image/*)")


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
    """The tearline as it goes to a partner, with the bytes to carry, by SHA-256. Under the
    agreement's imagery cap every image goes as a fresh metadata-free copy no finer than
    the cap (a derived portion ``<id>-r``), never the original; a file whose bytes are an
    image anywhere but in an image portion stops the release (fail closed: the cap could
    not be applied to it). ``Refused`` (and so no release) when a file cannot be read, is
    an image that cannot be reduced, or the files are too large to send."""
    limit = agreement.scope.imagery_min_gsd_m
    portions: list[Portion] = []
    files: dict[str, bytes] = {}
    for p in item.portions:
        a = p.attachment
        if a is None:
            portions.append(p)
            continue
        data = _read_for_release(deps, p, a)
        if limit:
            p, data = _under_cap(p, data, limit)
        files[p.attachment.sha256 if p.attachment else a.sha256] = data
        portions.append(p)
    total = sum(len(d) for d in files.values())
    if total > MAX_SENT_PER_ITEM:
        raise Refused(f"item {item.id}: its files come to {total / 2**20:.1f} MiB, over the "
                      f"{MAX_SENT_PER_ITEM // 2**20} MiB one release may carry; nothing is "
                      f"released: narrow the tearline to fewer files, or release them as "
                      f"separate items")
    return replace(item, portions=tuple(portions)), files


def _read_for_release(deps: Deps, p: Portion, a: Attachment) -> bytes:
    if a.size > MAX_SENT:
        raise Refused(f"portion {p.id}: attachments above {MAX_SENT // 2**20} MiB are not "
                      f"sent to partners")
    try:
        return store(deps).read_all(a.address, MAX_SENT)
    except (ValueError, KeyError) as exc:
        raise Refused(f"portion {p.id}: its file cannot be read ({exc}); nothing is "
                      f"released") from exc


def _under_cap(p: Portion, data: bytes, limit: float) -> tuple[Portion, bytes]:
    """The portion and bytes a partner under an imagery cap of ``limit`` metres gets."""
    a = p.attachment
    assert a is not None
    if p.kind is not PortionKind.IMAGE or a.image is None:
        found = image_format(data)
        if found is not None:
            raise Refused(f"portion {p.id}: its file is a {found} image in a "
                          f"{p.kind.value} portion, so the agreement's imagery cap "
                          f"({limit:g} m) cannot be applied to it; nothing is released: "
                          f"leave the portion out of the tearline, or attach the image as "
                          f"an image portion with its metadata")
        return p, data
    try:
        data, meta = reduce_to_resolution(data, a.image, limit)
    except ValueError as exc:
        raise Refused(f"portion {p.id}: no reduced copy at {limit:g} m can be made "
                      f"({exc}); nothing is released") from exc
    note = f"reduced to {limit:g} m" if a.image.resolution_m < limit else \
        "copy without metadata"
    digest = hashlib.sha256(data).hexdigest()
    copy = Attachment(digest, len(data), "image/png", "", meta, derived_from=p.id)
    return replace(p, id=f"{p.id}-r", attachment=copy,
                   content=f"{p.content} [{note}]".strip()), data


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
