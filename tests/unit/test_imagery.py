"""Imagery metadata and reduced-resolution copies (domain/imagery.py)."""

from __future__ import annotations

import io
import json
import math
import struct
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from PIL import Image, ImageFile, ImageStat, PngImagePlugin

from liaison.domain.imagery import (
    MAX_PIXELS,
    ImageMeta,
    image_info,
    meta_from,
    meta_to,
    reduce_to_resolution,
    validate_meta,
)

KST = timezone(timedelta(hours=9))
META = ImageMeta(
    sensor="KOMPSAT-3A",
    taken_at=datetime(2024, 5, 1, 11, 30, tzinfo=KST),
    footprint=((39.40, 125.90), (39.40, 125.96), (39.45, 125.96), (39.45, 125.90)),
    resolution_m=0.5,
    width=400,
    height=300,
)
SECRET = "SECRET-CAMERA-SN-0042"


def gradient(width: int = 400, height: int = 300) -> Image.Image:
    raw = bytes(
        v
        for y in range(height)
        for x in range(width)
        for v in (x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256)
    )
    return Image.frombytes("RGB", (width, height), raw)


def encode(im: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def png_chunk_types(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    types, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        types.append(data[pos + 4:pos + 8])
        pos += 12 + length
    return types


def with_ihdr_size(png: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR claiming another size (CRC recomputed); pixel data unchanged."""
    assert png[12:16] == b"IHDR"
    body = struct.pack(">II", width, height) + png[24:29]
    return png[:8] + png[8:12] + b"IHDR" + body + struct.pack(
        ">I", zlib.crc32(b"IHDR" + body)) + png[33:]


def decoded(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.fixture(scope="module")
def rgb() -> Image.Image:
    return gradient()


@pytest.fixture(scope="module")
def png(rgb: Image.Image) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET)
    return encode(rgb, "PNG", pnginfo=info, icc_profile=b"icc " + SECRET.encode())


@pytest.fixture(scope="module")
def jpeg(rgb: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretMaker"  # Make
    exif[0x0110] = SECRET  # Model
    exif[0x010E] = "taken from the north ridge"  # ImageDescription
    data = encode(rgb, "JPEG", quality=95, exif=exif)
    assert SECRET.encode() in data
    return data


# -- reduction ----------------------------------------------------------------------------


def test_reduction_halves_the_size_for_half_metre_to_one_metre(jpeg: bytes) -> None:
    out, meta = reduce_to_resolution(jpeg, META, 1.0)
    assert meta == replace(META, resolution_m=1.0, width=200, height=150)
    assert image_info(out) == ("PNG", 200, 150)
    im = decoded(out)
    assert im.format == "PNG"
    assert im.size == (200, 150)
    print(f"reduced {META.width}x{META.height} @ {META.resolution_m} m -> "
          f"{meta.width}x{meta.height} @ {meta.resolution_m} m ({len(jpeg)} -> {len(out)} bytes)")
    # Area averaging keeps the mean colour.
    before = ImageStat.Stat(decoded(jpeg)).mean
    after = ImageStat.Stat(im).mean
    assert all(abs(a - b) < 2 for a, b in zip(before, after, strict=True))


def test_output_carries_no_metadata(jpeg: bytes, png: bytes) -> None:
    for source in (jpeg, png):
        for limit in (1.0, 0.5):  # reduced, and re-encoded at the same size
            out, _ = reduce_to_resolution(source, META, limit)
            assert SECRET.encode() not in out
            assert set(png_chunk_types(out)) == {b"IHDR", b"IDAT", b"IEND"}
            im = decoded(out)
            assert "exif" not in im.info
            assert "icc_profile" not in im.info
            assert "Comment" not in im.info
            assert len(im.getexif()) == 0


def test_already_coarse_image_is_re_encoded_not_passed_through(png: bytes,
                                                              rgb: Image.Image) -> None:
    coarse = replace(META, resolution_m=2.0)
    for limit in (1.0, 2.0):
        out, meta = reduce_to_resolution(png, coarse, limit)
        assert out != png
        assert meta == coarse
        im = decoded(out)
        assert (im.format, im.size) == ("PNG", (400, 300))
        assert im.tobytes() == rgb.tobytes()  # PNG in, PNG out: pixels unchanged


@pytest.mark.parametrize(
    ("size", "resolution", "limit", "expected"),
    [
        ((300, 300), 0.3, 0.9, (100, 100)),  # 0.3 / 0.9 is not exact in binary
        ((400, 300), 0.5, 0.7, (285, 214)),  # rounded down: GSD never finer than the limit
        ((401, 301), 0.5, 1.0, (200, 150)),
        ((10, 10), 0.5, 5.0, (1, 1)),
        ((3, 1000), 1.0, 3.0, (1, 333)),
    ],
)
def test_new_size(size: tuple[int, int], resolution: float, limit: float,
                  expected: tuple[int, int]) -> None:
    meta = replace(META, resolution_m=resolution, width=size[0], height=size[1])
    out, new = reduce_to_resolution(encode(gradient(*size), "PNG"), meta, limit)
    assert (new.width, new.height) == expected == decoded(out).size
    assert new.resolution_m == limit
    assert size[0] * resolution / new.width >= limit - 1e-9
    assert size[1] * resolution / new.height >= limit - 1e-9


def test_tiff_and_unusual_modes(rgb: Image.Image) -> None:
    small = replace(META, width=40, height=30)
    tile = rgb.resize((40, 30))
    cases = {
        "TIFF RGB": (encode(tile, "TIFF"), "RGB"),
        "JPEG CMYK": (encode(tile.convert("CMYK"), "JPEG"), "RGB"),
        "PNG palette with transparency": (
            encode(tile.convert("P"), "PNG", transparency=0), "RGBA"),
        "PNG 1-bit": (encode(tile.convert("1"), "PNG"), "L"),
        "PNG 16-bit grey": (encode(Image.new("I;16", (40, 30), 40_000), "PNG"), "I;16"),
        "TIFF grey": (encode(tile.convert("L"), "TIFF", compression="tiff_lzw"), "L"),
    }
    for name, (data, mode) in cases.items():
        out, meta = reduce_to_resolution(data, small, 1.0)
        im = decoded(out)
        assert (im.format, im.size, im.mode) == ("PNG", (20, 15), mode), name
        assert (meta.width, meta.height) == (20, 15)
    grey16 = decoded(reduce_to_resolution(cases["PNG 16-bit grey"][0], small, 1.0)[0])
    assert grey16.getpixel((3, 3)) == 40_000
    assert image_info(cases["TIFF RGB"][0]) == ("TIFF", 40, 30)


@pytest.mark.parametrize(("size", "limit"), [((10, 10), 5.01), ((3, 1000), 10.0)])
def test_image_smaller_than_one_pixel_at_the_limit_refused(size: tuple[int, int],
                                                            limit: float) -> None:
    meta = replace(META, resolution_m=0.5 if size == (10, 10) else 1.0,
                   width=size[0], height=size[1])
    with pytest.raises(ValueError, match=r"less than one .* pixel across"):
        reduce_to_resolution(encode(gradient(*size), "PNG"), meta, limit)


def test_decoded_size_must_match_meta(png: bytes) -> None:
    with pytest.raises(ValueError, match=r"400x300 pixels but its meta says 401x300"):
        reduce_to_resolution(png, replace(META, width=401), 1.0)


@pytest.mark.parametrize("limit", [0.0, -1.0, math.nan, math.inf])
def test_limit_must_be_positive(png: bytes, limit: float) -> None:
    with pytest.raises(ValueError, match="min_resolution_m"):
        reduce_to_resolution(png, META, limit)


def test_invalid_meta_is_refused_before_decoding(png: bytes) -> None:
    with pytest.raises(ValueError, match="resolution_m"):
        reduce_to_resolution(png, replace(META, resolution_m=0.0), 1.0)


# -- decoding guards ----------------------------------------------------------------------


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.usefixtures("no_decoding")
@pytest.mark.parametrize(
    ("width", "height"),
    [(20_000, 20_000), (12_000, 9_000), (10_001, 10_000), (1, MAX_PIXELS + 1)],
)
def test_decompression_bomb_refused_from_the_header(width: int, height: int) -> None:
    bomb = with_ihdr_size(encode(Image.new("RGB", (1, 1)), "PNG"), width, height)
    assert len(bomb) < 100
    meta = replace(META, width=width, height=height)
    for call in (lambda: image_info(bomb), lambda: reduce_to_resolution(bomb, meta, 1.0)):
        with pytest.raises(ValueError, match="too large"):
            call()


@pytest.mark.usefixtures("no_decoding")
def test_bomb_guard_does_not_depend_on_pillows_global(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    bomb = with_ihdr_size(encode(Image.new("L", (1, 1)), "PNG"), 20_000, 20_000)
    with pytest.raises(ValueError, match=f"400000000 pixels, limit {MAX_PIXELS}"):
        image_info(bomb)


def test_just_under_the_limit_is_identified() -> None:
    header_only = with_ihdr_size(encode(Image.new("L", (1, 1)), "PNG"), 10_000, 10_000)
    assert image_info(header_only) == ("PNG", 10_000, 10_000)
    with pytest.raises(ValueError, match="could not decode"):  # its pixel data is missing
        reduce_to_resolution(header_only, replace(META, width=10_000, height=10_000), 1.0)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "ICO", "PPM"])
def test_other_formats_refused(rgb: Image.Image, fmt: str) -> None:
    data = encode(rgb.resize((40, 30)), fmt)
    small = replace(META, width=40, height=30)
    with pytest.raises(ValueError, match="only PNG, JPEG and TIFF"):
        image_info(data)
    with pytest.raises(ValueError, match="only PNG, JPEG and TIFF"):
        reduce_to_resolution(data, small, 1.0)


def test_multi_frame_images_refused(rgb: Image.Image) -> None:
    frames = [rgb.resize((40, 30)), rgb.resize((40, 30)).rotate(180)]
    small = replace(META, width=40, height=30)
    for fmt in ("PNG", "TIFF"):
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:])
        with pytest.raises(ValueError, match="multi-frame"):
            reduce_to_resolution(data, small, 1.0)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_garbage_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"PNG, JPEG and TIFF|could not"):
        image_info(data)


def test_truncated_image_refused(png: bytes) -> None:
    with pytest.raises(ValueError, match="could not decode"):
        reduce_to_resolution(png[: len(png) // 2], META, 1.0)


# -- metadata -----------------------------------------------------------------------------


def test_valid_meta() -> None:
    validate_meta(META)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"footprint": ((39.4, 125.9), (39.45, 125.96))},
         "footprint needs at least 3 vertices, got 2"),
        ({"footprint": ((91.0, 125.9), (39.4, 125.96), (39.45, 125.96))},
         "vertex 0: latitude 91.0 is outside"),
        ({"footprint": ((39.4, 125.9), (39.4, 180.5), (39.45, 125.96))},
         "vertex 1: longitude 180.5 is outside"),
        ({"footprint": ((39.4, 125.9), (39.4, math.nan), (39.45, 125.96))}, "vertex 1: longitude"),
        ({"footprint": ((39.4, 125.9), (39.4,), (39.45, 125.96))}, "vertex 1 must be a"),
        ({"footprint": ((39.4, 125.9), ("39", 125.0), (39.45, 125.96))}, "must hold numbers"),
        ({"taken_at": datetime(2024, 5, 1, 11, 30)}, "taken_at must be timezone-aware"),
        ({"resolution_m": 0.0}, "resolution_m must be a finite number > 0"),
        ({"resolution_m": -0.5}, "resolution_m must be a finite number > 0"),
        ({"resolution_m": math.inf}, "resolution_m must be a finite number > 0"),
        ({"resolution_m": True}, "resolution_m must be a number"),
        ({"width": 0}, "width must be at least 1 pixel"),
        ({"height": 2.5}, "height must be an integer"),
        ({"width": True}, "width must be an integer"),
        ({"sensor": "  "}, "sensor must be a non-empty string"),
        ({"sensor": "S" * 201}, "sensor must be at most 200"),
        ({"sensor": "KOMPSAT\n3A"}, "sensor must not contain control characters"),
    ],
)
def test_invalid_meta(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        validate_meta(replace(META, **changes))


def test_meta_round_trip() -> None:
    as_dict = meta_to(META)
    assert as_dict["taken_at"] == "2024-05-01T11:30:00+09:00"
    assert as_dict["footprint"][0] == [39.40, 125.90]
    assert meta_from(json.loads(json.dumps(as_dict))) == META
    utc = replace(META, taken_at=datetime(2024, 5, 1, 2, 30, tzinfo=UTC))
    assert meta_from(meta_to(utc)) == utc
    whole_numbers = {**as_dict, "resolution_m": 1, "footprint": [[39, 125], [39, 126], [40, 126]]}
    parsed = meta_from(whole_numbers)
    assert parsed.resolution_m == 1.0
    assert parsed.footprint == ((39.0, 125.0), (39.0, 126.0), (40.0, 126.0))
    assert meta_from({**as_dict, "taken_at": "2024-05-01T02:30:00Z"}).taken_at == META.taken_at


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"width": None}, "width must be an integer"),
        ({"width": 400.0}, "width must be an integer"),
        ({"resolution_m": "0.5"}, "resolution_m must be a number"),
        ({"sensor": 7}, "sensor must be a string"),
        ({"taken_at": "yesterday"}, "taken_at is not an ISO 8601 datetime"),
        ({"taken_at": "2024-05-01T11:30:00"}, "taken_at must be timezone-aware"),
        ({"taken_at": 1714530600}, "taken_at must be an ISO 8601 string"),
        ({"footprint": "39,125"}, "footprint must be a list"),
        ({"footprint": [[39, 125], [39, 126]]}, "at least 3 vertices"),
        ({"footprint": [[39, 125], [39, 126], [40]]}, "vertex 2 must be a"),
        ({"footprint": [[39, 125], [39, 126], ["40", 126]]}, "vertex 2 must hold numbers"),
        ({"colour": "red"}, "unknown field.*colour"),
    ],
)
def test_meta_from_errors_name_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        meta_from({**meta_to(META), **changes})


def test_meta_from_missing_fields() -> None:
    data = meta_to(META)
    del data["footprint"], data["height"]
    with pytest.raises(ValueError, match=r"missing field.*footprint, height"):
        meta_from(data)
    with pytest.raises(ValueError, match="must be a mapping"):
        meta_from([("sensor", "x")])  # type: ignore[arg-type]
