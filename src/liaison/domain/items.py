"""Intelligence items and their portions. Pure: no I/O.

An item's level is its highest portion (docs/rules.md#portions). Every portion carries its own
label; a tearline release carries only some of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property

from liaison.domain.imagery import ImageMeta, validate_meta
from liaison.domain.labels import Label, LabelError, Level, Scheme, banner, validate_label


class Discipline(StrEnum):
    HUMINT = "HUMINT"
    IMINT = "IMINT"
    GEOINT = "GEOINT"
    SIGINT = "SIGINT"
    COMINT = "COMINT"
    ELINT = "ELINT"
    FISINT = "FISINT"
    MASINT = "MASINT"
    OSINT = "OSINT"


# docs/rules.md#disciplines: SIGINT (COMINT, ELINT, FISINT); IMINT/GEOINT.
PARENT_DISCIPLINE = {
    Discipline.COMINT: Discipline.SIGINT,
    Discipline.ELINT: Discipline.SIGINT,
    Discipline.FISINT: Discipline.SIGINT,
    Discipline.IMINT: Discipline.GEOINT,
}


def discipline_family(d: Discipline) -> frozenset[str]:
    """The discipline and its parent: a scope of SIGINT covers COMINT."""
    parent = PARENT_DISCIPLINE.get(d)
    return frozenset({d.value, parent.value}) if parent else frozenset({d.value})


ADMIRALTY = re.compile(r"^[A-F][1-6]$")


@dataclass(frozen=True, slots=True)
class Grade:
    """Admiralty code (STANAG 2511): source reliability A–F and information credibility
    1–6, graded separately, shown together ("B2")."""

    reliability: str
    credibility: int

    @classmethod
    def parse(cls, text: str) -> Grade:
        if not ADMIRALTY.match(text):
            raise LabelError(
                f"grade {text!r} is not an Admiralty code: reliability A–F then credibility 1–6"
            )
        return cls(text[0], int(text[1]))

    def __str__(self) -> str:
        return f"{self.reliability}{self.credibility}"


class PortionKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    TRACK = "track"


MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/tiff", "application/pdf",
                         "text/plain", "application/octet-stream"})
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried by a portion: the bytes are in the node's encrypted blob store at
    ``address`` (node-local); ``sha256`` is the content hash partners compare. An image
    carries its metadata; ``derived_from`` names the portion a reduced copy was made of."""

    sha256: str
    size: int
    media_type: str
    address: str = ""
    image: ImageMeta | None = None
    derived_from: str | None = None


@dataclass(frozen=True, slots=True)
class Portion:
    id: str
    kind: PortionKind
    content: str  # text, or an attachment's caption
    label: Label
    attachment: Attachment | None = None


@dataclass(frozen=True, slots=True)
class Place:
    lat: float
    lon: float
    name: str = ""


@dataclass(frozen=True)
class Item:
    id: str
    originator: str
    discipline: Discipline
    topic: str
    grade: Grade
    title: str
    reported_at: datetime
    portions: tuple[Portion, ...]
    observed_at: datetime | None = None
    place: Place | None = None

    def level(self, scheme: Scheme) -> Level:
        """The item's level: its highest portion."""
        return max((scheme.level(p.label.classification) for p in self.portions),
                   key=lambda lv: lv.rank)

    @cached_property
    def release_token(self) -> str:
        """Everything the release engine reads from the item apart from its id: equal
        tokens get equal decisions (the engine's memo key)."""
        portions = "#".join(f"{p.id}~{p.label.token}" for p in self.portions)
        return f"{self.discipline}#{self.topic}#{portions}"

    def banner(self, scheme: Scheme) -> str:
        return banner([p.label for p in self.portions], scheme)


# Report times the node takes: the search index orders items by report time in 63 bits
# (domain.search), and nothing legitimate is reported before 1970 or after 2100.
REPORTED_FROM = datetime(1970, 1, 1, tzinfo=UTC)
REPORTED_UNTIL = datetime(2101, 1, 1, tzinfo=UTC)  # exclusive: up to the end of 2100
REPORT_TIMES = "between 1970-01-01T00:00:00Z and 2100-12-31T23:59:59Z"


