"""Partners countersign checkpoints of a node's audit log, so a history rewritten on the
node's disk (the chain re-hashed to look intact) is caught across nodes (issue 10.6):
once by the node's own verification against the countersigned roots, once by the
partner refusing the next checkpoint as not extending what it countersigned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from liaison.config import Settings
from liaison.domain.audit import GENESIS, canonical_bytes, chain_hash
from liaison.node.composition import open_storage
from liaison.storage import tables as t

from .node_fixtures import PASSWORD
from .processes import NodeProcess, trusting_pair, wait_for


def states(node: NodeProcess, log_of: str, witness: str) -> dict[int, str]:
    rows: list[dict[str, Any]] = node.call("GET", "/api/audit/checkpoints")
    return {r["size"]: r["state"] for r in rows
            if r["log_of"] == log_of and r["witness"] == witness}


def countersigned(node: NodeProcess, size: int) -> bool:
    return states(node, node.party, "JPN").get(size) == "countersigned"


def rewrite_history(node: NodeProcess, seq: int) -> None:
    """What someone with the node's disk could do: alter one record and re-hash the chain
    after it, so the chain alone still verifies."""
    engine, _ = open_storage(Settings(data_dir=Path(node.data),
                                      database_url=node.database_url))
    try:
        with engine.begin() as conn:
            rows = list(conn.execute(sa.select(t.audit).order_by(t.audit.c.seq)))
            prev = GENESIS if seq == 0 else rows[seq - 1].hash
            for row in rows[seq:]:
                details = dict(row.details)
                if row.seq == seq:
                    details["rewritten"] = True
                digest = chain_hash(prev, canonical_bytes(row.seq, row.at, row.actor,
                                                          row.action, row.subject, details))
                conn.execute(t.audit.update().where(t.audit.c.seq == row.seq).values(
                    details=details, prev_hash=prev, hash=digest))
                prev = digest
    finally:
        engine.dispose()


def test_a_rewritten_history_is_caught_by_the_partner_countersignatures(
        tmp_path: Path) -> None:
    with trusting_pair(tmp_path, "KOR", "JPN") as (kor, jpn):
        first = kor.call("POST", "/api/audit/checkpoints")
        assert first["sent_to"] == ["JPN"]
        wait_for(lambda: countersigned(kor, first["size"]), what="JPN's countersignature")
        assert states(jpn, "KOR", "JPN")[first["size"]] == "countersigned"
        kor.call("POST", "/api/users", json={"username": "kim", "roles": ["analyst"],
                                             "clearance": "군사III급비밀", "password": PASSWORD})
        second = kor.call("POST", "/api/audit/checkpoints")  # proven to extend the first
        wait_for(lambda: countersigned(kor, second["size"]), what="the second one")
        intact = kor.call("GET", "/api/audit/verify")
        assert intact["ok"] and intact["checkpoints"]["countersigned"] == 2, intact

        kor.stop()
        rewrite_history(kor, 2)
        kor.start()
        kor.login()
        after = kor.call("GET", "/api/audit/verify")
        chain_alone_ok = after["first_bad_seq"] is None
        caught_here = not after["ok"] and "rewritten" in after["problem"]

        third = kor.call("POST", "/api/audit/checkpoints")
        wait_for(lambda: states(kor, "KOR", "JPN").get(third["size"]) == "refused",
                 what="JPN refusing the next checkpoint")
        at_jpn = states(jpn, "KOR", "JPN")[third["size"]]
        alarms = [r for r in jpn.call("GET", "/api/audit", params={"limit": 1000})
                  if r["action"] == "audit.checkpoint.inconsistent"]
        caught_there = at_jpn == "inconsistent" and len(alarms) == 1
        caught = int(caught_here) + int(caught_there)
        print(f"\naudit checkpoints: 2 countersigned by JPN; history rewritten at KOR with "
              f"the chain re-hashed (chain alone verifies: {chain_alone_ok}); caught "
              f"{caught} of 2 ways (KOR's verification against countersigned roots; JPN "
              f"refusing the next checkpoint and recording it)")
        assert chain_alone_ok and caught == 2, (after, at_jpn, alarms)
