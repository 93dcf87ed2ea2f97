"""Where this node may deliver a partner's envelopes: its federation address, as its
signed card states it (issue 17, rule 7: https, reached over mutual TLS, nothing else).

Pure: ``federation_address`` returns the address in the one form the transport uses
(``https://host[:port]``, the inbox path appended to it) or raises ``AddressRefused``.
"""

from __future__ import annotations

from urllib.parse import urlsplit


class AddressRefused(ValueError):
    """The address is not one envelopes may be sent to; the text says why."""


def federation_address(address: str) -> str:
    """``https://host[:port]`` with no user, path, query or fragment: the transport
    appends the inbox path itself, so any path would be a place the partner chose."""
    shown = repr(address[:200])
    try:
        parts = urlsplit(address.strip())
        port = parts.port  # raises on a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise AddressRefused(f"{shown} is not an address: {exc}") from exc
    if parts.scheme != "https":
        raise AddressRefused(f"{shown}: envelopes go only over https (mutual TLS), "
                             f"not {parts.scheme or 'no scheme'}")
    if not parts.hostname or "@" in parts.netloc:
        raise AddressRefused(f"{shown}: a host, with no user or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in address \
            or "#" in address:
        raise AddressRefused(f"{shown}: https://host[:port] only, with no path, query or "
                             f"fragment (the inbox path is added here)")
    if port == 0:
        raise AddressRefused(f"{shown}: port 0")
    return f"https://{parts.netloc}"
