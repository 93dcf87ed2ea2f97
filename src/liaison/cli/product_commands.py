"""Commands over a node's product API: attachments (streamed both ways, hash-checked on the
way down), NATO labels (STANAG 4774 XML, 4778-style bindings and their verification), the
content check (a release request's findings, the word list) and the node's TAXII 2.1
collections. Each prints a table or a line, or the raw JSON with ``--json``."""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from liaison.cli import output as out
from liaison.cli.api_commands import Json, Token, Url
from liaison.cli.client import Api, _message
from liaison.cli.node_commands import fail
from liaison.interop.documents import DocumentError, load_document

CHUNK = 64 * 1024  # bytes read, sent and hashed at a time
TAXII_MEDIA = "application/taxii+json;version=2.1"
TAXII_ROOT = "/taxii2/liaison"
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".tif": "image/tiff", ".tiff": "image/tiff", ".pdf": "application/pdf",
               ".txt": "text/plain"}
OCTET_STREAM = "application/octet-stream"

attachments = typer.Typer(help="Files of portions: streamed upload, hash-checked download.",
                          no_args_is_help=True)
labels = typer.Typer(help="NATO labels: ADatP-4774 XML, ADatP-4778 bindings with an XML "
                      "Signature.",
                     no_args_is_help=True)
content_check = typer.Typer(help="The content check's word list.", no_args_is_help=True)
taxii = typer.Typer(help="This node's TAXII 2.1 collections (STIX 2.1).", no_args_is_help=True)

InFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]


# --- HTTP beyond the JSON client: raw bodies, streamed answers, other headers -------------


def _error(response: httpx.Response) -> str:
    """The node's message: its API error shape, or TAXII's (title, description)."""
    with suppress(ValueError):
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("description"), str):
            return str(body["description"])
    return _message(response)


@contextmanager
def _open(api: Api, method: str, path: str, headers: dict[str, str] | None = None,
          **kw: Any) -> Iterator[httpx.Response]:
    """A streamed answer, with the client's error handling: on an error, print the node's
    message and exit 1."""
    sent = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    try:
        with httpx.stream(method, api.url + path, headers={**sent, **(headers or {})},
                          timeout=60.0, **kw) as response:
            if response.status_code >= 400:
                response.read()
                fail(_error(response))
            yield response
    except httpx.ConnectError:
        fail(f"cannot reach the node at {api.url}: is `liaison serve` running?")
    except httpx.HTTPError as exc:
        fail(f"transfer with the node at {api.url} failed: {exc}")


def _json(api: Api, method: str, path: str, headers: dict[str, str] | None = None,
          **kw: Any) -> Any:
    with _open(api, method, path, headers, **kw) as response:
        response.read()
        try:
            return response.json()
        except ValueError:
            fail(f"the node at {api.url} answered {path} with something other than JSON")


def _chunks(file: Path) -> Iterator[bytes]:
    with file.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(file):
        digest.update(chunk)
    return digest.hexdigest()


# --- attachments -----------------------------------------------------------------------


def media_type_of(file: Path) -> str:
    """The media type the node expects, from the file's extension."""
    return MEDIA_TYPES.get(file.suffix.lower(), OCTET_STREAM)


