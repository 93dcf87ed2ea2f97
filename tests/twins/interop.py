"""Twin of the ``interop`` port: the TAXII collections."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from liaison.domain.labels import topic_in
from liaison.services.ports.interop import TaxiiObject, TaxiiQuery
from tests.twins.state import MemoryState


class MemoryTaxii:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def add(self, collection: str, objects: Sequence[TaxiiObject], at: datetime) -> int:
        have = {(c, o.data["id"], o.version) for c, _, _, o in self.s.taxii}
        added = 0
        for o in objects:
            if (collection, o.data["id"], o.version) not in have:
                have.add((collection, o.data["id"], o.version))
                self.s.taxii.append((collection, len(self.s.taxii) + 1, at, o))
                added += 1
        return added

    def page(self, q: TaxiiQuery) -> list[tuple[int, datetime, TaxiiObject]]:
        rows = [(seq, at, o) for c, seq, at, o in self.s.taxii if c == q.collection]
        versions: dict[str, list[str]] = {}
        for _, _, o in rows:
            versions.setdefault(o.data["id"], []).append(o.version)

        def wanted(seq: int, at: datetime, o: TaxiiObject) -> bool:
            vis, mine = q.visibility, versions[o.data["id"]]
            return (seq > q.after_seq
                    and (vis is None or (o.rank <= vis.max_rank
                                         and o.compartments in vis.compartment_sets
                                         and (vis.topics is None or o.topic == ""
                                              or topic_in(o.topic, vis.topics))))
                    and (q.added_after is None or at > q.added_after)
                    and (not q.ids or o.data["id"] in q.ids)
                    and (not q.types or o.data["type"] in q.types)
                    and (q.versions == "all"
                         or (q.versions == "last" and o.version == max(mine))
                         or (q.versions == "first" and o.version == min(mine))
                         or o.version in q.versions.split(",")))
        return [(seq, at, replace(o, raw=json.dumps(dict(o.data))))
                for seq, at, o in rows if wanted(seq, at, o)][:q.limit + 1]

    def put_status(self, status_id: str, data: Mapping[str, Any], at: datetime) -> None:
        self.s.taxii_status[status_id] = dict(data)

    def status(self, status_id: str) -> dict[str, Any] | None:
        found = self.s.taxii_status.get(status_id)
        return dict(found) if found else None
