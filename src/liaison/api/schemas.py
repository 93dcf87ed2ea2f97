"""Request bodies, as the API documents them. Domain validation happens in the services
(one set of rules for the API, the CLI import and the federation)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenIn(Body):
    name: str = Field(min_length=1, max_length=100, description="what the token is for")
    days: int | None = Field(default=None, ge=1, le=3650,
                             description="how many days it lasts; default the node's "
                                         "api_token_days (90), at most api_token_max_days")


class UserIn(Body):
    username: str
    display_name: str = ""
    roles: list[str]
    clearance: str = Field(description="a level name of the node's scheme")
    compartments: list[str] = []
    topics: list[str] | None = Field(default=None, description="need-to-know; null = all")
    password: str | None = Field(default=None, min_length=12, max_length=1024)
    party: str | None = Field(default=None, description="for the partner role: the partner "
                              "whose TAXII collection this account reads")


class PasswordIn(Body):
    password: str = Field(min_length=12, max_length=1024)


class LabelIn(Body):
    policy: str
    classification: str
    originator: str
    created: str
    review: str | None = None
    rel_to: list[str] | None = None
    eyes_only: list[str] | None = None
    caveats: list[str] = []
    compartments: list[str] = []
    informative: dict[str, list[str]] = {}


class ImageMetaIn(Body):
    sensor: str = Field(max_length=200)
    taken_at: str
    footprint: list[list[float]] = Field(min_length=3, max_length=10_000,
                                         description="[lat, lon] vertices")
    resolution_m: float = Field(description="ground sample distance, metres per pixel")
    width: int
    height: int


class AttachmentIn(Body):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$",
                        description="as answered by POST /api/attachments")
    size: int = Field(0, description="filled in from the stored file")
    media_type: str = Field("application/octet-stream",
                            description="filled in from the stored file")
    image: ImageMetaIn | None = None


class BoundLabelIn(Body):
    binding: str = Field(max_length=200_000, description="the BindingInformation XML")
    signer: str = Field(min_length=3, max_length=3, description="the signing node's party")


class PortionIn(Body):
    id: str = Field(min_length=1, max_length=64)
    kind: str = Field("text", description="text | image | track")
    content: str = Field(max_length=1_000_000, description="text, or a file's caption")
    label: LabelIn | None = Field(None, description="the label; or give label_xml or "
                                  "bound_label instead (exactly one of the three)")
    label_xml: str | None = Field(None, max_length=200_000,
                                  description="the label as STANAG 4774 XML")
    bound_label: BoundLabelIn | None = Field(
        None, description="a STANAG 4778-style binding of the label to this portion's data "
        "(its text, or its file), taken only when the signer's signature verifies")
    attachment: AttachmentIn | None = None


class PlaceIn(Body):
    lat: float
    lon: float
    name: str = ""


class ItemIn(Body):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    originator: str | None = None
    discipline: str
    topic: str
    grade: str = Field(description="Admiralty code, e.g. B2")
    title: str = Field(min_length=1, max_length=500)
    reported_at: str
    observed_at: str | None = None
    place: PlaceIn | None = None
    portions: list[PortionIn] = Field(min_length=1, max_length=1000)


class EventIn(Body):
    kind: str
    date: date
    by: str | None = None
    note: str = ""


class ReleaseIn(Body):
    item_id: str
    recipient: str = Field(min_length=3, max_length=3)
    purpose: str = Field(min_length=1, max_length=2000)
    on: str | None = Field(default=None, description=(
        "not accepted: a release is decided on the node's clock at the moment of approval; "
        "a what-if date belongs to GET /api/items/{id}/release-check?at=YYYY-MM-DD"))


class ReviewIn(Body):
    approve: bool
    tearline: list[str] | None = Field(default=None,
                                       description="portion ids; may only narrow")
    comment: str = Field(default="", max_length=4000)


class ConsentIn(Body):
    originator: str
    recipient: str
    item_id: str
    purpose: str
    granted_by: str
    granted_on: date


def plain(model: BaseModel) -> dict[str, Any]:
    """The body as plain JSON data, for the domain codec."""
    return model.model_dump(mode="json", exclude_none=False)
