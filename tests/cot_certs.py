"""Certificates for the CoT port over TLS: a CA, and the port's, sensors' and TAK
clients' certificates it issues, each known by its common name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def issue(root: Path, name: str, ca: tuple[x509.Certificate, Any] | None) -> tuple[
        x509.Certificate, Any]:
    """A certificate for ``name`` (self-signed as a CA when ``ca`` is None), written to
    ``name.pem`` and ``name.key``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_cert, issuer_key = ca if ca else (None, key)
    cert = (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(issuer_cert.subject if issuer_cert else subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(datetime.now(UTC) - timedelta(days=1))
            .not_valid_after(datetime.now(UTC) + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None),
                           critical=True)
            .sign(issuer_key, hashes.SHA256()))
    (root / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert, key
