"""Imagery metadata, and reduced-resolution copies for partners whose agreement caps the
ground sample distance (GSD) they may receive. Pure, except for Pillow decoding and encoding
images held in memory.

Decoding guards (``image_info`` and ``reduce_to_resolution``):

- Only PNG, JPEG and TIFF are decoded (Pillow is told to try no other format); anything
  else — GIF, BMP, WebP, a multi-picture JPEG (MPO) — is refused with ``ValueError``.
  Multi-frame images (multi-page TIFF, animated PNG) are refused too: the meta describes one
  raster, and a release must not silently drop or carry extra frames.
- Decompression bombs: the pixel count is read from the header and checked against
  ``MAX_PIXELS`` before any pixel data is decoded. This limit is ours and does not depend on
  Pillow's global ``Image.MAX_IMAGE_PIXELS`` (Pillow's own warning between its limit and
  twice it is suppressed locally; its error above twice its limit is reported as the same
  ``ValueError``).

Reduction never passes the original bytes through: the output is always a freshly encoded
PNG with no ancillary metadata (no EXIF, text chunks, ICC profile, or physical size), so
nothing from the source file except its pixels survives. Two consequences: pixels are
written as-is without colour management (an ICC profile is dropped, not applied), and an
EXIF orientation tag is not applied — the pixel grid is the stored one, which is also the one
``ImageMeta.width``/``height`` describe. The decoded size must equal the meta's.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from PIL import Image, UnidentifiedImageError

MAX_PIXELS: Final = 100_000_000  # 100 megapixels
ALLOWED_FORMATS: Final = ("PNG", "JPEG", "TIFF")
MIN_FOOTPRINT_VERTICES: Final = 3
MAX_FOOTPRINT_VERTICES: Final = 10_000
MAX_SENSOR_CHARS: Final = 200
OUTPUT_FORMAT: Final = "PNG"

_FIELDS: Final = ("sensor", "taken_at", "footprint", "resolution_m", "width", "height")
# Modes written to PNG as they are; others are converted first (see _for_output).
_KEEP_MODES: Final = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I;16B"})
_TO_RGB_MODES: Final = frozenset({"CMYK", "YCbCr", "LAB", "HSV"})
# Rounding slack when computing pixel counts, so 300 px x 0.3 / 0.9 gives 100, not 99.
_PIXEL_EPS: Final = 1e-9


@dataclass(frozen=True, slots=True)
class ImageMeta:
    sensor: str
    taken_at: datetime  # timezone-aware
    footprint: tuple[tuple[float, float], ...]  # (lat, lon) vertices, not closed
    resolution_m: float  # ground sample distance, metres per pixel
    width: int  # pixels
    height: int  # pixels


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_pixels(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"image meta {name} must be an integer number of pixels")
    if value < 1:
        raise ValueError(f"image meta {name} must be at least 1 pixel, got {value}")


def validate_meta(meta: ImageMeta) -> None:
    """Raise ``ValueError`` naming the first field of ``meta`` that is invalid."""
    if not isinstance(meta.sensor, str) or not meta.sensor.strip():
        raise ValueError("image meta sensor must be a non-empty string")
    if len(meta.sensor) > MAX_SENSOR_CHARS:
        raise ValueError(f"image meta sensor must be at most {MAX_SENSOR_CHARS} characters")
    if not meta.sensor.isprintable():
        raise ValueError("image meta sensor must not contain control characters")
    if not isinstance(meta.taken_at, datetime):
        raise ValueError("image meta taken_at must be a datetime")
    if meta.taken_at.tzinfo is None or meta.taken_at.utcoffset() is None:
        raise ValueError("image meta taken_at must be timezone-aware")
    footprint = meta.footprint
    if not isinstance(footprint, tuple):
        raise ValueError("image meta footprint must be a tuple of (lat, lon) vertices")
    if len(footprint) < MIN_FOOTPRINT_VERTICES:
        raise ValueError(f"image meta footprint needs at least {MIN_FOOTPRINT_VERTICES} "
                         f"vertices, got {len(footprint)}")
    if len(footprint) > MAX_FOOTPRINT_VERTICES:
        raise ValueError(f"image meta footprint has more than {MAX_FOOTPRINT_VERTICES} vertices")
    for i, vertex in enumerate(footprint):
        if not isinstance(vertex, tuple) or len(vertex) != 2:
            raise ValueError(f"image meta footprint vertex {i} must be a (lat, lon) pair")
        lat, lon = vertex
        if not _is_number(lat) or not _is_number(lon):
            raise ValueError(f"image meta footprint vertex {i} must hold numbers")
        if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise ValueError(f"image meta footprint vertex {i}: latitude {lat} is outside "
                             "[-90, 90]")
        if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
            raise ValueError(f"image meta footprint vertex {i}: longitude {lon} is outside "
                             "[-180, 180]")
    if not _is_number(meta.resolution_m):
        raise ValueError("image meta resolution_m must be a number (metres per pixel)")
    if not (math.isfinite(meta.resolution_m) and meta.resolution_m > 0):
        raise ValueError(f"image meta resolution_m must be a finite number > 0 metres, "
                         f"got {meta.resolution_m}")
    _check_pixels("width", meta.width)
    _check_pixels("height", meta.height)


def meta_to(meta: ImageMeta) -> dict[str, Any]:
    """A JSON-ready dict; ``taken_at`` as ISO 8601 with its offset, footprint as lists."""
    validate_meta(meta)
    return {
        "sensor": meta.sensor,
        "taken_at": meta.taken_at.isoformat(),
        "footprint": [[lat, lon] for lat, lon in meta.footprint],
        "resolution_m": meta.resolution_m,
        "width": meta.width,
        "height": meta.height,
    }


def meta_from(data: Mapping[str, Any]) -> ImageMeta:
    """Parse and validate the output of ``meta_to`` (unknown or missing keys are errors)."""
    if not isinstance(data, Mapping):
        raise ValueError("image meta must be a mapping")
    missing = [name for name in _FIELDS if name not in data]
    if missing:
        raise ValueError(f"image meta is missing field(s): {', '.join(missing)}")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise ValueError(f"image meta has unknown field(s): {', '.join(unknown)}")

    taken_at = data["taken_at"]
    if isinstance(taken_at, str):
        try:
            taken_at = datetime.fromisoformat(taken_at)
        except ValueError:
            raise ValueError(f"image meta taken_at is not an ISO 8601 datetime: "
                             f"{taken_at!r:.60}") from None
    elif not isinstance(taken_at, datetime):
        raise ValueError("image meta taken_at must be an ISO 8601 string")

    raw_footprint = data["footprint"]
    if isinstance(raw_footprint, str | bytes) or not isinstance(raw_footprint, Sequence):
        raise ValueError("image meta footprint must be a list of [lat, lon] pairs")
    vertices: list[tuple[float, float]] = []
    for i, vertex in enumerate(raw_footprint):
        if isinstance(vertex, str | bytes) or not isinstance(vertex, Sequence) \
                or len(vertex) != 2:
            raise ValueError(f"image meta footprint vertex {i} must be a [lat, lon] pair")
        lat, lon = vertex
        if not _is_number(lat) or not _is_number(lon):
            raise ValueError(f"image meta footprint vertex {i} must hold numbers")
        vertices.append((float(lat), float(lon)))

    resolution = data["resolution_m"]
    if not _is_number(resolution):
        raise ValueError("image meta resolution_m must be a number (metres per pixel)")
    sensor = data["sensor"]
    if not isinstance(sensor, str):
        raise ValueError("image meta sensor must be a string")
    width, height = data["width"], data["height"]
    _check_pixels("width", width)
    _check_pixels("height", height)

    meta = ImageMeta(sensor=sensor, taken_at=taken_at, footprint=tuple(vertices),
                     resolution_m=float(resolution), width=width, height=height)
    validate_meta(meta)
    return meta


# -- recognising images ------------------------------------------------------------------

# Signatures of raster formats a partner's tool could display (not only those decoded
# here): a file that starts like one of them is treated as an image wherever it is carried.
_SIGNATURES: Final = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"), (b"II+\x00", "BigTIFF"), (b"MM\x00+", "BigTIFF"),
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xffO\xffQ", "JPEG 2000"), (b"NITF", "NITF"), (b"NSIF", "NSIF"), (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
)
_FTYP_IMAGES: Final = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1",
                                  b"msf1", b"avif", b"avis"})
SNIFF_BYTES: Final = 32  # how much of a file ``image_format`` reads


def image_format(head: bytes) -> str | None:
    """The raster format a file starting with ``head`` is in (by its signature), or
    ``None`` when it does not start like an image."""
    head = bytes(head[:SNIFF_BYTES])
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":
        return "BMP"
    if head[4:8] == b"ftyp" and head[8:12] in _FTYP_IMAGES:
        return "HEIF/AVIF"
    return None


# -- decoding ----------------------------------------------------------------------------


def _open(image_bytes: bytes) -> Image.Image:
    """Identify the image and run the format, frame and size guards; pixels not decoded."""
    if not isinstance(image_bytes, bytes | bytearray | memoryview):
        raise ValueError("image must be bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(image_bytes), formats=list(ALLOWED_FORMATS))
    except Image.DecompressionBombError as e:
        raise ValueError(f"image is too large (decompression bomb guard): {e}") from None
    except UnidentifiedImageError:
        raise ValueError("unsupported image format: only PNG, JPEG and TIFF are "
                         "accepted") from None
    except Exception as e:  # any parse failure of untrusted input
        raise ValueError(f"could not read image header: {e}") from None
    try:
        if im.format not in ALLOWED_FORMATS:
            raise ValueError(f"unsupported image format {im.format}: only PNG, JPEG and "
                             "TIFF are accepted")
        width, height = im.size
        if width < 1 or height < 1:
            raise ValueError(f"image has an empty size {width}x{height}")
        if width * height > MAX_PIXELS:
            raise ValueError(f"image is too large: {width}x{height} = {width * height} "
                             f"pixels, limit {MAX_PIXELS}")
        try:
            frames = getattr(im, "n_frames", 1)
        except Exception as e:  # a malformed chain of TIFF directories, say
            raise ValueError(f"could not read image header: {e}") from None
        if frames != 1:
            raise ValueError("multi-frame images (multi-page TIFF, animated PNG) are not "
                             "accepted")
    except BaseException:
        im.close()
        raise
    return im


def image_info(image_bytes: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the header, after the format and size guards."""
    with _open(image_bytes) as im:
        assert im.format is not None  # checked by _open
        return im.format, im.width, im.height


