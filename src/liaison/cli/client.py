"""The CLI's HTTP client and its saved session (``$LIAISON_HOME/session.json``, 0600)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import typer

from liaison.cli.output import CliConsole


class ApiError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def home() -> Path:
    return Path(os.environ.get("LIAISON_HOME") or Path.home() / ".liaison")


def session_file() -> Path:
    return home() / "session.json"


def save_session(url: str, token: str, user: str) -> Path:
    path = session_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "token": token, "user": user}, f)
    return path


def load_session() -> dict[str, str]:
    path = session_file()
    if not path.exists():
        return {}
    data: dict[str, str] = json.loads(path.read_text())
    return data


def forget_session() -> None:
    session_file().unlink(missing_ok=True)


class Api:
    """Calls one node's API; ``ApiError`` carries the node's own error message."""

    def __init__(self, url: str | None, token: str | None) -> None:
        saved = load_session()
        self.url = (url or os.environ.get("LIAISON_URL") or saved.get("url") or "").rstrip("/")
        self.token = token or os.environ.get("LIAISON_TOKEN") or saved.get("token")
        if not self.url:
            raise ApiError("no node URL: pass --url, set LIAISON_URL or run `liaison login`")

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """The JSON answer; on an error, print the node's message and exit 1."""
        return self.response(method, path, **kw).json()

    def text(self, path: str, **params: Any) -> str:
        """A text answer (e.g. an HTML transcript), with the same error handling."""
        return self.response("GET", path, params=params).text

    def response(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._request(method, path, **kw)
        except ApiError as exc:
            CliConsole(stderr=True).print(f"[red]error:[/] {exc.message}")
            raise typer.Exit(1) from exc

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.request(method, self.url + path, headers=headers, timeout=60.0,
                                     **kw)
        except httpx.ConnectError as exc:
            raise ApiError(f"cannot reach the node at {self.url}: is `liaison serve` "
                           f"running?") from exc
        if response.status_code >= 400:
            raise ApiError(error_message(response), response.status_code)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, json=body)

    def delete(self, path: str) -> None:
        """DELETE; the node answers 204 without a body."""
        self.response("DELETE", path)


def error_message(response: httpx.Response) -> str:
    """The node's own error message from an error answer (or its status and text)."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
