"""HTTP beyond the JSON client: raw bodies, streamed answers, other headers. Used by the
commands that move files (attachments, labels) or speak another media type (TAXII); an
error prints the node's own message and exits 1, as the JSON client does."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from liaison.cli.client import Api, error_message
from liaison.cli.output import fail

CHUNK = 64 * 1024  # bytes read, sent and hashed at a time


def error_text(response: httpx.Response) -> str:
    """The node's message: its API error shape, or TAXII's (title, description)."""
    with suppress(ValueError):
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("description"), str):
            return str(body["description"])
    return error_message(response)


@contextmanager
def open_stream(api: Api, method: str, path: str, headers: dict[str, str] | None = None,
          **kw: Any) -> Iterator[httpx.Response]:
    """A streamed answer, with the client's error handling: on an error, print the node's
    message and exit 1."""
    sent = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    try:
        with httpx.stream(method, api.url + path, headers={**sent, **(headers or {})},
                          timeout=60.0, **kw) as response:
            if response.status_code >= 400:
                response.read()
                fail(error_text(response))
            yield response
    except httpx.ConnectError:
        fail(f"cannot reach the node at {api.url}: is `liaison serve` running?")
    except httpx.HTTPError as exc:
        fail(f"transfer with the node at {api.url} failed: {exc}")


def call_json(api: Api, method: str, path: str, headers: dict[str, str] | None = None,
          **kw: Any) -> Any:
    with open_stream(api, method, path, headers, **kw) as response:
        response.read()
        try:
            return response.json()
        except ValueError:
            fail(f"the node at {api.url} answered {path} with something other than JSON")


def file_chunks(file: Path) -> Iterator[bytes]:
    with file.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def sha256_of(file: Path) -> str:
    digest = hashlib.sha256()
    for chunk in file_chunks(file):
        digest.update(chunk)
    return digest.hexdigest()
