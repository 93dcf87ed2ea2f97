"""``liaison labels``: NATO labels: STANAG 4774 XML, 4778-style bindings signed by a node,
and their verification against the signer's keys and the data's hash."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import InFile, Json, Token, Url
from liaison.cli.output import fail
from liaison.cli.transfer import sha256_of

labels = typer.Typer(help="NATO labels: ADatP-4774 XML, ADatP-4778 bindings with an XML "
                      "Signature.",
                     no_args_is_help=True)


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
        digest = sha256_of(data)
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
