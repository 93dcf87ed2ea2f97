"""The ids the node serves: a UUIDv4 for every SDO, SRO and marking-definition, kept in
a map from the key id the mapping derives (a UUIDv5 of the node's own key for the object,
``stix_common.stix_id``). Pure: the map is the caller's (``fresh_ids`` draws new UUIDv4s,
the node keeps them in its store), so an object released again keeps its id and only its
``modified`` moves.

The fixed objects (the project identity, the extension definitions) already have UUIDv4
ids and are left as they are.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from liaison.interop.stix_common import ID_PATTERN, StixObject

IdLookup = Callable[[Sequence[str]], Mapping[str, str]]


def key_ids(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ids among ``objects`` that are not UUIDv4 yet, in order, once each."""
    out: list[str] = []
    for obj in objects:
        object_id = str(obj.get("id", ""))
        if _needs_v4(object_id) and object_id not in out:
            out.append(object_id)
    return out


def _needs_v4(object_id: str) -> bool:
    match = ID_PATTERN.match(object_id)
    if match is None or match.group(1) == "bundle":
        return False
    try:
        return uuid.UUID(match.group(2)).version != 4
    except ValueError:
        return False


def new_id(key_id: str) -> str:
    """A fresh UUIDv4 id of the same type as ``key_id``."""
    return f"{key_id.partition('--')[0]}--{uuid.uuid4()}"


def fresh_ids(keys: Sequence[str]) -> dict[str, str]:
    """A new map (for a bundle made outside a node, e.g. in tests or a one-off export)."""
    return {k: new_id(k) for k in keys}


def with_ids(objects: Sequence[StixObject], lookup: IdLookup) -> list[StixObject]:
    """``objects`` (copies) with every key id, and every reference to one, replaced by its
    UUIDv4 from ``lookup`` (called once with all the key ids)."""
    mapping = lookup(key_ids(objects))
    return [_renamed(obj, mapping) for obj in objects]


def _renamed(obj: StixObject, mapping: Mapping[str, str]) -> StixObject:
    out = copy.deepcopy(obj)
    for name, value in out.items():
        if name == "id" or name.endswith("_ref"):
            if isinstance(value, str):
                out[name] = mapping.get(value, value)
        elif name.endswith("_refs") and isinstance(value, list):
            out[name] = [mapping.get(v, v) if isinstance(v, str) else v for v in value]
    for granular in out.get("granular_markings", []) or []:
        if isinstance(granular, dict) and isinstance(granular.get("marking_ref"), str):
            granular["marking_ref"] = mapping.get(granular["marking_ref"],
                                                  granular["marking_ref"])
    return out
