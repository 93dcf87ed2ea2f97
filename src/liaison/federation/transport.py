"""HTTP transport to partner nodes (the protocol logic lives in services.federation)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from liaison.domain.partner_address import AddressRefused, federation_address
from liaison.federation.tls import client_context
from liaison.services.ports import Peer

INBOX = "/federation/v1/inbox"
CARD = "/federation/v1/card"


class TransportError(Exception):
    """The partner could not be reached or refused the envelope; retry later."""


class HttpTransport:
    """A first card over the address an administrator gives (``peer add``: the
    fingerprint exchanged out of band is what makes it trusted); envelopes and refreshed
    cards over mutual TLS 1.3 to the federation address in its card, pinned to the
    certificate in its card."""

    def __init__(self, tls_files: tuple[Path, Path] | None, timeout: float = 30.0) -> None:
        self.tls_files, self.timeout = tls_files, timeout
        self.client = httpx.AsyncClient(timeout=timeout)
        self._pinned: dict[tuple[str, str], httpx.AsyncClient] = {}

    @staticmethod
    def _address(peer: Peer) -> str:
        try:
            return federation_address(peer.address)
        except AddressRefused as exc:
            raise TransportError(f"not sent to {peer.party}: {exc}") from exc

    def _for(self, peer: Peer) -> httpx.AsyncClient:
        key = (peer.party, peer.card.tls_cert_sha256)
        if key not in self._pinned:
            if self.tls_files is None:
                raise TransportError("this node has no TLS certificate: run `liaison init`")
            ctx = client_context(*self.tls_files, peer.card.tls_cert)
            self._pinned[key] = httpx.AsyncClient(verify=ctx, timeout=self.timeout)
        return self._pinned[key]

    async def send(self, peer: Peer, wire: bytes) -> bytes:
        """Post ``wire`` to the partner's inbox, only over https with mutual TLS pinned to
        its card: an address stored before cards were checked, or changed since, that is
        anything else is refused here, unsent (fail closed)."""
        address = self._address(peer)
        try:
            response = await self._for(peer).post(address + INBOX, content=wire, headers={
                "Content-Type": "application/octet-stream"})
        except (httpx.HTTPError, ssl.SSLError) as exc:
            raise TransportError(f"{address}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code != 200:
            raise TransportError(f"{address} answered {response.status_code}: "
                                 f"{response.text[:300]}")
        return response.content

    def fetch_card_pinned(self, peer: Peer) -> dict[str, Any]:
        """The partner's current card, from its federation address over mutual TLS pinned
        to the certificate on the card held (a refresh: ``services.card_refresh``). Blocking:
        called from the worker threads that verify envelopes and receipts."""
        return fetch_card_pinned(self.tls_files, peer, self.timeout)

    async def fetch_card(self, address: str) -> dict[str, Any]:
        try:
            response = await self.client.get(address + CARD)
            response.raise_for_status()
            data: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TransportError(f"cannot fetch the node card from {address}: {exc}") from exc
        return data

    async def close(self) -> None:
        for client in (self.client, *self._pinned.values()):
            await client.aclose()


def fetch_card_pinned(tls_files: tuple[Path, Path] | None, peer: Peer,
                      timeout: float = 10.0) -> dict[str, Any]:
    """``GET /federation/v1/card`` at the partner's federation address (https only, as
    ``partner_address`` requires), with this node's client certificate, the server pinned
    to the partner's certificate on the card held. ``TransportError`` otherwise."""
    address = HttpTransport._address(peer)
    if tls_files is None:
        raise TransportError("this node has no TLS certificate: run `liaison init`")
    try:
        ctx = client_context(*tls_files, peer.card.tls_cert)
        with httpx.Client(verify=ctx, timeout=timeout) as client:
            response = client.get(address + CARD)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ssl.SSLError, ValueError) as exc:
        raise TransportError(f"cannot fetch the node card from {address}: "
                             f"{exc.__class__.__name__}: {exc}") from exc
    if not isinstance(data, dict):
        raise TransportError(f"the node card from {address} is not a JSON object")
    return data