@attachments.command("upload")
def attachments_upload(file: InFile, media_type: Annotated[str | None, typer.Option(
                           help="image/png, image/jpeg, image/tiff, application/pdf, "
                                "text/plain or application/octet-stream (default: from the "
                                "extension)")] = None,
                       as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Upload a file, streamed; refer to it from a portion by the sha256 printed."""
    media = media_type or media_type_of(file)
    data = _json(Api(url, token), "POST", "/api/attachments", {"Content-Type": media},
                 content=_chunks(file))
    out.emit(data, as_json, lambda d: out.console.print(
        f"uploaded {file.name}: sha256 {d['sha256']}, {d['size']} bytes, {d['media_type']}"))


@attachments.command("get")
def attachments_get(item_id: str, portion_id: str,
                    output: Annotated[Path, typer.Option(
                        "--output", "-o", dir_okay=False, help="the file to write")],
                    as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Download a portion's file, streamed; kept only if its SHA-256 matches the node's."""
    api = Api(url, token)
    part = output.with_name(output.name + ".part")  # the output appears only when checked
    try:
        with _open(api, "GET", f"/api/items/{item_id}/portions/{portion_id}/attachment") as r:
            expected = r.headers.get("X-Content-SHA256", "").strip().lower()
            with part.open("wb") as f:
                for chunk in r.iter_bytes(CHUNK):
                    f.write(chunk)
        if not expected:
            fail(f"the node sent no X-Content-SHA256 for {item_id}/{portion_id}: the file "
                 f"cannot be checked and was not kept")
        got = _sha256(part)  # what was written, read back
        if got != expected:
            fail(f"SHA-256 mismatch for {item_id}/{portion_id}: the node stated {expected}, "
                 f"the file written has {got}; the file was removed")
        size = part.stat().st_size
        part.replace(output)
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    finally:
        part.unlink(missing_ok=True)  # gone already unless something failed
    result = {"item_id": item_id, "portion_id": portion_id, "output": str(output),
              "sha256": got, "size": size}
    out.emit(result, as_json, lambda d: out.console.print(
        f"wrote {d['output']}: {d['size']} bytes, sha256 {d['sha256']} (verified)"))


# --- labels ----------------------------------------------------------------------------


@labels.command("export")
def labels_export(item_id: str, portion_id: str,
                  binding: Annotated[bool, typer.Option(
                      "--binding", help="the binding with this node's XML Signature "
                                        "instead of the unsigned labels")] = False,
                  output: Annotated[Path | None, typer.Option(
                      "--output", "-o", dir_okay=False,
                      help="write to this file (default: stdout)")] = None,
                  url: Url = None, token: Token = None) -> None:
    """A portion's label as STANAG 4774 XML, or its signed binding to the portion's data."""
    kind = "binding" if binding else "label"
    xml = Api(url, token).response(
        "GET", f"/api/items/{item_id}/portions/{portion_id}/{kind}").content
    if output is None:
        sys.stdout.write(xml.decode("utf-8"))
        if not xml.endswith(b"\n"):
            sys.stdout.write("\n")
        return
    try:
        output.write_bytes(xml)
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    out.errors.print(f"{kind} of {item_id}/{portion_id} written to {output}")


@labels.command("verify")
def labels_verify(binding_file: InFile,
                  signer: Annotated[str, typer.Option(
                      help="the party whose node signed the binding, alpha-3")],
                  data: Annotated[Path | None, typer.Option(
                      "--data", exists=True, dir_okay=False, readable=True,
                      help="the data the label is bound to (hashed here)")] = None,
                  sha256: Annotated[str | None, typer.Option(
                      "--sha256", help="or the data's SHA-256, 64 hex digits")] = None,
                  as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Verify a bound label against the signer's pinned certificate (old-form bindings:
    its published keys) and the data's hash."""
    if (data is None) == (sha256 is None):
        raise typer.BadParameter("give either --data FILE or --sha256 HEX (one of them)")
    if sha256 is not None:
        digest = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise typer.BadParameter(f"{sha256!r} is not a SHA-256 (64 hex digits)",
                                     param_hint="--sha256")
    else:
        assert data is not None
        digest = _sha256(data)
    try:
        text = binding_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {binding_file}: {exc}")
    answer = Api(url, token).post("/api/labels/verify", {
        "binding": text, "data_sha256": digest, "signer": signer.upper()})
    out.emit(answer, as_json, lambda d: out.console.print(
        f"[green]verified:[/] {_label(d['label'])}; signed by {signer.upper()}, bound to "
        f"data with SHA-256 {digest}"))


@labels.command("import")
def labels_import(label_file: InFile, as_json: Json = False, url: Url = None,
                  token: Token = None) -> None:
    """Read a STANAG 4774 label (XML): the label and its alternative labels, each checked
    against its policy's scheme by the node. To label a portion with it, give the XML as
    the portion's ``label_xml`` (or a binding as ``bound_label``) when adding the item."""
    try:
        xml = label_file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {label_file}: {exc}")
    answer = Api(url, token).call("POST", "/api/labels/parse", content=xml)
    out.emit(answer, as_json, lambda d: out.console.print("\n".join(
        [f"[green]label:[/] {_label(d['label'])}"
         + (" [yellow](Liaison's old form: legacy)[/]" if d.get("legacy") else ""),
         *(f"  alternative: {_label(a)}" for a in d["alternatives"])])))


def _label(label: dict[str, Any]) -> str:
    extras = [f"policy {label['policy']}", f"originator {label['originator']}"]
    for key, name in (("rel_to", "REL TO"), ("eyes_only", "EYES ONLY"),
                      ("caveats", "caveats"), ("compartments", "compartments")):
        if label.get(key):
            extras.append(f"{name} {', '.join(label[key])}")
    return f"{label['classification']} ({'; '.join(extras)})"


# --- the content check -----------------------------------------------------------------


# `liaison release content`: registered on api_commands' release group in main.py.
def release_content(request_id: str, as_json: Json = False, url: Url = None,
                    token: Token = None) -> None:
    """The content check's findings over a release request's tearline, and whether they
    hold it."""
    data = Api(url, token).get(f"/api/releases/{request_id}/content-check")
    out.emit(data, as_json, _render_check)


def _render_check(c: dict[str, Any]) -> None:
    out.table(f"{len(c['findings'])} finding(s)",
              ["portion", "kind", "severity", "term", "at", "snippet", "reason"],
              [[f["portion"], f["kind"], f["severity"], f["term"], f"{f['start']}–{f['end']}",
                f["snippet"], f["reason"]] for f in c["findings"]])
    if c["hold"]:
        out.console.print(f"[red bold]HOLD:[/] {'; '.join(c['reasons'])}")
    else:
        out.console.print("[green]no hold[/]")


@content_check.command("words")
def content_check_words(set_from: Annotated[Path | None, typer.Option(
                            "--set", exists=True, dir_okay=False, readable=True,
                            help='replace the list from a JSON or YAML file {"terms": [...]} '
                                 "(admin)")] = None,
                        as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Show the word list, or replace it from a file."""
    api = Api(url, token)
    if set_from is None:
        out.emit(api.get("/api/content-check/wordlist"), as_json, _render_words)
        return
    try:
        body = load_document(set_from.read_text(encoding="utf-8"), set_from.name).data
    except (OSError, UnicodeDecodeError, DocumentError) as exc:
        fail(str(exc))
    if not isinstance(body.get("terms"), list):
        fail(f'{set_from}: expected a mapping {{"terms": [...]}} of terms')
    data = api.call("PUT", "/api/content-check/wordlist", json=body)
    out.emit(data, as_json, _render_replaced)


def _render_replaced(d: dict[str, Any]) -> None:
    out.console.print(f"word list replaced: {len(d['terms'])} term(s)")
    _render_words(d)


def _render_words(d: dict[str, Any]) -> None:
    rows = [[t, "hold", ""] if isinstance(t, str) else  # a plain term holds a release
            [t.get("term", ""), t.get("severity", "hold"), t.get("note", "")]
            for t in d["terms"]]
    out.table(f"{len(rows)} term(s)", ["term", "severity", "note"], rows)


# --- TAXII -----------------------------------------------------------------------------


def _taxii(api: Api, path: str, **params: Any) -> Any:
    return _json(api, "GET", TAXII_ROOT + path, {"Accept": TAXII_MEDIA},
                 params={k: v for k, v in params.items() if v is not None})


@taxii.command("collections")
def taxii_collections(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """The collections you may read or write."""
    data = _taxii(Api(url, token), "/collections/")
    out.emit(data.get("collections", []), as_json, lambda d: out.table(
        f"{len(d)} collection(s)", ["id", "title", "read", "write"],
        [[c["id"], c["title"], c["can_read"], c["can_write"]] for c in d]))


@taxii.command("objects")
def taxii_objects(collection_id: str,
                  limit: Annotated[int, typer.Option(
                      min=1, max=1000, help="objects per request; every page is read")] = 100,
                  as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Every object of a collection you may read, page after page."""
    api = Api(url, token)
    path = f"/collections/{collection_id}/objects/"
    objects: list[dict[str, Any]] = []
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        page = _taxii(api, path, limit=limit, next=cursor)
        objects += page.get("objects", [])
        if not page.get("more"):
            break
        cursor = page.get("next")
        if not cursor or cursor in seen:
            fail(f"the node said there is more of {collection_id} but gave no new 'next' "
                 f"to continue from (after {len(objects)} object(s))")
        seen.add(cursor)
    out.emit(objects, as_json, lambda d: out.table(
        f"{len(d)} object(s)", ["type", "id", "name / content"],
        [[o.get("type", ""), o.get("id", ""), _snippet(o)] for o in d]))


def _snippet(o: dict[str, Any], width: int = 60) -> str:
    text = next((str(o[k]) for k in ("name", "content", "description", "value", "pattern")
                 if o.get(k)), "")
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"
