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
from PIL.PngImagePlugin import PngInfo
from tests.samples import image_item, png
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.domain.items import PortionKind
from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.services import attachments, releases
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound, Refused
from liaison.services.items import create_item, open_attachment
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
    with pytest.raises(Invalid, match="upload the file first"):
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


# --- only the uploader may attach a file -------------------------------------------------


def text_item(sha: str, item_id: str = "DOC1", level: str = "평문",
              media_type: str = "application/pdf", kind: str = "text") -> dict[str, Any]:
    return {"id": item_id, "discipline": "OSINT", "topic": "DPRK/missile", "grade": "C3",
            "title": "notes", "reported_at": "2019-10-31T08:00:00Z",
            "portions": [{"id": "p1", "kind": kind, "content": "see the file",
                          "label": {**label_of(level)},
                          "attachment": {"sha256": sha, "size": 0,
                                         "media_type": media_type}}]}


def label_of(level: str) -> dict[str, Any]:
    return {"policy": "KOR", "classification": level, "originator": "KOR",
            "created": "2019-10-31T08:00:00Z"}


def test_a_file_is_attached_only_by_the_user_who_uploaded_it(tmp_path: Path) -> None:
    deps = make_deps(tmp_path, None)
    secret = b"%PDF-1.7 the order of battle"
    rec = attachments.upload(deps, KIM, [secret], "application/pdf")
    create_item(deps, KIM, text_item(rec.sha256, "DOC0", level="군사II급비밀"))
    with pytest.raises(Invalid) as held:  # held here, uploaded by someone else
        create_item(deps, LOW, text_item(rec.sha256))
    with pytest.raises(Invalid) as unknown:  # held nowhere
        create_item(deps, LOW, text_item(hashlib.sha256(b"nothing").hexdigest()))
    assert str(held.value) == str(unknown.value)  # the answer tells nothing of what is held
    assert "upload the file first: no upload of yours has this hash" in str(held.value)
    with deps.uow() as uow:
        assert uow.items.get("DOC1") is None
    with pytest.raises(NotFound):  # and so the low-cleared analyst never gets the bytes
        open_attachment(deps, LOW, "DOC1", "p1")


def test_a_second_uploader_of_the_same_content_may_attach_it(tmp_path: Path) -> None:
    deps = make_deps(tmp_path, None)
    data = b"%PDF-1.7 public timetable"
    first = attachments.upload(deps, KIM, [data], "application/pdf")
    again = attachments.upload(deps, LOW, [data], "application/pdf")
    assert again.sha256 == first.sha256
    create_item(deps, LOW, text_item(first.sha256))
    found, chunks = open_attachment(deps, LOW, "DOC1", "p1")
    assert b"".join(chunks) == data and found.size == len(data)


def test_a_partners_file_cannot_be_attached_to_a_new_item(tmp_path: Path) -> None:
    deps = make_deps(tmp_path, None)
    data = base64.b64encode(b"%PDF-1.7 from Japan").decode()
    sha = hashlib.sha256(b"%PDF-1.7 from Japan").hexdigest()
    body = {"portions": [{"attachment": {"sha256": sha, "size": 19, "data": data,
                                         "media_type": "application/pdf"}}]}
    with deps.uow() as uow:
        attachments.take_inline(deps, uow, body, "JPN")
        uow.commit()
    with pytest.raises(Invalid, match="no upload of yours has this hash"):
        create_item(deps, KIM, text_item(sha))


# --- images travel only as image portions ----------------------------------------------


@pytest.mark.parametrize("media_type", ["image/png", "application/octet-stream",
                                        "application/pdf"])
def test_an_image_file_is_refused_in_a_text_portion(tmp_path: Path, media_type: str) -> None:
    deps = make_deps(tmp_path, None)
    rec = attachments.upload(deps, KIM, [png()], media_type)
    with pytest.raises(Invalid, match="kind 'image'"):
        create_item(deps, KIM, text_item(rec.sha256, media_type=media_type))
    with deps.uow() as uow:
        assert uow.items.get("DOC1") is None


def test_an_image_portion_carries_an_image_file(tmp_path: Path) -> None:
    deps = make_deps(tmp_path, None)
    rec = attachments.upload(deps, KIM, [b"%PDF-1.7"], "application/pdf")
    data = image_item(rec.sha256)
    data["portions"][1]["attachment"]["media_type"] = "application/pdf"
    with pytest.raises(Invalid, match="image/\\* file"):
        create_item(deps, KIM, data)


