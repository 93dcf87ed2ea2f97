"""The encrypted, content-addressed blob store (storage/blobs.py)."""

from __future__ import annotations

import gc
import hashlib
import random
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from liaison.storage.blobs import (
    CHUNK_SIZE,
    HEADER_SIZE,
    LENGTH_SIZE,
    MAGIC,
    TAG_SIZE,
    BlobCorrupt,
    BlobMissing,
    BlobStore,
    BlobTooLarge,
    InvalidAddress,
    StoredBlob,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
RECORD = LENGTH_SIZE + CHUNK_SIZE + TAG_SIZE  # one full chunk on disk
MiB = 1024 * 1024


def payload(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def odd_chunks(total: int, seed: int = 1) -> Iterator[bytes]:
    """``total`` pseudo-random bytes in pieces of 1 byte .. 150 KB, each made on demand."""
    rng = random.Random(seed)
    left = total
    while left:
        n = min(left, rng.choice((1, 7, 4093, 65_535, 65_537, 150_001)))
        yield rng.randbytes(n)
        left -= n


def digest_of(chunks: Iterator[bytes]) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    for c in chunks:
        h.update(c)
        size += len(c)
    return h.hexdigest(), size


def blob_path(root: Path, address: str) -> Path:
    return root / address[:2] / address[2:]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", KEY)


# -- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"", bytes(31), bytes(33), "k" * 32])
def test_master_key_must_be_32_bytes(tmp_path: Path, key: object) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        BlobStore(tmp_path, key)  # type: ignore[arg-type]


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 17])
def test_round_trip(store: BlobStore, size: int) -> None:
    data = payload(size, seed=size)
    stored = store.put_stream([data], max_size=size)
    assert stored == StoredBlob(address=stored.address,
                                sha256=hashlib.sha256(data).hexdigest(), size=size)
    assert stored.address != stored.sha256
    assert store.read_all(stored.address, max_size=size) == data
    assert store.size(stored.address) == size
    assert store.exists(stored.address)
    chunks = list(store.open(stored.address))
    assert all(len(c) == CHUNK_SIZE for c in chunks[:-1])
    assert b"".join(chunks) == data
    # Canonical layout: full chunks, then a final one of 1..CHUNK_SIZE bytes (0 if empty).
    path = blob_path(store.root, stored.address)
    full, last = divmod(size, CHUNK_SIZE)
    if last == 0 and full:
        full, last = full - 1, CHUNK_SIZE
    assert path.stat().st_size == HEADER_SIZE + full * RECORD + LENGTH_SIZE + last + TAG_SIZE
    assert path.read_bytes()[: len(MAGIC)] == MAGIC
    assert files_under(store.root) == [path]


def test_chunking_of_the_input_does_not_matter(store: BlobStore) -> None:
    data = payload(3 * CHUNK_SIZE + 5)
    whole = store.put_stream([data], max_size=len(data))
    pieces = [data[i:i + 1000] for i in range(0, len(data), 1000)]
    split = store.put_stream([b"", *pieces, b""], max_size=len(data))
    as_views = store.put_stream([memoryview(data), bytearray()], max_size=len(data))
    assert whole == split == as_views


def test_four_megabytes_streamed_in_and_out_in_bounded_memory(store: BlobStore) -> None:
    total = 4 * MiB + 12_345
    expected, _ = digest_of(odd_chunks(total))

    tracemalloc.start()
    try:
        stored = store.put_stream(odd_chunks(total), max_size=total)
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got, size = digest_of(store.open(stored.address))
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (stored.sha256, stored.size) == (expected, total)
    assert (got, size) == (expected, total)
    print(f"4 MiB blob: peak traced memory put {put_peak // 1024} KiB, "
          f"read {get_peak // 1024} KiB")
    # A few chunks (the generator's largest piece is 150 KB), far from the 4 MiB content.
    assert put_peak < 1 * MiB
    assert get_peak < 1 * MiB


