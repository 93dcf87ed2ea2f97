"""The product commands of the CLI (attachments, NATO labels, the content check, TAXII)
run as `liaison …` processes against a real `liaison serve` process; the download's hash
check and TAXII paging also against a scripted node (a real HTTP server on a loopback port),
where the answers can be made wrong."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.samples import image_item, png

from .node_fixtures import PASSWORD
from .processes import CLI, NodeProcess
from .test_federation import ITEM, STAFF, label

TEXT = "two TELs on the apron"  # portion p1 of image_item: what its binding covers


class Node:
    """A node process and a signed-in token per user."""

    def __init__(self, proc: NodeProcess, home: Path) -> None:
        self.proc, self.home = proc, home
        self.tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = self.proc.login(user)
        return self.tokens[user]

    def run(self, user: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`liaison ARGS` as ``user``; the node's URL and token come from the environment."""
        env = {**os.environ, "COLUMNS": "250", "LIAISON_HOME": str(self.home),
               "LIAISON_URL": self.proc.url, "LIAISON_TOKEN": self.token(user)}
        return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False,
                              env=env)

    def ok(self, user: str, *args: str) -> str:
        done = self.run(user, *args)
        assert done.returncode == 0, f"liaison {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("product-cli")
    proc = NodeProcess("KOR", tmp)
    try:
        proc.init()
        proc.start(env={"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000"})
        proc.login()
        for name, roles in STAFF.items():
            proc.call("POST", "/api/users", json={"username": name, "roles": roles,
                                                  "clearance": "군사I급비밀",
                                                  "password": PASSWORD})
        node = Node(proc, tmp / "home")
        node.tokens["admin"] = proc.token
        yield node
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def image(kor: Node, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A PNG uploaded through the CLI and the item IMG1 whose portion p2 shows it."""
    tmp = tmp_path_factory.mktemp("image")
    picture = tmp / "apron.png"
    picture.write_bytes(png())
    up = json.loads(kor.ok("kim", "attachments", "upload", str(picture), "--json"))
    kor.proc.call("POST", "/api/items", kor.token("kim"), json=image_item(up["sha256"]))
    return {"path": picture, **up}


def test_an_upload_is_streamed_and_a_download_is_checked(kor: Node, image: dict[str, Any],
                                                         tmp_path: Path) -> None:
    data = image["path"].read_bytes()
    assert image["sha256"] == hashlib.sha256(data).hexdigest()
    assert (image["size"], image["media_type"]) == (len(data), "image/png")  # from .png
    got = tmp_path / "got.png"
    said = kor.ok("lee", "attachments", "get", "IMG1", "p2", "--output", str(got))
    assert got.read_bytes() == data
    assert image["sha256"] in said and "verified" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["got.png"]  # no partial file left

    refused = kor.run("kim", "attachments", "get", "IMG1", "p1", "--output",
                      str(tmp_path / "none"))
    assert refused.returncode == 1 and "error:" in refused.stderr  # p1 has no file
    assert not (tmp_path / "none").exists()


def test_a_label_is_exported_and_its_binding_verifies_unless_tampered(
        kor: Node, image: dict[str, Any], tmp_path: Path) -> None:
    xml = kor.ok("kim", "labels", "export", "IMG1", "p1")
    assert "originatorConfidentialityLabel" in xml and "군사II급비밀" in xml
    label_file = tmp_path / "p1.label.xml"
    label_file.write_text(xml, encoding="utf-8")
    read = kor.ok("kim", "labels", "import", str(label_file))
    assert read.startswith("label: 군사II급비밀 (policy KOR") and "alternative: " in read
    label_file.write_text(xml.replace("군사II급비밀", "군사II급"), encoding="utf-8")
    unknown = kor.run("kim", "labels", "import", str(label_file))
    assert unknown.returncode == 1 and "label rejected" in unknown.stderr
    binding, data = tmp_path / "p1.binding.xml", tmp_path / "p1.txt"
    kor.ok("kim", "labels", "export", "IMG1", "p1", "--binding", "--output", str(binding))
    data.write_text(TEXT, encoding="utf-8")
    said = kor.ok("park", "labels", "verify", str(binding), "--signer", "KOR", "--data",
                  str(data))
    assert said.startswith("verified: 군사II급비밀 (policy KOR")
    assert "REL TO JPN, USA" in said

    image_binding = tmp_path / "p2.binding.xml"  # the image's binding covers the file
    kor.ok("kim", "labels", "export", "IMG1", "p2", "--binding", "-o", str(image_binding))
    kor.ok("kim", "labels", "verify", str(image_binding), "--signer", "kor", "--data",
           str(image["path"]))
    kor.ok("kim", "labels", "verify", str(image_binding), "--signer", "KOR", "--sha256",
           image["sha256"].upper())

    text = binding.read_text(encoding="utf-8")
    assert "<slab:Classification>군사II급비밀<" in text
    forged = tmp_path / "forged.xml"
    forged.write_text(text.replace("<slab:Classification>군사II급비밀<",
                                   "<slab:Classification>군사III급비밀<", 1), encoding="utf-8")
    other = tmp_path / "other.txt"
    other.write_text("two TELs off the apron", encoding="utf-8")
    for args in ((str(forged), "--data", str(data)), (str(binding), "--data", str(other))):
        refused = kor.run("kim", "labels", "verify", *args, "--signer", "KOR")
        assert refused.returncode == 1, refused.stdout
        assert "binding rejected" in refused.stderr and "verified" not in refused.stdout

    both = kor.run("kim", "labels", "verify", str(binding), "--signer", "KOR")
    assert both.returncode == 2 and "--data" in both.stderr  # neither --data nor --sha256


def test_the_word_list_is_set_and_a_release_request_is_checked(kor: Node,
                                                              tmp_path: Path) -> None:
    words = tmp_path / "words.yaml"
    words.write_text("terms:\n  - {term: HAMMER RIDGE, severity: warn, note: operation "
                     "name}\n  - GOLDEN FALCON\n", encoding="utf-8")
    assert "word list replaced: 2 term(s)" in kor.ok("admin", "content-check", "words",
                                                     "--set", str(words))
    shown = kor.ok("lee", "content-check", "words")
    assert "HAMMER RIDGE" in shown and "operation name" in shown and "GOLDEN FALCON" in shown
    refused = kor.run("lee", "content-check", "words", "--set", str(words))
    assert refused.returncode == 1 and "error:" in refused.stderr  # admin only

    lee = kor.token("lee")
    held = {**ITEM, "id": "R-HOLD", "portions": [
        {"id": "p1", "content": "TEL sighted near Hammer Ridge (I) per source",
         "label": label("군사II급비밀", rel_to=["JPN", "USA"])}]}
    for item in (ITEM, held):
        kor.proc.call("POST", "/api/items", kor.token("kim"), json=item)
    ids = {item["id"]: kor.proc.call("POST", "/api/releases", lee, json={
        "item_id": item["id"], "recipient": "JPN", "purpose": "early warning"})["id"]
        for item in (ITEM, held)}
    found = kor.ok("park", "release", "content", ids["R-HOLD"])
    assert "HOLD:" in found and "dirty_word" in found and "marking" in found
    assert "Hammer Ridge" in found
    assert "no hold" in kor.ok("park", "release", "content", ids["R1"])


def test_taxii_collections_and_a_write_only_inbox(kor: Node) -> None:
    """Without partners the node has its launch events (readable here) and its inbox:
    listed, but not readable."""
    listed = json.loads(kor.ok("lee", "taxii", "collections", "--json"))
    assert [(c["title"], c["can_read"], c["can_write"]) for c in listed] == [
        ("Launch events", True, False), ("Inbox", False, True)]
    assert "Inbox" in kor.ok("kim", "taxii", "collections")
    inbox = next(c for c in listed if c["title"] == "Inbox")
    refused = kor.run("kim", "taxii", "objects", inbox["id"])
    assert refused.returncode == 1 and "write-only" in refused.stderr  # TAXII's description
    unknown = kor.run("kim", "taxii", "objects", "no-such-collection")
    assert unknown.returncode == 1 and "no collection" in unknown.stderr


# --- against a scripted node -----------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """A request the scripted node received."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]  # names in lower case


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Scripted:
    """A real HTTP server on a loopback port whose answers a test writes: ``handler``
    answers each request; ``seen`` lists them. The CLI runs as a ``liaison`` process
    against it, as against a node."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.handler: Callable[[Seen], Answer] = lambda r: Answer(404)
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                seen = Seen(url.path, dict(parse_qsl(url.query)),
                            {k.lower(): v for k, v in self.headers.items()})
                scripted.seen.append(seen)
                answer = scripted.handler(seen)
                self.send_response(answer.status)
                for name, value in {"Content-Length": str(len(answer.body)),
                                    **answer.headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def run(self, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "250", "LIAISON_HOME": str(home),
               "LIAISON_URL": self.url, "LIAISON_TOKEN": "t0ken"}
        return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False,
                              env=env, timeout=120)


def json_answer(doc: object) -> Answer:
    return Answer(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    node = Scripted()
    node.thread.start()
    try:
        yield node
    finally:
        node.server.shutdown()
        node.server.server_close()


def test_a_download_whose_hash_differs_is_removed(scripted: Scripted,
                                                  tmp_path: Path) -> None:
    body = b"not what was stored" * 10_000
    scripted.handler = lambda r: Answer(
        200, body, {"X-Content-SHA256": hashlib.sha256(b"other").hexdigest()})
    out = tmp_path / "out"
    out.mkdir()
    target = out / "out.bin"
    target.write_bytes(b"kept as it was")
    result = scripted.run(tmp_path / "home", "attachments", "get", "I1", "p1", "--output",
                          str(target))
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert "SHA-256 mismatch" in said and "removed" in said
    assert target.read_bytes() == b"kept as it was"  # the earlier file is untouched
    assert sorted(p.name for p in out.iterdir()) == ["out.bin"]  # nothing partial
    assert scripted.seen[0].headers["authorization"] == "Bearer t0ken"


def test_taxii_objects_follows_next_until_no_more(scripted: Scripted, tmp_path: Path) -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {"more": True, "next": "2", "objects": [
            {"type": "report", "id": "report--1", "name": "TEL at Sunchon"}]},
        "2": {"more": True, "next": "3", "objects": [
            {"type": "note", "id": "note--1", "content": "TEL sighted " * 20}]},
        "3": {"more": False, "objects": [{"type": "location", "id": "location--1"}]}}
    scripted.handler = lambda r: json_answer(pages[r.params.get("next")])
    home = tmp_path / "home"
    result = scripted.run(home, "taxii", "objects", "c1", "--limit", "1", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [o["id"] for o in json.loads(result.stdout)] == [
        "report--1", "note--1", "location--1"]
    assert [r.params.get("limit") for r in scripted.seen] == ["1", "1", "1"]
    assert all(r.headers["accept"] == "application/taxii+json;version=2.1"
               for r in scripted.seen)
    assert scripted.seen[0].path == "/taxii2/liaison/collections/c1/objects/"

    scripted.seen.clear()
    pages["3"] = {"more": True, "next": "2", "objects": []}  # a node that never ends
    result = scripted.run(home, "taxii", "objects", "c1")
    assert result.returncode == 1 and "no new 'next'" in result.stdout + result.stderr
    assert len(scripted.seen) == 3
