"""Mutual TLS 1.3 between nodes, each partner pinned to the certificate in its signed card.

The server trusts exactly the certificates of its partners (added as they are); the client
trusts exactly the one partner it calls. Host names are not checked: the pin is stronger.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast


def server_context(cert: Path, key: Path, partner_certs: Iterable[str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(cert, key)
    for pem in partner_certs:
        trust(ctx, pem)
    return ctx


def trust(ctx: ssl.SSLContext, pem: str) -> None:
    """Add a partner's certificate to a live context (new handshakes see it)."""
    if pem:
        ctx.load_verify_locations(cadata=pem)


def client_context(cert: Path, key: Path, partner_cert: str) -> ssl.SSLContext:
    if not partner_cert:
        raise ssl.SSLError("the partner's card carries no TLS certificate to pin")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=partner_cert)
    ctx.load_cert_chain(cert, key)
    return ctx


def with_client_certificate(protocol: type[Any]) -> type[Any]:
    """``protocol`` (the server's HTTP protocol class) telling the app which certificate
    the partner presented in the handshake, as ASGI's TLS extension does:
    ``scope["extensions"]["tls"]["client_cert_chain"]``, a list of PEM certificates.
    The inbox checks it against the envelope's signed sender (issue 17 point 7)."""

    class WithClientCertificate(protocol):  # type: ignore[misc]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
            app: Any = cast(Any, self).app  # set by the base class

            async def app_with_tls(scope: Any, receive: Any, send: Any) -> None:
                tls = {**scope.get("extensions", {}).get("tls", {}), "client_cert_chain": chain}
                extensions = {**scope.get("extensions", {}), "tls": tls}
                await app({**scope, "extensions": extensions}, receive, send)

            self.app = app_with_tls

    return WithClientCertificate