@pytest.mark.slow
def test_two_hundred_megabytes_streamed_in_bounded_memory(store: BlobStore) -> None:
    total = 200 * MiB
    tracemalloc.start()
    try:
        stored = store.put_stream(odd_chunks(total, seed=7), max_size=total)
        got, size = digest_of(store.open(stored.address))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (got, size) == (stored.sha256, total)
    print(f"200 MiB blob: peak traced memory {peak // 1024} KiB")
    assert peak < 2 * MiB


# -- addresses and de-duplication -------------------------------------------------------------


def test_same_content_is_stored_once(store: BlobStore) -> None:
    data = payload(100_000)
    first = store.put_stream([data], max_size=len(data))
    before = blob_path(store.root, first.address).read_bytes()
    second = store.put_stream([data[:10], data[10:]], max_size=len(data))
    assert first == second
    # The existing file is kept (the new copy, with its own salt, was discarded).
    assert blob_path(store.root, first.address).read_bytes() == before
    assert files_under(store.root) == [blob_path(store.root, first.address)]


def test_address_depends_on_the_master_key(tmp_path: Path) -> None:
    data = payload(5000)
    a = BlobStore(tmp_path / "a", KEY).put_stream([data], max_size=len(data))
    b_store = BlobStore(tmp_path / "b", OTHER_KEY)
    b = b_store.put_stream([data], max_size=len(data))
    assert a.sha256 == b.sha256 == hashlib.sha256(data).hexdigest()
    assert a.address != b.address
    assert hashlib.sha256(data).hexdigest() not in (a.address, b.address)
    # A store with another key cannot read the file either.
    blob_path(b_store.root, a.address).parent.mkdir(exist_ok=True)
    blob_path(b_store.root, a.address).write_bytes(
        blob_path(tmp_path / "a", a.address).read_bytes())
    with pytest.raises(BlobCorrupt):
        b_store.read_all(a.address, max_size=len(data))


def test_unknown_address_is_missing(store: BlobStore) -> None:
    address = "ab" * 32
    assert not store.exists(address)
    with pytest.raises(BlobMissing):
        store.open(address)
    with pytest.raises(KeyError):
        store.read_all(address, max_size=10)
    with pytest.raises(BlobMissing):
        store.size(address)
    assert store.delete(address) is False


def test_delete(store: BlobStore) -> None:
    stored = store.put_stream([b"hello"], max_size=5)
    assert store.delete(stored.address) is True
    assert not store.exists(stored.address)
    assert store.delete(stored.address) is False
    with pytest.raises(BlobMissing):
        store.read_all(stored.address, max_size=5)


BAD_ADDRESSES = [
    "",
    "../etc",
    "../../etc/passwd",
    "ab/" + "c" * 61,
    "zz" * 32,
    "a" * 63,
    "a" * 65,
    "A" * 64,
    "a" * 64 + "\n",
    "../" + "a" * 61,
    "/" + "a" * 63,
    "tmp" + "a" * 61,
]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_malformed_addresses_are_refused(store: BlobStore, address: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.open(address),
        lambda: store.read_all(address, max_size=1),
        lambda: store.size(address),
        lambda: store.exists(address),
        lambda: store.delete(address),
    ]
    for call in calls:
        with pytest.raises(InvalidAddress, match="64 lowercase hex"):
            call()
    assert isinstance(InvalidAddress("x"), ValueError)


# -- size limits and clean-up ---------------------------------------------------------------------


def test_too_large_leaves_nothing_behind(store: BlobStore) -> None:
    with pytest.raises(BlobTooLarge, match="limit of 1000000 bytes"):
        store.put_stream(odd_chunks(2 * MiB), max_size=1_000_000)
    assert files_under(store.root) == []
    assert (store.root / "tmp").is_dir()


def test_exactly_max_size_is_accepted(store: BlobStore) -> None:
    stored = store.put_stream(odd_chunks(CHUNK_SIZE * 2), max_size=CHUNK_SIZE * 2)
    assert stored.size == CHUNK_SIZE * 2
    with pytest.raises(BlobTooLarge):
        store.put_stream([b"x" * 11], max_size=10)


