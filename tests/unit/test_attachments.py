"""Attachments through the use cases (in-memory twins, a real encrypted blob store): images
go with their metadata; under an agreement's imagery cap a partner gets a reduced copy as a
derived portion, never the original; a partner's bytes must match their hash."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.samples import image_item, png

from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.services import attachments, releases
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound
from liaison.services.items import create_item, open_attachment
from liaison.services.memory import MemoryState, MemoryUnitOfWork
from liaison.storage.blobs import BlobStore

from factories import seed_agreements

NOW = datetime(2019, 11, 23, 9, tzinfo=UTC)
KIM = User("kim", "Kim", frozenset({Role.ANALYST}), Clearance(4))
LEE = User("lee", "Lee", frozenset({Role.RELEASE_OFFICER}), Clearance(4))
PARK = User("park", "Park", frozenset({Role.REVIEWER}), Clearance(4))
CHOI = User("choi", "Choi", frozenset({Role.REVIEWER}), Clearance(4))
LOW = User("jung", "Jung", frozenset({Role.ANALYST}), Clearance(1))


def make_deps(tmp_path: Path, cap: float | None) -> Deps:
    state = MemoryState()
    for a in seed_agreements():
        if a.id == "KOR-JPN-GSOMIA":
            a = replace(a, scope=replace(a.scope, imagery_min_gsd_m=cap))
        state.agreements[a.id] = a
    counter = iter(range(10**6))
    return Deps(uow=lambda: MemoryUnitOfWork(state), party="KOR", clock=lambda: NOW,
                ids=lambda: f"id{next(counter)}", blobs=BlobStore(tmp_path, b"k" * 32))


def release_to_jpn(deps: Deps) -> dict[str, Any]:
    req = releases.request_release(deps, LEE, "IMG1", "JPN", "warning", date(2019, 11, 23))
    releases.review(deps, PARK, req.id, True, None, "")
    assert releases.review(deps, CHOI, req.id, True, None, "").state.value == "released"
    with deps.uow() as uow:
        (message,) = uow.outbox.list(peer="JPN", limit=10)
    return dict(message.payload["item"])


def test_an_image_goes_up_streamed_and_comes_back_to_those_cleared(tmp_path: Path) -> None:
    deps, data = make_deps(tmp_path, None), png()
    rec = attachments.upload(deps, KIM, (data[i:i + 1000] for i in range(0, len(data), 1000)),
                             "image/png")
    assert rec.sha256 == hashlib.sha256(data).hexdigest() and rec.size == len(data)
    create_item(deps, KIM, image_item(rec.sha256))
    found, chunks = open_attachment(deps, KIM, "IMG1", "p2")
    assert b"".join(chunks) == data and found.image and found.image.sensor == "KOMPSAT-3A"
    with pytest.raises(NotFound):  # the same answer as for an item that does not exist
        open_attachment(deps, LOW, "IMG1", "p2")


def test_items_refer_only_to_uploaded_files_whose_pixels_match(tmp_path: Path) -> None:
    deps = make_deps(tmp_path, None)
    with pytest.raises(Invalid, match="upload it first"):
        create_item(deps, KIM, image_item("0" * 64))
    rec = attachments.upload(deps, KIM, [png(200, 100)], "image/png")
    with pytest.raises(Invalid, match="200×100 pixels"):
        create_item(deps, KIM, image_item(rec.sha256))
    with pytest.raises(Invalid, match="media type"):
        attachments.upload(deps, KIM, [b"GIF89a"], "image/gif")


def test_under_an_imagery_cap_the_partner_gets_a_reduced_copy_never_the_original(
        tmp_path: Path) -> None:
    deps, data = make_deps(tmp_path, cap=2.0), png()
    rec = attachments.upload(deps, KIM, [data], "image/png")
    create_item(deps, KIM, image_item(rec.sha256, resolution=0.5))
    sent = release_to_jpn(deps)
    image = next(p for p in sent["portions"] if p["kind"] == "image")
    assert image["id"] == "p2-r" and image["attachment"]["derived_from"] == "p2"
    raw = base64.b64decode(image["attachment"]["data"])
    assert raw != data and hashlib.sha256(raw).hexdigest() == image["attachment"]["sha256"]
    assert rec.sha256 not in str(sent)  # nothing of the original went
    with Image.open(io.BytesIO(raw)) as reduced:
        assert reduced.size == (100, 75)  # 0.5 m → 2 m: a quarter in each direction
    assert image["attachment"]["image"]["resolution_m"] == 2.0
    assert image["attachment"]["address"] == ""  # our store's addresses stay here


def test_without_a_cap_the_original_goes(tmp_path: Path) -> None:
    deps, data = make_deps(tmp_path, None), png()
    rec = attachments.upload(deps, KIM, [data], "image/png")
    create_item(deps, KIM, image_item(rec.sha256))
    image = next(p for p in release_to_jpn(deps)["portions"] if p["kind"] == "image")
    assert base64.b64decode(image["attachment"]["data"]) == data and image["id"] == "p2"


def test_a_partners_bytes_must_match_their_hash(tmp_path: Path) -> None:
    deps = make_deps(tmp_path, None)
    body = {"portions": [{"attachment": {"sha256": "0" * 64, "size": 3,
                                         "data": base64.b64encode(b"abc").decode()}}]}
    with deps.uow() as uow, pytest.raises(ValueError, match="do not match"):
        attachments.take_inline(deps, uow, body, "JPN")
