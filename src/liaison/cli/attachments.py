"""``liaison attachments``: files of portions, streamed both ways; a download is kept only
when its SHA-256 matches the one the node states."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import InFile, Json, Token, Url
from liaison.cli.output import fail
from liaison.cli.transfer import CHUNK, call_json, file_chunks, open_stream, sha256_of

MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".tif": "image/tiff", ".tiff": "image/tiff", ".pdf": "application/pdf",
               ".txt": "text/plain"}


OCTET_STREAM = "application/octet-stream"


attachments = typer.Typer(help="Files of portions: streamed upload, hash-checked download.",
                          no_args_is_help=True)


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
    data = call_json(Api(url, token), "POST", "/api/attachments", {"Content-Type": media},
                 content=file_chunks(file))
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
        with open_stream(api, "GET", f"/api/items/{item_id}/portions/{portion_id}/attachment") as r:
            expected = r.headers.get("X-Content-SHA256", "").strip().lower()
            with part.open("wb") as f:
                for chunk in r.iter_bytes(CHUNK):
                    f.write(chunk)
        if not expected:
            fail(f"the node sent no X-Content-SHA256 for {item_id}/{portion_id}: the file "
                 f"cannot be checked and was not kept")
        got = sha256_of(part)  # what was written, read back
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
