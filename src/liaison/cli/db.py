"""``liaison db``: this node's embedded database: encrypt one from an earlier version."""

from __future__ import annotations

import os

import typer

from liaison.cli.node import settings_for
from liaison.cli.options import DataDir
from liaison.cli.output import console, fail

db = typer.Typer(help="This node's embedded database.", no_args_is_help=True)


@db.command("encrypt")
def db_encrypt(data_dir: DataDir = None) -> None:
    """Encrypt an unencrypted SQLite database from an earlier version in place (SQLCipher's
    sqlcipher_export), with the key in the keys directory (made now if missing) or
    LIAISON_DB_PASSPHRASE. Stop the node first."""
    from liaison.node.composition import at_rest
    from liaison.storage.engine import DatabaseKeyError, encrypt_file

    os.umask(0o077)
    settings = settings_for(data_dir)
    if settings.database_url:
        fail("LIAISON_DATABASE_URL is set: a PostgreSQL database is protected by the "
             "server's disk encryption and TLS (see SECURITY.md), not by this command", 2)
    if settings.db_plaintext:
        fail("LIAISON_DB_PLAINTEXT is set: unset it, then encrypt", 2)
    path = settings.data_dir / "liaison.db"
    if not path.exists():
        fail(f"no database at {path}", 2)
    try:
        encrypt_file(path, at_rest(settings))
    except DatabaseKeyError as exc:
        fail(str(exc), 2)
    how = "LIAISON_DB_PASSPHRASE" if settings.db_passphrase else \
        f"the key in {at_rest(settings).key_file}"
    console.print(f"encrypted {path} with {how}; the unencrypted file was removed (its "
                  f"blocks may remain on the disk: wipe or encrypt the disk too)")