def test_the_media_type_is_the_one_the_file_was_uploaded_as(tmp_path: Path) -> None:
    """A request that leaves the media type out (or guesses it) gets the uploaded one."""
    deps = make_deps(tmp_path, None)
    rec = attachments.upload(deps, KIM, [png()], "image/png")
    for n, given in enumerate((None, "application/pdf")):
        data = image_item(rec.sha256)
        data["id"] = f"IMG-T{n}"
        attachment = data["portions"][1]["attachment"]
        attachment.pop("media_type", None)
        if given:
            attachment["media_type"] = given
        item = create_item(deps, KIM, data)
        stored = item.portions[1].attachment
        assert stored is not None and stored.media_type == "image/png"


def stored_text_portion_with_png(deps: Deps) -> None:
    """An item stored before images were refused in text portions (bypassing the check)."""
    rec = attachments.upload(deps, KIM, [png()], "image/png")
    create_item(deps, KIM, image_item(rec.sha256))
    with deps.uow() as uow:
        stored = uow.items.list(max_min_rank=10, limit=1, offset=0)[0]
        item = stored.item
        p2 = item.portions[1]
        assert p2.attachment is not None
        sneaky = replace(p2, kind=PortionKind.TEXT,
                         attachment=replace(p2.attachment, image=None,
                                            media_type="application/octet-stream"))
        state = uow.state  # the memory twin's copy: plant the old row as it was
        state.items["IMG1"] = (replace(stored, item=replace(
            item, portions=(item.portions[0], sneaky))), 0)
        uow.commit()


def test_under_a_cap_an_image_in_a_text_portion_stops_the_release(tmp_path: Path) -> None:
    deps = make_deps(tmp_path, cap=2.0)
    stored_text_portion_with_png(deps)
    req = releases.request_release(deps, LEE, "IMG1", "JPN", "warning", date(2019, 11, 23))
    releases.review(deps, PARK, req.id, True, None, "")
    with pytest.raises(Refused, match=r"PNG image in a text portion.*imagery cap"):
        releases.review(deps, CHOI, req.id, True, None, "")
    with deps.uow() as uow:
        assert uow.outbox.list(peer="JPN", limit=10) == []


def test_under_a_cap_even_a_coarse_image_goes_as_a_fresh_copy(tmp_path: Path) -> None:
    deps = make_deps(tmp_path, cap=2.0)
    with Image.open(io.BytesIO(png())) as im:
        info = PngInfo()
        info.add_text("Comment", "taken from the north ridge observation post")
        out = io.BytesIO()
        im.save(out, format="PNG", pnginfo=info)
    data = out.getvalue()
    rec = attachments.upload(deps, KIM, [data], "image/png")
    create_item(deps, KIM, image_item(rec.sha256, resolution=5.0))
    image = next(p for p in release_to_jpn(deps)["portions"] if p["kind"] == "image")
    raw = base64.b64decode(image["attachment"]["data"])
    assert image["id"] == "p2-r" and raw != data and b"north ridge" not in raw
    with Image.open(io.BytesIO(raw)) as copy:
        assert copy.size == (400, 300)  # already coarser than the cap: not made smaller


# --- the size of a release --------------------------------------------------------------


def test_files_over_the_per_item_limit_are_refused_at_approval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deps = make_deps(tmp_path, None)
    rec = attachments.upload(deps, KIM, [png()], "image/png")
    create_item(deps, KIM, image_item(rec.sha256))
    monkeypatch.setattr(attachments, "MAX_SENT_PER_ITEM", rec.size - 1)
    req = releases.request_release(deps, LEE, "IMG1", "JPN", "warning", date(2019, 11, 23))
    releases.review(deps, PARK, req.id, True, None, "")
    with pytest.raises(Refused, match="narrow the tearline"):
        releases.review(deps, CHOI, req.id, True, None, "")
    with deps.uow() as uow:
        assert uow.outbox.list(peer="JPN", limit=10) == []
        assert uow.releases.get(req.id).state.value != "released"
    releases.review(deps, CHOI, req.id, True, ["p1"], "text only")  # fits without the image
