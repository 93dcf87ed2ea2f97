"""HTTP transport to partner nodes (the protocol logic lives in services.federation)."""

from __future__ import annotations

from typing import Any

import httpx

INBOX = "/federation/v1/inbox"
CARD = "/federation/v1/card"


class TransportError(Exception):
    """The partner could not be reached or refused the envelope; retry later."""


class HttpTransport:
    def __init__(self, timeout: float = 30.0) -> None:
        self.client = httpx.AsyncClient(timeout=timeout)

    async def send(self, address: str, wire: bytes) -> bytes:
        try:
            response = await self.client.post(address + INBOX, content=wire, headers={
                "Content-Type": "application/octet-stream"})
        except httpx.HTTPError as exc:
            raise TransportError(f"{address}: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise TransportError(f"{address} answered {response.status_code}: "
                                 f"{response.text[:300]}")
        return response.content

    async def fetch_card(self, address: str) -> dict[str, Any]:
        try:
            response = await self.client.get(address + CARD)
            response.raise_for_status()
            data: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TransportError(f"cannot fetch the node card from {address}: {exc}") from exc
        return data

    async def close(self) -> None:
        await self.client.aclose()
