"""Encrypted, content-addressed store for attachments (satellite images, documents).

Blobs are streamed in and out in chunks of ``CHUNK_SIZE`` bytes and never held whole in
memory: writing keeps at most one chunk of plaintext pending, reading decrypts one chunk at
a time.

Addresses
---------
A blob's address is ``HMAC-SHA256(address_key, plaintext)`` in lowercase hex, where
``address_key = HKDF-SHA256(master, info=b"liaison blob address")``. Equal content under
the same master key gets the same address (so it is stored once), but because the address is
keyed, someone holding the disk and not the master key cannot tell whether a file they know
(a published image, a leaked document) is stored here by hashing it and looking for the
name. ``StoredBlob.sha256`` is the plain SHA-256 of the content: the integrity hash users and
partners compare, returned to the caller and never written to disk by this module. Note that
file sizes on disk still reveal each blob's plaintext length exactly.

Files live at ``root/<first 2 hex>/<other 62 hex>``; writes go to a temporary file in
``root/tmp/`` that is fsync'd and then renamed into place, so a reader never sees a partial
blob. Addresses are checked to be exactly 64 lowercase hex digits before any path is built.

File format (version 1)
-----------------------
::

    header  = MAGIC (7 bytes, b"LSNBLOB") || VERSION (1 byte, 0x01) || salt (32 bytes)
    file    = header || chunk_0 || ... || chunk_n
    chunk_i = u32be len(ct_i) || ct_i          ct_i = AES-256-GCM ciphertext || 16-byte tag

- Per-blob key: ``HKDF-SHA256(master, salt, info=b"liaison blob v1")`` with a fresh random
  salt for every write, so (key, nonce) pairs never repeat and chunks of different blobs —
  even of equal content — are encrypted under different keys.
- Nonce of chunk i: 4 zero bytes || u64be(i). A counter is safe because each key encrypts
  one blob only.
- AAD of chunk i: ``header || u64be(i) || final flag (1 byte, 0 or 1) || u64be(total)
  || address`` where, for the final chunk, ``total`` is the blob's plaintext length and
  ``address`` its 32-byte binary address; for every other chunk both are zero (8 and 32
  zero bytes). The header binds every chunk to its blob (and the version); the index and
  nonce prevent reordering; the final flag makes truncation at a chunk boundary and
  appending chunks fail; the address in the final chunk makes a blob renamed to another
  address fail.
- Layout is canonical: every chunk but the last holds exactly ``CHUNK_SIZE`` plaintext
  bytes; the last holds 1..``CHUNK_SIZE`` bytes (0 only for the empty blob, whose only chunk
  is its final one). So the file size alone fixes the number of chunks and where the final
  one starts.

Plaintext size
--------------
The plaintext length is authenticated by the final chunk's AAD. ``size()`` and ``open()``
compute the expected layout from the file size, read and authenticate the final chunk
(one chunk of work, whatever the blob's size) and only then report a size or yield data. So
before the first byte is yielded, the reader knows the file's final chunk is the one written
for this address, with this length. Each further chunk is authenticated as it is read; a
blob corrupted in the middle raises ``BlobCorrupt`` partway through the iteration, after
earlier chunks were yielded. Consumers must therefore treat streamed data as valid only once
the iteration has finished without error (or use ``read_all``). As a last check the reader
recomputes the address HMAC over the plaintext and compares it before yielding the final
chunk.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC: Final = b"LSNBLOB"
VERSION: Final = 1
SALT_SIZE: Final = 32
HEADER_SIZE: Final = len(MAGIC) + 1 + SALT_SIZE  # 40
CHUNK_SIZE: Final = 64 * 1024
TAG_SIZE: Final = 16
LENGTH_SIZE: Final = 4
KEY_SIZE: Final = 32
ADDRESS_INFO: Final = b"liaison blob address"
BLOB_KEY_INFO: Final = b"liaison blob v1"
# AES-GCM: keep well under 2**32 invocations per key (256 TiB at 64 KiB a chunk).
MAX_CHUNKS: Final = 2**32 - 1
TMP_DIR: Final = "tmp"

_ADDRESS_RE: Final = re.compile(r"[0-9a-f]{64}")
_FULL_RECORD: Final = LENGTH_SIZE + CHUNK_SIZE + TAG_SIZE
_ZERO_TOTAL: Final = bytes(8)
_ZERO_ADDRESS: Final = bytes(32)


class BlobCorrupt(ValueError):
    """A stored blob failed authentication, is truncated or extended, or has a bad header."""


class BlobTooLarge(ValueError):
    """More bytes arrived (or are stored) than the caller's ``max_size`` allows."""


class BlobMissing(KeyError):
    """No blob is stored at the address."""


