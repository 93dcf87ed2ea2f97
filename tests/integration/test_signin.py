"""Sign-in and tokens (issue 18), on a real node: API tokens over the API, the per-address
limit and body caps on a `liaison serve` process over real sockets, and the migration
that gives old API tokens an expiry."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa

from liaison.crypto.passwords import token_hash
from liaison.storage.schema import alembic_config

from .node_fixtures import PASSWORD, NodeUnderTest
from .processes import NodeProcess

MIB = 1024 * 1024


# API tokens over the API


def test_api_tokens_expire_and_are_listed_and_revoked_by_owner_and_admin(
        kor: NodeUnderTest) -> None:
    made = kor.post("kim", "/api/tokens", json={"name": "ci"})
    assert made.status_code == 201, made.text
    token, tid = made.json()["token"], made.json()["id"]
    expires = datetime.fromisoformat(made.json()["expires_at"])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    tool = {"Authorization": f"Bearer {token}"}
    assert kor.client.get("/api/me", headers=tool).json()["username"] == "kim"
    mine = kor.get("kim", "/api/tokens").json()
    assert tid in [t["id"] for t in mine] and token not in str(mine)
    assert tid in [t["id"] for t in kor.get("admin", "/api/users/kim/tokens").json()]
    assert kor.get("lee", "/api/users/kim/tokens").status_code == 403
    assert kor.client.delete(f"/api/users/kim/tokens/{tid}",
                             headers=kor.as_("lee")).status_code == 403
    too_long = kor.post("kim", "/api/tokens", json={"name": "forever", "days": 3650})
    assert too_long.status_code == 422 and "1 to 365 days" in too_long.text, too_long.text
    assert kor.client.delete(f"/api/tokens/{tid}", headers=kor.as_("kim")).status_code == 200
    refused = kor.client.get("/api/me", headers=tool)
    assert refused.status_code == 401
    second = kor.post("kim", "/api/tokens", json={"name": "ci2", "days": 7}).json()
    assert kor.client.delete(f"/api/users/kim/tokens/{second['id']}",
                             headers=kor.as_("admin")).status_code == 200
    assert kor.client.get("/api/me", headers={
        "Authorization": f"Bearer {second['token']}"}).status_code == 401


def test_a_password_reset_or_change_revokes_api_tokens_and_sign_out_keeps_them(
        kor: NodeUnderTest) -> None:
    """Issue 18: API tokens survived sign-out and a password reset. Sign-out ends the
    session only (API tokens are separate credentials); a reset or change ends all."""
    api = kor.post("jung", "/api/tokens", json={"name": "tool"}).json()["token"]
    tool = {"Authorization": f"Bearer {api}"}
    assert kor.post("jung", "/api/auth/logout").status_code == 200
    assert kor.get("jung", "/api/me").status_code == 401
    assert kor.client.get("/api/me", headers=tool).status_code == 200
    r = kor.client.put("/api/users/jung/password", headers=kor.as_("admin"),
                       json={"password": "a brand new password"})
    assert r.status_code == 200, r.text
    assert kor.client.get("/api/me", headers=tool).status_code == 401
    # the user's own change: the current password first, then every token is revoked
    session = kor.client.post("/api/auth/login", json={
        "username": "jung", "password": "a brand new password"}).json()["token"]
    own = {"Authorization": f"Bearer {session}"}
    api = kor.client.post("/api/tokens", headers=own, json={"name": "t"}).json()["token"]
    wrong = kor.client.put("/api/me/password", headers=own,
                           json={"current": PASSWORD, "password": "yet another password"})
    assert wrong.status_code == 403 and "current password" in wrong.text
    done = kor.client.put("/api/me/password", headers=own, json={
        "current": "a brand new password", "password": "yet another password"})
    assert done.status_code == 200 and done.json()["tokens_revoked"] == 2, done.text
    for headers in (own, {"Authorization": f"Bearer {api}"}):
        assert kor.client.get("/api/me", headers=headers).status_code == 401


def test_old_api_tokens_get_an_expiry_at_migration(tmp_path: Path) -> None:
    from alembic import command

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0014")
        for name, kind, revoked in (("old", "api", False), ("gone", "api", True)):
            conn.execute(sa.text(
                "INSERT INTO tokens (token_hash, username, kind, name, created_at, "
                "expires_at, revoked) VALUES (:h, 'kim', :kind, :name, :at, NULL, :rev)"),
                {"h": token_hash(name), "kind": kind, "name": name, "rev": revoked,
                 "at": datetime(2020, 1, 1, tzinfo=UTC)})
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        rows = dict(conn.execute(sa.text("SELECT name, expires_at FROM tokens")).all())
    engine.dispose()
    assert rows["gone"] is None
    assert rows["old"] is not None


# A real `liaison serve` over real sockets


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    n = NodeProcess("KOR", tmp_path_factory.mktemp("signin"))
    n.init()
    try:
        yield n
    finally:
        n.stop()


def _restart(node: NodeProcess, env: dict[str, str] | None = None) -> None:
    node.stop()
    node.start(env=env)


def _sign_in_failures(node: NodeProcess, forwarded_for: list[str]) -> list[int]:
    """A failed sign-in per address claimed, each for a different username (the
    per-username limit stays out of it); the statuses."""
    with httpx.Client(base_url=node.url, timeout=30) as client:
        return [client.post("/api/auth/login", json={"username": f"nobody{i}",
                                                     "password": "wrong password"},
                            headers={"X-Forwarded-For": xff}).status_code
                for i, xff in enumerate(forwarded_for)]


def test_the_sign_in_limit_follows_the_real_peer_unless_a_proxy_is_trusted(
        node: NodeProcess) -> None:
    """Issue 18: the per-address limit followed X-Forwarded-For from loopback, so each
    attempt could claim a new address. Without trusted proxies the header is ignored."""
    _restart(node, {"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "5"})
    claimed = [f"203.0.113.{i}" for i in range(8)]
    statuses = _sign_in_failures(node, claimed)
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3, statuses
    print(f"spoofed X-Forwarded-For: limited after 5, refused {statuses.count(429)} of 3")
    # behind a trusted proxy (here: loopback), the client is the right-most untrusted hop
    _restart(node, {"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "5",
                    "LIAISON_TRUSTED_PROXIES": "127.0.0.0/8, ::1"})
    spread = _sign_in_failures(node, [f"198.51.100.7, 203.0.113.{i}, 127.0.0.1"
                                      for i in range(8)])
    assert spread == [401] * 8, spread
    one = _sign_in_failures(node, [f"198.51.100.{i}, 203.0.113.99" for i in range(8)])
    assert one[:5] == [401] * 5 and one[5:] == [429] * 3, one


def _rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / MIB


def _send_huge(port: int, path: str, declared: bool, headers: str = "") -> tuple[str, int,
                                                                                 float]:
    """Send a 64 MiB body (declared by Content-Length, or chunked) in 64 KiB writes until
    the server answers; the status line, the bytes sent by then and the seconds taken."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    length = "Content-Length: 67108864\r\n" if declared else "Transfer-Encoding: chunked\r\n"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                 f"\r\n{headers}{length}\r\n".encode())
    block = b"[" + b"1," * (32 * 1024 - 1) + b"1"  # 64 KiB of JSON that never ends
    chunk = (f"{len(block):x}\r\n".encode() + block + b"\r\n") if not declared else block
    sent, began = 0, time.monotonic()
    sock.setblocking(False)
    answer = b""
    try:
        while sent < 64 * MIB and time.monotonic() - began < 30:
            try:
                answer += sock.recv(65536)
                if b"\r\n\r\n" in answer:
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.001)
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        sock.settimeout(10)
        while b"\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    finally:
        sock.close()
    return answer.split(b"\r\n")[0].decode(), sent, time.monotonic() - began