def report_time_problem(at: datetime) -> str | None:
    """Why ``at`` cannot be a report time (or a bound of a search by report time)."""
    if at.tzinfo is None or at.utcoffset() is None:
        return "has no time zone (give one, e.g. 2019-10-31T07:35:00Z)"
    if not REPORTED_FROM <= at < REPORTED_UNTIL:
        return f"report times are {REPORT_TIMES}"
    return None


LOCAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")  # + "@XXX" at a partner: 124


def local_id_problem(item_id: str) -> str | None:
    """Why ``item_id`` cannot name an item made at this node, or ``None`` (issue 18). A
    received item is ``<id>@<party>``: an id made here takes this node's namespace (no
    ``@``), so it never takes the place of a partner's release; no path syntax."""
    if "@" in item_id:
        return (f"item id {item_id[:130]!r}: '@' marks an item received from a partner "
                f"(<id>@<party>); an item made here has an id of this node's own")
    if not LOCAL_ID.match(item_id) or ".." in item_id:
        return (f"item id {item_id[:130]!r}: 1 to 120 letters, digits, '.', '_' or '-', "
                f"starting with a letter or digit, without '..'")
    return None


TOPIC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]*(/[A-Za-z0-9][A-Za-z0-9 _.-]*)*$")


def validate_item(item: Item, scheme: Scheme) -> None:
    """Raise ``LabelError`` naming the first rule the item breaks."""
    if not item.portions:
        raise LabelError(f"item {item.id}: an item has at least one portion")
    ids = [p.id for p in item.portions]
    if len(set(ids)) != len(ids):
        raise LabelError(f"item {item.id}: portion ids must be unique")
    if not TOPIC.match(item.topic):
        raise LabelError(f"item {item.id}: topic {item.topic!r} must look like 'DPRK/missile'")
    problem = report_time_problem(item.reported_at)
    if problem:
        raise LabelError(f"item {item.id}: reported_at {item.reported_at.isoformat()}: "
                         f"{problem}")
    if item.place and not (-90 <= item.place.lat <= 90 and -180 <= item.place.lon <= 180):
        raise LabelError(f"item {item.id}: place is outside latitude/longitude bounds")
    for p in item.portions:
        try:
            validate_label(p.label, scheme)
            validate_attachment(p)
        except (LabelError, ValueError) as exc:
            raise LabelError(f"item {item.id}, portion {p.id}: {exc}") from exc


def validate_attachment(p: Portion) -> None:
    """Raise ``LabelError`` when the portion's file does not fit its kind. Images travel
    only as image portions: that is where an agreement's imagery cap is applied, so an
    image under another kind would go at full resolution."""
    a = p.attachment
    if p.kind is PortionKind.IMAGE and (a is None or a.image is None):
        raise LabelError("an image portion carries an attachment with image metadata "
                         "(sensor, taken_at, footprint, resolution_m, width, height)")
    if a is None:
        return
    if not SHA256.match(a.sha256) or a.size < 0:
        raise LabelError("attachment: sha256 is 64 lower-case hex digits, size ≥ 0")
    if a.media_type not in MEDIA_TYPES:
        raise LabelError(f"attachment: media type {a.media_type!r} is not one of "
                         + ", ".join(sorted(MEDIA_TYPES)))
    is_image = a.media_type.startswith("image/")
    if is_image and p.kind is not PortionKind.IMAGE:
        raise LabelError(f"attachment: a file of media type {a.media_type} goes in a portion "
                         f"of kind 'image' with its image metadata, not kind '{p.kind.value}'")
    if p.kind is PortionKind.IMAGE and not is_image:
        raise LabelError(f"attachment: an image portion carries an image/* file, not "
                         f"{a.media_type}")
    if a.image is not None:
        validate_meta(a.image)
