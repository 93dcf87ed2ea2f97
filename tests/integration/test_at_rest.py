"""Files at rest: everything a node writes is owner-only, whatever the directory's mode and
the umask it was started with; the SQLite file, its WAL and its FTS5 index are encrypted
(SQLCipher), and a wrong or missing key fails closed with an error a person can act on."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from liaison.cli.main import app
from liaison.domain.parties import default_parties
from liaison.domain.search import access_key
from liaison.storage.engine import AtRest, DatabaseKeyError, connect_file, make_engine
from tests.samples import image_item, png

from .node_fixtures import PASSWORD, SEED
from .processes import free_port, wait_for

CLI = [sys.executable, "-m", "liaison.cli.main"]
WORD = "Quetzalcoatlus"  # in a portion's text; the FTS5 token is its folded form
TITLE = "Ornithopter"
runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a separate process started with umask 022 (a typical login shell's)."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "LIAISON_ADMIN_PASSWORD": PASSWORD,
                               **(env or {})}, preexec_fn=lambda: os.umask(0o022))


def loose(root: Path) -> list[str]:
    """Files and directories under ``root`` that anyone but the owner may read or enter."""
    return [f"{p.relative_to(root)} {stat.filemode(p.stat().st_mode)}"
            for p in [root, *root.rglob("*")] if p.stat().st_mode & 0o077]


def holding(root: Path, *needles: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and any(n in p.read_bytes() for n in needles)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A node made by `liaison init` in an existing 0755 directory, serving, with a report
    and an attachment written through the API; stopped before the test reads its files."""
    tmp_path = tmp_path_factory.mktemp("at-rest")
    data = tmp_path / "kor"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # noqa: S103 - the operator's existing, world-readable directory
    for args in (("init", "--party", "KOR", "--admin", "admin"), ("import", str(SEED))):
        done = run(*args, "--data-dir", str(data))
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    log = tmp_path / "serve.log"  # outside the data directory: the harness writes it
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--data-dir", str(data), "--port", str(port),
             "--federation-port", str(free_port())], stdout=out, stderr=subprocess.STDOUT,
            env=os.environ.copy(), preexec_fn=lambda: os.umask(0o022))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url, proc), what=f"the node ({log.read_text()[-500:]})")
        _write(url)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        yield data, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _healthy(url: str, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "the node exited"
    try:
        return httpx.get(url + "/api/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _write(url: str) -> None:
    def token(user: str) -> str:
        r = httpx.post(url + "/api/auth/login", json={"username": user, "password": PASSWORD})
        r.raise_for_status()
        return str(r.json()["token"])

    admin = {"Authorization": f"Bearer {token('admin')}"}
    httpx.post(url + "/api/users", headers=admin, json={
        "username": "kim", "roles": ["analyst"], "clearance": "군사I급비밀",
        "password": PASSWORD}).raise_for_status()
    kim = {"Authorization": f"Bearer {token('kim')}"}
    up = httpx.post(url + "/api/attachments", content=png(), timeout=30,
                    headers={**kim, "Content-Type": "image/png"})
    assert up.status_code == 201, up.text
    item = image_item(up.json()["sha256"])
    item["title"] = f"{TITLE} over the apron"
    item["portions"][0]["content"] = f"two TELs and a {WORD} on the apron"
    made = httpx.post(url + "/api/items", headers=kim, json=item, timeout=30)
    assert made.status_code == 201, made.text
    found = httpx.get(url + "/api/search", headers=kim, params={"q": WORD.lower()})
    assert found.status_code == 200 and found.json()["total"] == 1, found.text


def test_everything_the_node_writes_is_owner_only(served: tuple[Path, str]) -> None:
    """Issue 18: `liaison init` into an existing 0755 directory left liaison.db 0644."""
    data, _ = served
    files = [p for p in data.rglob("*") if p.is_file()]
    assert {"liaison.db", "db.key", "blob.key", "tls.key"} <= {p.name for p in files}
    assert any("blobs" in p.parts for p in files)
    bad = loose(data)
    print(f"owner-only: {len(files) + 1 - len(bad)} of {len(files) + 1} files and the "
          f"data directory")
    assert not bad, bad


def test_the_database_and_its_search_index_are_encrypted_on_disk(
        served: tuple[Path, str]) -> None:
    """Someone with the disk finds no portion text, title or FTS token in any file."""
    data, _ = served
    needles = [w.encode() for w in (WORD, WORD.lower(), TITLE, TITLE.lower(), "TELs")]
    assert holding(data, *needles) == []
    with closing(connect_file(data / "liaison.db")) as db:  # the key reads it back
        bodies = [r[0] for r in db.execute("select body from search_text")]
        rank = default_parties()["KOR"].scheme.level("군사II급비밀").rank  # image_item's
        hits = db.execute("select count(*) from search_fts where search_fts match ?",
                          (access_key(rank, "") + WORD.lower(),)).fetchone()[0]
    assert any(WORD.lower() in b.lower() for b in bodies) and hits >= 1
    print(f"files holding portion text or FTS tokens: 0 of "
          f"{sum(1 for p in data.rglob('*') if p.is_file())}")


def test_the_grep_finds_text_in_a_file_the_operator_chose_to_keep_plaintext(
        tmp_path: Path) -> None:
    """The control for the test above: the same grep finds the text and the FTS5 token."""
    for name, chosen, expected in (("plain.db", AtRest(plaintext=True), ["plain.db"]),
                                   ("sealed.db", AtRest(), [])):
        engine = make_engine(f"sqlite:///{tmp_path / name}", chosen)
        with engine.begin() as conn:
            conn.exec_driver_sql("create table t(body)")
            conn.exec_driver_sql("create virtual table f using fts5(body, content='t')")
            conn.exec_driver_sql("insert into t values (?)", (f"a {WORD} here",))
            conn.exec_driver_sql("insert into f(rowid, body) select rowid, body from t")
        engine.dispose()
        assert [h for h in holding(tmp_path, WORD.lower().encode()) if h == name] == expected


def cli(*args: str, **env: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"LIAISON_ADMIN_PASSWORD": PASSWORD, **env})
    return result.exit_code, result.output


def agreements(data: Path, **at_rest: object) -> int:
    with closing(connect_file(data / "liaison.db", AtRest(**at_rest))) as db:  # type: ignore[arg-type]
        return int(db.execute("select count(*) from agreements").fetchone()[0])


@pytest.fixture
def node(tmp_path: Path) -> Path:
    data = tmp_path / "kor"
    assert cli("init", "--data-dir", str(data), "--party", "KOR", "--admin", "admin")[0] == 0
    assert cli("import", str(SEED), "--data-dir", str(data))[0] == 0
    return data


def test_a_wrong_or_missing_key_fails_closed_with_a_clear_error(node: Path) -> None:
    key = node / "keys" / "db.key"
    right = key.read_bytes()
    key.write_bytes(os.urandom(32))
    code, out = cli("audit", "verify", "--data-dir", str(node))
    assert code == 2 and "key is wrong" in out.replace("\n", " ")
    key.unlink()
    code, out = cli("import", str(SEED), "--data-dir", str(node))
    assert code == 2 and "key file" in out and "is missing" in out.replace("\n", " ")
    assert not key.exists()  # a missing key is never replaced by a new one
    key.write_bytes(right[:16])
    code, out = cli("audit", "verify", "--data-dir", str(node))
    assert code == 2 and "16 bytes" in out
    key.write_bytes(right)
    assert cli("audit", "verify", "--data-dir", str(node))[0] == 0


def test_a_passphrase_replaces_the_key_file(tmp_path: Path) -> None:
    data = tmp_path / "kor"
    secret = "correct horse battery staple"
    code, out = cli("init", "--data-dir", str(data), "--party", "KOR", "--admin", "admin",
                    LIAISON_DB_PASSPHRASE=secret)
    assert code == 0, out
    assert not (data / "keys" / "db.key").exists()
    code, out = cli("audit", "verify", "--data-dir", str(data),
                    LIAISON_DB_PASSPHRASE="wrong")
    assert code == 2 and "LIAISON_DB_PASSPHRASE" in out
    code, out = cli("audit", "verify", "--data-dir", str(data))  # no passphrase: no key
    assert code == 2 and "is missing" in out.replace("\n", " ")
    assert cli("audit", "verify", "--data-dir", str(data), LIAISON_DB_PASSPHRASE=secret)[0] == 0


def test_a_plaintext_database_is_refused_until_encrypted(tmp_path: Path) -> None:
    """A file from before encryption: refused with the command to run; `liaison db encrypt`
    keeps every row, and afterwards the file holds no text."""
    data = tmp_path / "kor"
    plain = {"LIAISON_DB_PLAINTEXT": "true"}
    assert cli("init", "--data-dir", str(data), "--party", "KOR", "--admin", "admin",
               **plain)[0] == 0
    assert cli("import", str(SEED), "--data-dir", str(data), **plain)[0] == 0
    before = agreements(data, plaintext=True)
    assert before > 0 and (data / "liaison.db").read_bytes().startswith(b"SQLite format 3")
    code, out = cli("audit", "verify", "--data-dir", str(data))
    assert code == 2 and "liaison db encrypt" in out
    code, out = cli("db", "encrypt", "--data-dir", str(data))
    assert code == 0, out
    assert agreements(data) == before
    assert b"SQLite format 3" not in (data / "liaison.db").read_bytes()
    assert not loose(data / "keys") and not loose(data / "liaison.db")
    assert cli("audit", "verify", "--data-dir", str(data))[0] == 0
    code, out = cli("db", "encrypt", "--data-dir", str(data))
    assert code == 2 and "already encrypted" in out


def test_without_sqlcipher_the_database_is_refused_not_kept_plaintext(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sqlcipher3", None)
    with pytest.raises(DatabaseKeyError, match="LIAISON_DB_PLAINTEXT"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert not (tmp_path / "x.db").exists()
