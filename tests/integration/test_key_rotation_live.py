"""Issue 17 point 7: this node's own key rotation takes effect without a restart. A real
node serves; `liaison keys rotate` runs beside it (another process, the same keys
directory); the card the serving node hands out lists the new keys at once, and the old
ones with their expiry, and a revocation likewise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .processes import NodeProcess, cli


@pytest.fixture
def kor(tmp_path: Path) -> Iterator[NodeProcess]:
    node = NodeProcess("KOR", tmp_path)
    try:
        node.init()
        node.start()
        yield node
    finally:
        node.stop()


def card(node: NodeProcess) -> dict[str, Any]:
    got: dict[str, Any] = httpx.get(f"{node.url}/federation/v1/card", timeout=30).json()
    return got


def test_a_rotation_beside_the_serving_node_takes_effect_at_once(kor: NodeProcess) -> None:
    before = card(kor)
    (old,) = before["signing_keys"]
    assert old["expires"] is None
    cli("keys", "rotate", "--data-dir", kor.data, "--overlap-days", "7")
    after = card(kor)
    ids = [k["id"] for k in after["signing_keys"]]
    assert ids[0] == old["id"] and len(ids) == 2
    assert after["signing_keys"][0]["expires"] and after["signing_keys"][1]["expires"] is None
    assert len(after["encryption_keys"]) == 2
    cli("keys", "revoke", old["id"], "--data-dir", kor.data)
    assert card(kor)["signing_keys"][0]["revoked"] is True
