"""A real node (real database, real API through ASGI) for integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from liaison.api.app import create_app
from liaison.bootstrap import build_node, open_storage
from liaison.config import Settings
from liaison.services import agreements, auth
from liaison.services.context import utc_now
from liaison.services.setup import initialise_node

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
    with TestClient(create_app(node)) as client:
        tokens = {}
        for name in ["admin", *PEOPLE]:
            r = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["token"]
        yield NodeUnderTest(client, tokens, settings)
    node.engine.dispose()
