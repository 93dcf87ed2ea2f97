"""Files named on the command line, read for a command's request body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from liaison.cli.output import fail
from liaison.interop.documents import DocumentError, load_document


def read_document(file: Path) -> dict[str, Any]:
    """A JSON or YAML mapping from a file named on the command line; on an unreadable or
    malformed file, print why and exit 1."""
    try:
        data: dict[str, Any] = load_document(file.read_text(encoding="utf-8"), file.name).data
    except (OSError, DocumentError) as exc:
        fail(str(exc))
    return data