def _decode(im: Image.Image) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except Image.DecompressionBombError as e:
        raise ValueError(f"image is too large (decompression bomb guard): {e}") from None
    except Exception as e:
        raise ValueError(f"could not decode image: {e}") from None


def _for_output(im: Image.Image) -> Image.Image:
    """Convert to a mode that resamples with a real filter and PNG can hold."""
    mode = im.mode
    has_transparency = "transparency" in im.info
    if mode in ("P", "PA"):
        return im.convert("RGBA" if has_transparency or mode == "PA" else "RGB")
    if mode == "1":
        return im.convert("L")
    if mode in ("L", "RGB") and has_transparency:
        return im.convert(mode + "A")
    if mode in _TO_RGB_MODES:
        return im.convert("RGB")
    if mode in _KEEP_MODES:
        return im
    raise ValueError(f"unsupported pixel mode {mode}: convert to 8- or 16-bit first")


def reduce_to_resolution(image_bytes: bytes, meta: ImageMeta,
                         min_resolution_m: float) -> tuple[bytes, ImageMeta]:
    """A copy no finer than ``min_resolution_m`` metres per pixel, as a metadata-free PNG.

    The image is scaled by ``meta.resolution_m / min_resolution_m`` (never enlarged) with a
    box filter — each output pixel is the mean of the input pixels it covers, as a coarser
    detector would integrate them — and pixel counts are rounded down, so the true GSD is
    never finer than the returned ``resolution_m``, which is
    ``max(meta.resolution_m, min_resolution_m)``. An image already at or coarser than the
    limit is re-encoded at its size. Raises ``ValueError`` for an invalid meta or limit, a
    refused image (see module doc), a decoded size that differs from the meta's, or an
    image narrower or shorter on the ground than one pixel at the limit (a 1-pixel copy
    would still be finer than allowed, so none is made).
    """
    if not _is_number(min_resolution_m) or not (
            math.isfinite(min_resolution_m) and min_resolution_m > 0):
        raise ValueError(f"min_resolution_m must be a finite number > 0 metres, "
                         f"got {min_resolution_m!r}")
    validate_meta(meta)
    with _open(image_bytes) as im:
        if im.size != (meta.width, meta.height):
            raise ValueError(f"image is {im.width}x{im.height} pixels but its meta says "
                             f"{meta.width}x{meta.height}")
        _decode(im)
        src = _for_output(im)
        if meta.resolution_m < min_resolution_m:
            scale = meta.resolution_m / min_resolution_m
            size = (math.floor(meta.width * scale + _PIXEL_EPS),
                    math.floor(meta.height * scale + _PIXEL_EPS))
            if min(size) < 1:
                raise ValueError(
                    f"image covers {meta.width * meta.resolution_m:g} m x "
                    f"{meta.height * meta.resolution_m:g} m, less than one "
                    f"{min_resolution_m:g} m pixel across: even a 1-pixel copy would be "
                    "finer than the limit")
            out = src.resize(size, Image.Resampling.BOX)
        else:
            out = src.copy()
    out.info.clear()  # drop ICC profile, EXIF, text, dpi, transparency carried in info
    buf = io.BytesIO()
    out.save(buf, format=OUTPUT_FORMAT, optimize=False)
    new_meta = ImageMeta(
        sensor=meta.sensor, taken_at=meta.taken_at, footprint=meta.footprint,
        resolution_m=max(meta.resolution_m, min_resolution_m),
        width=out.width, height=out.height)
    return buf.getvalue(), new_meta