def test_a_huge_unauthenticated_body_is_refused_before_it_is_read(node: NodeProcess) -> None:
    """Issue 18: an unauthenticated 64 MiB sign-in body was read and parsed in full. Now
    413 at once when declared, and as soon as 64 KiB have streamed in when chunked (401
    on a route that needs credentials: who asks comes before the size); the node's memory
    does not grow with the body."""
    _restart(node)
    assert node.proc is not None
    before = _rss_mb(node.proc.pid)
    results = []
    for path, declared, answer in (("/api/auth/login", True, 413),
                                   ("/api/auth/login", False, 413),
                                   ("/api/items", True, 401), ("/api/items", False, 401)):
        status, sent, took = _send_huge(node.port, path, declared)
        assert f" {answer} " in status, (path, declared, status)
        assert sent < 16 * MIB and took < 10, (path, declared, sent, took)
        results.append((path, declared, sent, took))
    grew = _rss_mb(node.proc.pid) - before
    assert grew < 32, f"the node grew {grew:.0f} MiB"
    print(f"64 MiB unauthenticated bodies refused unread: {len(results)} of 4 "
          f"(most sent before the answer {max(r[2] for r in results) / MIB:.1f} MiB, "
          f"slowest {max(r[3] for r in results):.2f} s, node grew {grew:.1f} MiB)")