def test_failing_source_leaves_nothing_behind(store: BlobStore) -> None:
    def broken() -> Iterator[bytes]:
        yield payload(CHUNK_SIZE * 3)
        raise ConnectionResetError("upload aborted")

    with pytest.raises(ConnectionResetError):
        store.put_stream(broken(), max_size=10 * MiB)
    with pytest.raises(TypeError, match="bytes"):
        store.put_stream([b"ok", "not bytes"], max_size=100)  # type: ignore[list-item]
    assert files_under(store.root) == []


def test_read_all_respects_max_size(store: BlobStore) -> None:
    stored = store.put_stream([payload(3 * CHUNK_SIZE)], max_size=3 * CHUNK_SIZE)
    with pytest.raises(BlobTooLarge):
        store.read_all(stored.address, max_size=3 * CHUNK_SIZE - 1)


def test_reader_closes_its_file(store: BlobStore) -> None:
    stored = store.put_stream([payload(3 * CHUNK_SIZE)], max_size=3 * CHUNK_SIZE)
    with store.open(stored.address) as reader:
        assert len(next(reader)) == CHUNK_SIZE
    assert list(reader) == []
    abandoned = store.open(stored.address)
    next(abandoned)
    del abandoned
    gc.collect()  # no ResourceWarning (the suite turns warnings into errors)


# -- tampering ----------------------------------------------------------------------------


def _rejects(store: BlobStore, address: str, size: int) -> bool:
    try:
        store.read_all(address, max_size=size + CHUNK_SIZE)
    except BlobCorrupt:
        return True
    return False


def test_every_flipped_region_is_detected(store: BlobStore) -> None:
    size = 2 * CHUNK_SIZE + 1000  # chunks of 64 KiB, 64 KiB, 1000 bytes
    stored = store.put_stream([payload(size)], max_size=size)
    path = blob_path(store.root, stored.address)
    original = path.read_bytes()
    final = HEADER_SIZE + 2 * RECORD
    regions = {
        "magic": 0,
        "version": len(MAGIC),
        "salt (first byte)": len(MAGIC) + 1,
        "salt (last byte)": HEADER_SIZE - 1,
        "chunk 0 length": HEADER_SIZE + 2,
        "chunk 0 ciphertext": HEADER_SIZE + LENGTH_SIZE + 100,
        "chunk 0 tag": HEADER_SIZE + RECORD - 1,
        "chunk 1 length": HEADER_SIZE + RECORD + 3,
        "chunk 1 ciphertext": HEADER_SIZE + RECORD + LENGTH_SIZE,
        "chunk 1 tag": HEADER_SIZE + 2 * RECORD - TAG_SIZE,
        "final chunk length": final + 3,
        "final chunk ciphertext": final + LENGTH_SIZE + 999,
        "final chunk tag": len(original) - 1,
    }
    rejected = []
    for name, offset in regions.items():
        for bit in (0x01, 0x80):
            tampered = bytearray(original)
            tampered[offset] ^= bit
            path.write_bytes(tampered)
            if _rejects(store, stored.address, size):
                rejected.append(name)
    path.write_bytes(original)
    assert store.read_all(stored.address, max_size=size) == payload(size)
    n = 2 * len(regions)
    print(f"tampered blobs rejected {len(rejected)} of {n} (byte flips in every region)")
    assert len(rejected) == n


def test_flips_in_a_single_chunk_blob_are_detected(store: BlobStore) -> None:
    stored = store.put_stream([b"short secret"], max_size=100)
    path = blob_path(store.root, stored.address)
    original = path.read_bytes()
    rejected = 0
    for offset in range(len(original)):
        tampered = bytearray(original)
        tampered[offset] ^= 0x40
        path.write_bytes(tampered)
        rejected += _rejects(store, stored.address, 12)
        with pytest.raises(BlobCorrupt):
            store.size(stored.address)
    print(f"tampered blobs rejected {rejected} of {len(original)} (every byte of a small blob)")
    assert rejected == len(original)