class InvalidAddress(ValueError):
    """The string is not a blob address (64 lowercase hex digits)."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    address: str  # HMAC-SHA256 of the plaintext under the store's address key, hex
    sha256: str  # plain SHA-256 of the plaintext, hex
    size: int  # plaintext length in bytes


def check_address(address: str) -> str:
    """Return ``address`` if it is 64 lowercase hex digits, else raise ``InvalidAddress``."""
    if not isinstance(address, str) or _ADDRESS_RE.fullmatch(address) is None:
        raise InvalidAddress(f"not a blob address (64 lowercase hex digits): {address!r:.80}")
    return address


def _hkdf(master: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info).derive(master)


def _nonce(index: int) -> bytes:
    return bytes(4) + index.to_bytes(8, "big")


def _aad(header: bytes, index: int, final: bool, total: int, address: bytes) -> bytes:
    if final:
        return header + index.to_bytes(8, "big") + b"\x01" + total.to_bytes(8, "big") + address
    return header + index.to_bytes(8, "big") + b"\x00" + _ZERO_TOTAL + _ZERO_ADDRESS


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class _Layout:
    final_index: int  # number of full chunks before the final one
    final_plain: int  # plaintext bytes in the final chunk
    final_offset: int  # file offset of the final chunk's length field

    @property
    def total(self) -> int:
        return self.final_index * CHUNK_SIZE + self.final_plain


def _layout(file_size: int) -> _Layout:
    body = file_size - HEADER_SIZE
    empty_record = LENGTH_SIZE + TAG_SIZE
    if body < empty_record:
        raise BlobCorrupt("blob file is truncated")
    if body == empty_record:
        return _Layout(0, 0, HEADER_SIZE)
    full = (body - empty_record - 1) // _FULL_RECORD
    final_plain = body - empty_record - full * _FULL_RECORD
    if final_plain > CHUNK_SIZE:
        raise BlobCorrupt("blob file size does not match any valid chunk layout")
    return _Layout(full, final_plain, HEADER_SIZE + full * _FULL_RECORD)


def _read_exact(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise BlobCorrupt("blob file is truncated")
    return data


class BlobReader(Iterator[bytes]):
    """Iterator over a blob's decrypted chunks; see the module docstring for the guarantees.

    Holds the blob's file open until exhausted, closed, or used as a context manager.
    """

    def __init__(self, fh: BinaryIO, address: str, blob_key: bytes, header: bytes,
                 layout: _Layout, final_plain: bytes, address_key: bytes) -> None:
        self._fh: BinaryIO | None = fh
        self._address = address
        self._aead = AESGCM(blob_key)
        self._header = header
        self._layout = layout
        self._final_plain = final_plain
        self._mac = hmac.new(address_key, digestmod=hashlib.sha256)
        self._index = 0
        self.size = layout.total

    def __iter__(self) -> BlobReader:
        return self

    def __next__(self) -> bytes:
        fh = self._fh
        if fh is None:
            raise StopIteration
        try:
            if self._index < self._layout.final_index:
                plain = self._read_chunk(fh)
            else:
                plain = self._finish()
        except BaseException:
            self.close()
            raise
        if self._fh is None and not plain:
            raise StopIteration  # the empty blob yields nothing
        return plain

    def _read_chunk(self, fh: BinaryIO) -> bytes:
        length = int.from_bytes(_read_exact(fh, LENGTH_SIZE), "big")
        if length != CHUNK_SIZE + TAG_SIZE:
            raise BlobCorrupt(f"blob chunk {self._index} has a bad length field")
        ct = _read_exact(fh, length)
        try:
            plain = self._aead.decrypt(
                _nonce(self._index), ct, _aad(self._header, self._index, False, 0, b""))
        except InvalidTag:
            raise BlobCorrupt(f"blob chunk {self._index} failed authentication") from None
        self._mac.update(plain)
        self._index += 1
        return plain

    def _finish(self) -> bytes:
        plain = self._final_plain
        self._mac.update(plain)
        if not hmac.compare_digest(self._mac.hexdigest(), self._address):
            raise BlobCorrupt("blob content does not match its address")
        self.close()
        return plain

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class BlobStore:
    """Encrypted, content-addressed, streamed file store under ``root`` (see module doc)."""

    def __init__(self, root: Path, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_SIZE:
            raise ValueError(f"blob store master key must be {KEY_SIZE} bytes")
        self.root = Path(root)
        self._master = key
        self._address_key = _hkdf(key, None, ADDRESS_INFO)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._tmp = self.root / TMP_DIR
        self._tmp.mkdir(mode=0o700, exist_ok=True)

    # -- paths ---------------------------------------------------------------------------

    def _path(self, address: str) -> Path:
        check_address(address)
        return self.root / address[:2] / address[2:]

    # -- writing ---------------------------------------------------------------------------

    def put_stream(self, chunks: Iterable[bytes | bytearray | memoryview],
                   max_size: int) -> StoredBlob:
        """Store the concatenation of ``chunks`` (any sizes) and return its address.

        Raises ``BlobTooLarge`` as soon as more than ``max_size`` bytes have arrived; then,
        as on any other error (including one raised by ``chunks``), nothing is left behind.
        If a blob with the same address exists, the new copy is discarded.
        """
        if max_size < 0:
            raise ValueError("max_size must be >= 0")
        salt = secrets.token_bytes(SALT_SIZE)
        header = MAGIC + bytes([VERSION]) + salt
        aead = AESGCM(_hkdf(self._master, salt, BLOB_KEY_INFO))
        mac = hmac.new(self._address_key, digestmod=hashlib.sha256)
        sha = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(header)
                index = 0
                total = 0
                pending = bytearray()

                def emit(plain: bytes, final: bool, address: bytes) -> None:
                    nonlocal index
                    if index > MAX_CHUNKS:
                        raise BlobTooLarge("blob exceeds the per-key chunk limit")
                    ct = aead.encrypt(_nonce(index), plain,
                                      _aad(header, index, final, total, address))
                    out.write(len(ct).to_bytes(LENGTH_SIZE, "big"))
                    out.write(ct)
                    index += 1

                for piece in chunks:
                    if not isinstance(piece, bytes | bytearray | memoryview):
                        raise TypeError(f"blob chunks must be bytes, not {type(piece).__name__}")
                    view = memoryview(piece).cast("B")
                    total += len(view)
                    if total > max_size:
                        raise BlobTooLarge(f"blob exceeds the limit of {max_size} bytes")
                    sha.update(view)
                    mac.update(view)
                    offset = 0
                    # Emit a chunk only once more data is known to follow, so the final
                    # chunk is always the one written after the input ends.
                    while len(pending) + len(view) - offset > CHUNK_SIZE:
                        take = CHUNK_SIZE - len(pending)
                        pending += view[offset:offset + take]
                        offset += take
                        emit(bytes(pending), False, b"")
                        pending.clear()
                    pending += view[offset:]
                address_bin = mac.digest()
                emit(bytes(pending), True, address_bin)
                out.flush()
                os.fsync(out.fileno())
            address = address_bin.hex()
            final = self._path(address)
            if final.exists():
                tmp.unlink()
            else:
                fanout = final.parent
                if not fanout.is_dir():
                    fanout.mkdir(mode=0o700, exist_ok=True)
                    _fsync_dir(self.root)
                os.replace(tmp, final)
                _fsync_dir(fanout)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return StoredBlob(address=address, sha256=sha.hexdigest(), size=total)

    # -- reading ---------------------------------------------------------------------------

    def open(self, address: str) -> BlobReader:
        """Iterate over the blob's decrypted chunks.

        Raises ``InvalidAddress`` for a malformed address (before touching the file system),
        ``BlobMissing`` for an unknown one, and ``BlobCorrupt`` — here or during iteration —
        on a bad header, truncation, extension, or any authentication failure.
        """
        path = self._path(address)
        try:
            fh: BinaryIO = path.open("rb")
        except FileNotFoundError:
            raise BlobMissing(address) from None
        try:
            return self._start(fh, address)
        except BaseException:
            fh.close()
            raise

    def _start(self, fh: BinaryIO, address: str) -> BlobReader:
        header = _read_exact(fh, HEADER_SIZE)
        if header[: len(MAGIC)] != MAGIC:
            raise BlobCorrupt("not a blob file (bad magic)")
        if header[len(MAGIC)] != VERSION:
            raise BlobCorrupt(f"unsupported blob version {header[len(MAGIC)]}")
        salt = header[len(MAGIC) + 1:]
        layout = _layout(os.fstat(fh.fileno()).st_size)
        blob_key = _hkdf(self._master, salt, BLOB_KEY_INFO)
        fh.seek(layout.final_offset)
        length = int.from_bytes(_read_exact(fh, LENGTH_SIZE), "big")
        if length != layout.final_plain + TAG_SIZE:
            raise BlobCorrupt("blob final chunk has a bad length field")
        ct = _read_exact(fh, length)
        aad = _aad(header, layout.final_index, True, layout.total, bytes.fromhex(address))
        try:
            final_plain = AESGCM(blob_key).decrypt(_nonce(layout.final_index), ct, aad)
        except InvalidTag:
            raise BlobCorrupt("blob final chunk failed authentication") from None
        fh.seek(HEADER_SIZE)
        return BlobReader(fh, address, blob_key, header, layout, final_plain,
                          self._address_key)

    def read_all(self, address: str, max_size: int) -> bytes:
        """The whole plaintext; ``BlobTooLarge`` (before reading) if it exceeds ``max_size``."""
        with self.open(address) as reader:
            if reader.size > max_size:
                raise BlobTooLarge(
                    f"blob is {reader.size} bytes, over the limit of {max_size} bytes")
            return b"".join(reader)

    def size(self, address: str) -> int:
        """Plaintext length, authenticated by the final chunk (the rest is not read)."""
        with self.open(address) as reader:
            return reader.size

    def exists(self, address: str) -> bool:
        return self._path(address).is_file()

    def delete(self, address: str) -> bool:
        """Remove the blob; False if there was none."""
        path = self._path(address)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True
