"""The node's private keys on disk: ``<data_dir>/keys``, directory 0700, files 0600.

``keys.json`` lists public halves with creation, expiry and revocation; private keys are
PEM files named by key id. The identity key is long-term (its fingerprint is exchanged out
of band); signing and encryption keys rotate under it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from liaison.crypto.envelope import key_id, raw_public
from liaison.crypto.keys import (
    Card,
    KeyError_,
    PublicKeyInfo,
    b64,
    load_ed25519,
    load_x25519,
    private_pem,
    public_info,
    sign_card,
)
from liaison.crypto.tls import cert_sha256, self_signed

MANIFEST = "keys.json"
T = TypeVar("T")


def fingerprint_of(identity: Ed25519PrivateKey) -> str:
    return key_id(raw_public(identity.public_key()))


def _write_private(path: Path, pem: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


class Keystore:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._manifest: dict[str, list[PublicKeyInfo]] = {}
        self._identity: Ed25519PrivateKey | None = None
        self._private: dict[str, Ed25519PrivateKey | X25519PrivateKey] = {}
        self._stamp: tuple[int, int] | None = None  # the key list file as last read

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.dir / MANIFEST).stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def _fresh(self) -> None:
        """Re-read the key list when another process changed it (``liaison keys rotate``
        or ``revoke`` while the node serves): a rotation takes effect without a restart
        (issue 17 point 7). A damaged list keeps the keys last read, and says so."""
        stamp = self._manifest_stamp()
        if stamp is None or stamp == self._stamp:
            return
        try:
            data = json.loads((self.dir / MANIFEST).read_text())
            self._manifest = {k: [PublicKeyInfo(**i) for i in v] for k, v in data.items()}
        except (ValueError, TypeError, AttributeError, OSError):
            return  # half-written by another process: read again next time
        self._stamp = stamp

    @classmethod
    def create(cls, directory: Path, now: datetime) -> Keystore:
        """New identity, signing and encryption keys; refuses to overwrite."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        if (directory / MANIFEST).exists():
            raise KeyError_(f"keys already exist in {directory}")
        identity = Ed25519PrivateKey.generate()
        _write_private(directory / "identity.pem", private_pem(identity))
        store = cls(directory)
        store._identity = identity
        store._manifest = {"signing": [], "encryption": []}
        store._add_pair(now)
        key_pem, cert_pem = self_signed(fingerprint_of(identity), [], now)
        _write_private(directory / "tls.key", key_pem)
        (directory / "tls.crt").write_bytes(cert_pem)
        return store

    @classmethod
    def load(cls, directory: Path) -> Keystore:
        """The node's keys; ``KeyError_`` naming the file when one is missing or damaged."""
        store = cls(directory)
        try:
            data = json.loads((directory / MANIFEST).read_text())
            store._manifest = {k: [PublicKeyInfo(**i) for i in v] for k, v in data.items()}
            store._stamp = store._manifest_stamp()
        except FileNotFoundError as exc:
            raise KeyError_(f"no node keys in {directory}: run `liaison init`") from exc
        except (ValueError, TypeError, AttributeError) as exc:  # bad JSON or shape
            raise KeyError_(f"the key list {directory / MANIFEST} is damaged ({exc}): "
                            f"restore the keys directory from its backup; nothing is signed "
                            f"or sent until then") from exc
        store._identity = _private_key(directory / "identity.pem", load_ed25519)
        return store

    def _add_pair(self, now: datetime) -> None:
        signer, enc = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
        for kind, key in (("signing", signer), ("encryption", enc)):
            info = public_info(key.public_key(), now)
            _write_private(self.dir / f"{info.id}.pem", private_pem(key))
            self._manifest[kind].append(info)
        self._save()

    def _save(self) -> None:
        data = {k: [asdict(i) for i in v] for k, v in self._manifest.items()}
        tmp = self.dir / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.chmod(tmp, 0o600)
        tmp.replace(self.dir / MANIFEST)
        self._stamp = self._manifest_stamp()

    def rotate(self, now: datetime, overlap: timedelta) -> None:
        """New signing and encryption keys; the current ones stay valid for ``overlap``."""
        expires = (now + overlap).isoformat()
        for kind in ("signing", "encryption"):
            self._manifest[kind] = [i if i.expires else replace(i, expires=expires)
                                    for i in self._manifest[kind]]
        self._add_pair(now)

    def revoke(self, key: str) -> None:
        found = False
        for kind, infos in self._manifest.items():
            self._manifest[kind] = [replace(i, revoked=True) if i.id == key else i
                                    for i in infos]
            found = found or any(i.id == key for i in infos)
        if not found:
            raise KeyError_(f"no key {key}")
        self._save()

    @property
    def identity(self) -> Ed25519PrivateKey:
        assert self._identity is not None
        return self._identity

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.identity)

    def current(self, kind: str, now: datetime) -> PublicKeyInfo:
        self._fresh()
        usable = [i for i in self._manifest[kind] if i.usable(now)]
        if not usable:
            raise KeyError_(f"no usable {kind} key: rotate the keys")
        return usable[-1]

    def signer(self, now: datetime) -> tuple[str, Ed25519PrivateKey]:
        info = self.current("signing", now)
        key = self._private.get(info.id)
        if not isinstance(key, Ed25519PrivateKey):
            key = self._private[info.id] = _private_key(self.dir / f"{info.id}.pem", load_ed25519)
        return info.id, key

    def decryptor(self, key_id: str, now: datetime) -> X25519PrivateKey | None:
        """This node's encryption key ``key_id`` while it is usable; ``None`` otherwise."""
        self._fresh()
        info = next((i for i in self._manifest["encryption"] if i.id == key_id), None)
        if info is None or not info.usable(now):
            return None
        key = self._private.get(key_id)
        if not isinstance(key, X25519PrivateKey):
            key = self._private[key_id] = _private_key(self.dir / f"{key_id}.pem", load_x25519)
        return key

    @property
    def tls_files(self) -> tuple[Path, Path]:
        """(certificate, private key) of the federation listener and client."""
        return self.dir / "tls.crt", self.dir / "tls.key"

    def card(self, party: str, address: str, now: datetime) -> Card:
        self._fresh()
        ident: Ed25519PublicKey = self.identity.public_key()
        cert = self.tls_files[0].read_bytes() if self.tls_files[0].exists() else b""
        card = Card(party, address, b64(raw_public(ident)),
                    tuple(self._manifest["signing"]), tuple(self._manifest["encryption"]),
                    cert_sha256(cert) if cert else "", now.isoformat(),
                    tls_cert=cert.decode())
        return sign_card(card, self.identity)


def _private_key(path: Path, load: Callable[[bytes], T]) -> T:
    try:
        return load(path.read_bytes())
    except FileNotFoundError as exc:
        raise KeyError_(f"no node keys: {path} is missing: run `liaison init`, or restore "
                        f"the keys directory from its backup") from exc
    except (ValueError, TypeError) as exc:  # not PEM, or not that kind of key
        raise KeyError_(f"the private key file {path} is damaged ({exc}): restore the keys "
                        f"directory from its backup") from exc