def test_structural_tampering_is_detected(store: BlobStore, tmp_path: Path) -> None:
    size = 3 * CHUNK_SIZE + 500  # four chunks
    data = payload(size)
    stored = store.put_stream([data], max_size=size)
    path = blob_path(store.root, stored.address)
    original = path.read_bytes()
    header, body = original[:HEADER_SIZE], original[HEADER_SIZE:]
    records = [body[i * RECORD:(i + 1) * RECORD] for i in range(3)]
    last = body[3 * RECORD:]
    assert header + b"".join(records) + last == original

    # The same content stored again elsewhere: same key, same address, another salt.
    twin_store = BlobStore(tmp_path / "twin", KEY)
    assert twin_store.put_stream([data], max_size=size) == stored
    twin = blob_path(twin_store.root, stored.address).read_bytes()
    assert twin != original
    twin_records = [twin[HEADER_SIZE + i * RECORD:HEADER_SIZE + (i + 1) * RECORD]
                    for i in range(3)]
    other = store.put_stream([payload(size, seed=99)], max_size=size)
    other_bytes = blob_path(store.root, other.address).read_bytes()

    variants = {
        "truncated at a chunk boundary (final chunk dropped)": header + b"".join(records),
        "truncated to two chunks": header + b"".join(records[:2]),
        "truncated inside the final chunk": original[:-1],
        "truncated inside a middle chunk": original[: HEADER_SIZE + RECORD + 500],
        "truncated to the header": header,
        "truncated inside the header": original[:10],
        "empty file": b"",
        "chunks 0 and 1 swapped": header + records[1] + records[0] + records[2] + last,
        "middle chunk dropped": header + records[0] + records[2] + last,
        "middle chunk duplicated": header + records[0] + records[1] + records[1] + records[2]
        + last,
        "chunk 1 from a twin blob of the same content":
            header + records[0] + twin_records[1] + records[2] + last,
        "chunk 0 from another blob": header + other_bytes[HEADER_SIZE:HEADER_SIZE + RECORD]
        + b"".join(records[1:]) + last,
        "header (salt) from the twin blob": twin[:HEADER_SIZE] + body,
        "final chunk from the twin blob": header + b"".join(records) + twin[-len(last):],
        "full chunk appended": original + records[2],
        "final chunk appended again": original + last,
        "empty final chunk appended": original + TAG_SIZE.to_bytes(LENGTH_SIZE, "big")
        + bytes(TAG_SIZE),
        "trailing garbage": original + b"\x00",
        "another blob's file at this address": other_bytes,
    }
    rejected = []
    for name, content in variants.items():
        path.write_bytes(content)
        if _rejects(store, stored.address, size):
            rejected.append(name)
    path.write_bytes(original)
    assert store.read_all(stored.address, max_size=size) == data
    missed = set(variants) - set(rejected)
    print(f"tampered blobs rejected {len(rejected)} of {len(variants)} "
          "(truncation, reordering, splicing, extension, renaming)")
    assert not missed, missed


def test_corruption_mid_blob_raises_during_iteration(store: BlobStore) -> None:
    size = 3 * CHUNK_SIZE
    stored = store.put_stream([payload(size)], max_size=size)
    path = blob_path(store.root, stored.address)
    tampered = bytearray(path.read_bytes())
    tampered[HEADER_SIZE + RECORD + LENGTH_SIZE + 5] ^= 1  # chunk 1's ciphertext
    path.write_bytes(tampered)
    reader = store.open(stored.address)  # the final chunk is intact: opening succeeds
    assert store.size(stored.address) == size
    assert len(next(reader)) == CHUNK_SIZE
    with pytest.raises(BlobCorrupt, match="chunk 1"):
        next(reader)
    assert list(reader) == []  # closed after the failure
