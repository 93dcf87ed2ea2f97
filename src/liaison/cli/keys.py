"""``liaison keys``: this node's identity fingerprint and keys: show, rotate, revoke, in
the keys directory of the node's data directory (``--data-dir``)."""

from __future__ import annotations

from typing import Annotated

import typer

from liaison.cli.node import settings_for
from liaison.cli.options import DataDir
from liaison.cli.output import console, fail
from liaison.services.context import utc_now

keys = typer.Typer(help="This node's keys.", no_args_is_help=True)


@keys.command("show")
def keys_show(data_dir: DataDir = None) -> None:
    """This node's identity fingerprint and current keys."""
    from liaison.node.composition import load_keys

    ring = load_keys(settings_for(data_dir))
    if ring is None:
        fail("this node has no keys: run `liaison init`", 2)
        return
    now = utc_now()
    console.print(f"identity fingerprint: {ring.fingerprint}")
    for kind in ("signing", "encryption"):
        info = ring.current(kind, now)
        console.print(f"{kind} key {info.id} (created {info.created})")


@keys.command("rotate")
def keys_rotate(data_dir: DataDir = None,
                overlap_days: Annotated[int, typer.Option(help="old keys stay valid this "
                                                          "long")] = 7) -> None:
    """New signing and encryption keys; the old ones stay valid for the overlap.
    Partners pick up the new keys from this node's card."""
    from datetime import timedelta

    from liaison.node.composition import load_keys

    ring = load_keys(settings_for(data_dir))
    if ring is None:
        fail("this node has no keys: run `liaison init`", 2)
        return
    ring.rotate(utc_now(), timedelta(days=overlap_days))
    console.print(f"rotated; old keys expire in {overlap_days} day(s)")


@keys.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key id to revoke")],
                data_dir: DataDir = None) -> None:
    """Revoke a signing or encryption key at once (e.g. after a compromise). Partners stop
    accepting it when they refresh this node's card (`liaison peer add` again)."""
    from liaison.crypto.keys import KeyError_
    from liaison.node.composition import load_keys

    ring = load_keys(settings_for(data_dir))
    if ring is None:
        fail("this node has no keys: run `liaison init`", 2)
        return
    try:
        ring.revoke(key_id)
    except KeyError_ as exc:
        fail(str(exc))
    console.print(f"key {key_id} revoked")
