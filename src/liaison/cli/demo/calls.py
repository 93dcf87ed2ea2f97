"""What every demo step uses to talk to the nodes: calls that fail with the node's own
message, refusals that must happen, and waiting for something to arrive."""

from __future__ import annotations

import time
from typing import Any

import httpx


class StepFailed(RuntimeError):
    pass


def api(client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
    """Call the API; raise ``StepFailed`` with the node's own message on an error."""
    response = client.request(method, path, **kw)
    if response.status_code >= 400:
        raise StepFailed(f"HTTP {response.status_code}: {response.json()['error']['message']}")
    return response.json()


def refused(client: httpx.Client, method: str, path: str, **kw: Any) -> tuple[int, str]:
    """Call an API that must refuse; return its status and message."""
    response = client.request(method, path, **kw)
    if response.status_code < 400:
        raise StepFailed(f"{method} {path} was accepted but must be refused")
    return response.status_code, response.json()["error"]["message"]


def poll(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise StepFailed(f"nothing arrived within {timeout:.0f} s")
