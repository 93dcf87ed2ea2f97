"""A real node (real database, real API through ASGI) for integration tests."""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import yaml
from fastapi.testclient import TestClient
from psycopg import sql

from liaison.config import Settings
from liaison.node.composition import build_node, open_storage
from liaison.node.serving import api_app
from liaison.services import agreements, auth
from liaison.services.context import utc_now
from liaison.services.setup import initialise_node

from ..servers import admin_url, create_database, drop_database

SEED = Path(__file__).parents[2] / "src" / "liaison" / "reference" / "seed.yaml"
PASSWORD = "correct horse battery staple"

PEOPLE = {
    "kim": (["analyst"], "군사I급비밀", None),
    "jung": (["analyst"], "군사III급비밀", ["DPRK"]),
    "lee": (["release_officer"], "군사I급비밀", None),
    "park": (["reviewer"], "군사I급비밀", None),
    "choi": (["reviewer"], "군사I급비밀", None),
    "han": (["release_officer", "reviewer"], "군사I급비밀", None),
    "yoon": (["watch_officer"], "대외비", None),
}


@dataclass
class NodeUnderTest:
    client: TestClient
    tokens: dict[str, str]
    settings: Settings

    def as_(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, user: str, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.as_(user), **kw)

    def post(self, user: str, path: str, **kw: Any) -> Any:
        return self.client.post(path, headers=self.as_(user), **kw)


def start_node(settings: Settings, party: str = "KOR") -> Iterator[NodeUnderTest]:
    """A node for one test: a copy of a node made once per party and backend (initialised,
    seeded with the agreements and PEOPLE, everyone signed in), so a test pays a file or
    database copy instead of key generation, migrations and a dozen Argon2 hashes."""
    key = (party, "postgres" if settings.database_url else "sqlite")
    if key not in _MADE:
        _MADE[key] = _make(settings, party)
    made = _MADE[key]
    shutil.copytree(made.data_dir, settings.data_dir)
    if settings.database_url:
        assert made.database_url is not None
        _clone_database(made.database_url, settings.database_url)
    node = build_node(settings)
    with TestClient(api_app(node)) as client:
        yield NodeUnderTest(client, dict(made.tokens), settings)
    node.engine.dispose()


@dataclass(frozen=True)
class _Made:
    data_dir: Path
    database_url: str | None
    tokens: dict[str, str]


_MADE: dict[tuple[str, str], _Made] = {}


def _make(like: Settings, party: str) -> _Made:
    data_dir = Path(tempfile.mkdtemp(prefix=f"liaison-{party.lower()}-made-")) / "node"
    atexit.register(shutil.rmtree, data_dir.parent, True)
    database_url = None
    if like.database_url:
        server = _server_of(like.database_url)
        database_url = create_database(server)
        atexit.register(_drop_quietly, server, database_url)
    settings = Settings(data_dir=data_dir, database_url=database_url)
    engine, uow = open_storage(settings)
    initialise_node(uow, party, "admin", PASSWORD, utc_now)
    engine.dispose()
    node = build_node(settings)
    admin = next(u for u in auth.list_users(node.deps) if u.username == "admin")
    for data in yaml.safe_load(SEED.read_text())["agreements"]:
        agreements.add_agreement(node.deps, admin, data)
    levels = {lv.name: lv.rank for lv in
              next(p for p in agreements.list_parties(node.deps) if p.code == party).scheme.levels}
    for name, (roles, clearance, topics) in PEOPLE.items():
        user = auth.user_from({"username": name, "roles": roles, "clearance": clearance,
                               "topics": topics}, levels)
        auth.create_user(node.deps, "admin", user, PASSWORD)
    with TestClient(api_app(node)) as client:
        tokens = {}
        for name in ["admin", *PEOPLE]:
            r = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["token"]
    node.engine.dispose()
    return _Made(data_dir, database_url, tokens)


def _server_of(database_url: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path="/postgres"))


def _clone_database(template_url: str, url: str) -> None:
    """Replace the empty database at ``url`` with a copy of the one at ``template_url``."""
    server = admin_url(_server_of(url))
    name = urlsplit(url).path.lstrip("/")
    template = urlsplit(template_url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))


def _drop_quietly(server: str, url: str) -> None:
    with contextlib.suppress(Exception):  # the throw-away server may be gone already
        drop_database(server, url)