def test_signed_in_bodies_have_their_route_caps_and_uploads_still_work(
        node: NodeProcess) -> None:
    _restart(node, {"LIAISON_MAX_BODY_KB": "1024", "LIAISON_MAX_ATTACHMENT_MB": "4"})
    token = node.login()
    auth = f"Authorization: Bearer {token}\r\n"
    status, sent, _ = _send_huge(node.port, "/api/items", True, auth)
    assert " 413 " in status, status
    status, sent, _ = _send_huge(node.port, "/api/items", False, auth)
    assert " 413 " in status and sent < 16 * MIB, (status, sent)
    node.call("POST", "/api/users", json={"username": "ana", "roles": ["analyst"],
                                          "clearance": "대외비", "password": PASSWORD})
    analyst = node.login("ana")
    data = bytes(range(256)) * (3 * 4096)  # 3 MiB: over the JSON cap, under the upload cap
    headers = {"Authorization": f"Bearer {analyst}", "Content-Type": "application/pdf"}
    stored = httpx.post(node.url + "/api/attachments", content=data, headers=headers,
                        timeout=30)
    assert stored.status_code == 201, stored.text
    assert stored.json()["size"] == len(data)
    big = httpx.post(node.url + "/api/attachments", content=data * 2, headers=headers,
                     timeout=30)
    assert big.status_code == 413, big.text


def test_the_token_cli_makes_lists_and_revokes(node: NodeProcess) -> None:
    from typer.testing import CliRunner

    from liaison.cli.main import app

    if node.proc is None or node.proc.poll() is not None:
        node.start()
    admin = node.login()
    node.call("POST", "/api/users", json={"username": "cli-user", "roles": ["analyst"],
                                          "clearance": "대외비", "password": PASSWORD})
    user = node.login("cli-user")
    runner = CliRunner()

    def liaison(*args: str, token: str) -> str:
        result = runner.invoke(app, [*args, "--url", node.url, "--token", token])
        assert result.exit_code == 0, result.output
        return result.output

    made = json.loads(liaison("token", "create", "ci", "--days", "30", "--json", token=user))
    assert made["token"].startswith("lsn_")
    listed = json.loads(liaison("token", "list", "--json", token=user))
    assert made["id"] in [t["id"] for t in listed]
    seen = json.loads(liaison("token", "list", "--user", "cli-user", "--json", token=admin))
    assert made["id"] in [t["id"] for t in seen]
    out = liaison("token", "revoke", made["id"], "--user", "cli-user", token=admin)
    assert f"token {made['id']}" in out and "revoked" in out
    assert httpx.get(node.url + "/api/me", headers={
        "Authorization": f"Bearer {made['token']}"}).status_code == 401
    refused = runner.invoke(app, ["token", "list", "--user", "admin", "--url", node.url,
                                  "--token", user])
    assert refused.exit_code == 1 and "administrator" in refused.output
