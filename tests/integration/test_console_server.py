"""What the node's HTTP layer adds for the web console, checked in-process: security
headers on every answer, the console's Content-Security-Policy, attachment downloads that
a browser never renders as a page, gzip and caching of the console's files, and API docs
served without the internet."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from liaison.api.app import ATTACHMENT_CSP, CONSOLE_CSP, DOCUMENT_CSP
from liaison.config import Settings
from tests.samples import image_item, label, png

from .node_fixtures import NodeUnderTest, start_node

EVERY = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
         "x-frame-options": "DENY"}
STATIC = Path(__file__).parents[2] / "src" / "liaison" / "web" / "static"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeUnderTest]:
    yield from start_node(Settings(data_dir=tmp_path_factory.mktemp("console") / "node"))


def has_every(r: httpx.Response) -> None:
    for name, value in EVERY.items():
        assert r.headers.get(name) == value, (str(r.url), name)


def test_console_pages_carry_the_policy_and_every_answer_the_headers(
        node: NodeUnderTest) -> None:
    client = node.client
    for path in ("/console/", "/console/index.html", "/console/items.html",
                 "/console/console.js", "/console/hotline.html", "/console/no-such-page"):
        r = client.get(path)
        has_every(r)
        assert r.headers["content-security-policy"] == CONSOLE_CSP, path
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/console/"
    assert root.headers["content-security-policy"] == CONSOLE_CSP
    has_every(root)
    for r in (client.get("/api/health"), client.get("/api/me"),
              node.get("kim", "/api/items"), client.get("/api/openapi.json"),
              client.post("/api/auth/login", json={"username": "kim", "password": "no"})):
        has_every(r)
        assert "content-security-policy" not in r.headers, str(r.url)
    assert client.get("/api/me").status_code == 401
    r = node.post("admin", "/api/hotline", json={"agreement_id": "KOR-CHN-HOTLINE-MOU",
                                                 "times": ["09:00"], "tz": "Asia/Seoul"})
    assert r.status_code == 201, r.text
    transcript = node.get("admin", "/api/hotline/KOR-CHN-HOTLINE-MOU/transcript",
                          params={"format": "html"})
    assert transcript.status_code == 200
    assert transcript.headers["content-security-policy"] == DOCUMENT_CSP
    has_every(transcript)


def test_a_crash_answer_carries_the_headers_too(node: NodeUnderTest) -> None:
    app = node.client.app

    def crash() -> None:
        raise RuntimeError("boom")

    app.router.add_api_route("/api/test-crash", crash)  # type: ignore[attr-defined]
    try:
        r = TestClient(app, raise_server_exceptions=False).get("/api/test-crash")
        assert r.status_code == 500
        has_every(r)
    finally:
        app.router.routes.pop()  # type: ignore[attr-defined]


def test_no_page_of_the_console_has_inline_script_or_handlers() -> None:
    for page in STATIC.glob("*.html"):
        text = page.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{page.name}: inline script {tag}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{page.name}: inline event handler"
        assert "javascript:" not in text.lower(), page.name
    for script in STATIC.glob("*.js"):
        text = script.read_text()
        assert "javascript:" not in text.lower(), script.name
        assert not re.search(r"""[\s"'`]on[a-z]+=["'\\]""", text), script.name


def upload(node: NodeUnderTest, data: bytes, media_type: str) -> str:
    r = node.client.post("/api/attachments", content=data, headers={
        **node.as_("kim"), "Content-Type": media_type})
    assert r.status_code == 201, r.text
    return str(r.json()["sha256"])


def test_attachments_download_as_files_and_images_inline(node: NodeUnderTest) -> None:
    picture = png()
    item = image_item(upload(node, picture, "image/png"))
    page = b"<html><script>alert(1)</script></html>" * 64
    item["portions"].append({"id": "p3", "content": "a page", "label": label(),
                             "attachment": {"sha256": upload(node, page, "text/plain"),
                                            "size": 0, "media_type": "text/plain"}})
    assert node.post("kim", "/api/items", json=item).status_code == 201
    for portion, body, disposition in (("p2", picture, "inline"), ("p3", page, "attachment")):
        r = node.client.get(f"/api/items/IMG1/portions/{portion}/attachment",
                            headers={**node.as_("kim"), "Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.content == body
        has_every(r)
        assert r.headers["content-disposition"] == disposition
        assert r.headers["content-security-policy"] == ATTACHMENT_CSP
        assert "content-encoding" not in r.headers  # streamed as stored, never re-encoded
        assert r.headers["content-length"] == str(len(body))
    refused = node.get("jung", "/api/items/IMG1/portions/p3/attachment")
    assert refused.status_code >= 400 and "content-disposition" not in refused.headers
    has_every(refused)


def raw_get(client: TestClient, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The answer and its body as sent: not decoded, whatever its Content-Encoding."""
    with client.stream("GET", path, headers=headers) as r:
        return r, b"".join(r.iter_raw())


def test_console_files_are_gzipped_and_cached(node: NodeUnderTest) -> None:
    client = node.client
    js, body = raw_get(client, "/console/console.js", **{"Accept-Encoding": "gzip"})
    assert js.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == (STATIC / "console.js").read_bytes()
    assert js.headers["cache-control"] == "no-cache"
    plain, _ = raw_get(client, "/console/console.js", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    vendor, body = raw_get(client, "/console/vendor/leaflet/leaflet.js",
                     **{"Accept-Encoding": "gzip"})
    assert vendor.headers["cache-control"] == "public, max-age=86400, immutable"
    assert vendor.headers["content-encoding"] == "gzip"
    assert len(body) < (STATIC / "vendor/leaflet/leaflet.js").stat().st_size / 2
    missing = client.get("/console/vendor/no-such-file.js")
    assert missing.status_code == 404 and "immutable" not in missing.headers["cache-control"]
    page, _ = raw_get(client, "/console/items.html", **{"Accept-Encoding": "gzip"})
    assert page.headers["cache-control"] == "no-cache"
    api, _ = raw_get(client, "/api/items", **node.as_("kim"), **{"Accept-Encoding": "gzip"})
    assert "content-encoding" not in api.headers  # API answers are never compressed


def test_api_docs_are_served_from_the_node_itself(node: NodeUnderTest) -> None:
    client = node.client
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONSOLE_CSP
    assert not re.search(r"https?:|//", page.text)  # nothing from another host
    scripts = re.findall(r'<script src="([^"]+)"></script>', page.text)
    assert len(scripts) == page.text.count("<script") == 2  # no inline script
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)">', page.text)
    for path in [*scripts, *styles]:
        r = client.get(path)
        assert r.status_code == 200 and len(r.content) > 100, path
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200 and spec.json()["info"]["title"].startswith("Liaison")
    assert "/api/docs" not in spec.json()["paths"]
